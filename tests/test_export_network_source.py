import builtins
import inspect

import pytest
import torch

from dacapo_flow.config.architectures import CNNectomeUNetConfig
from dacapo_flow.config.tasks import AffinitiesTaskConfig, OneHotTaskConfig
from dacapo_flow.export.network_source import network_source
from dacapo_flow.export.selected import load_selected
from dacapo_flow.factory import create_architecture, create_task
from dacapo_flow.nn.head import prediction_head
from helpers_export import write_selected

ARCH = {
    "input_shape": [20, 20, 20],
    "fmaps_in": 1,
    "fmaps_out": 3,
    "num_fmaps": 3,
    "fmap_inc_factor": 2,
    "downsample_factors": [[2, 2, 2]],
    "upsample_factors": [[2, 2, 2]],
}


def load(block_funlib=False):
    namespace = {"__name__": "packaged_network"}
    real_import = builtins.__import__

    def guarded(name, *args, **kwargs):
        if block_funlib and name.startswith("funlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    builtins.__import__ = guarded
    try:
        # What bioimageio.core does with the packaged file: run it as a module.
        exec(compile(network_source(), "network_source.py", "exec"), namespace)  # noqa: S102
    finally:
        builtins.__import__ = real_import
    return namespace["dacapo_flow_model"]


def test_packaged_network_equals_the_library_model_with_and_without_funlib():
    task = create_task(AffinitiesTaskConfig(neighborhood=[[1, 0, 0], [0, 1, 0]]), {})
    torch.manual_seed(0)
    ours = task.create_model(create_architecture(CNNectomeUNetConfig(**ARCH))).eval()
    x = torch.rand(1, 1, 20, 20, 20)
    for block in (False, True):
        packaged = load(block)(ARCH, {"channels": 2, "kernel_size": 1, "activation": "sigmoid"})
        packaged.load_state_dict(ours.state_dict())
        assert list(packaged.state_dict()) == list(ours.state_dict())
        with torch.no_grad():
            assert torch.equal(packaged.eval()(x), ours(x))
        assert tuple(packaged.output_shape) == tuple(ours.output_shape)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("section_axis", [None, 0, 2])
def test_the_packaged_head_is_the_head_create_model_builds(section_axis, padding):
    """A wider-than-1 head on a section-wise network stays in-plane in both (kernel 1, no
    padding across sections); the packaged file copies the builder, so they cannot diverge."""
    arch = {**ARCH, "padding": padding}
    if section_axis is not None:
        arch.update(
            input_shape=[20, 20],
            downsample_factors=[[2, 2]],
            upsample_factors=[],
            section_axis=section_axis,
        )
    config = OneHotTaskConfig(classes=["a", "b", "c"], kernel_size=3)
    task = create_task(config, {"a": [1], "b": [2]})
    torch.manual_seed(0)
    ours = task.create_model(create_architecture(CNNectomeUNetConfig(**arch))).eval()
    head = {"channels": 3, "kernel_size": 3, "activation": "softmax"}
    packaged = load()(arch, head).eval()
    assert repr(packaged.prediction_head) == repr(ours.prediction_head)
    if section_axis is not None:
        assert ours.prediction_head.kernel_size[section_axis] == 1
    packaged.load_state_dict(ours.state_dict())
    x = torch.rand(1, 1, *[4 if a == section_axis else 20 for a in range(3)])
    with torch.no_grad():
        assert torch.equal(packaged(x), ours(x))


def test_a_section_wise_runs_export_builds_the_head_of_its_model(tmp_path):
    """Through the export: the architecture and head a package's rdf.yaml passes to the
    packaged `dacapo_flow_model` rebuild the selected model, head included."""
    task_config = {"type": "one_hot", "classes": ["mito", "er"], "kernel_size": 3}
    paths = write_selected(tmp_path, section_axis=0, task_config=task_config)
    selected = load_selected(**paths)
    architecture = selected.run_config.architecture_config.model_dump(exclude={"type"})
    packaged = load()(architecture, selected.head).eval()
    ours = selected.model
    assert inspect.getsource(prediction_head) in network_source()  # copied, not rewritten
    assert repr(packaged.prediction_head) == repr(ours.prediction_head)
    assert ours.prediction_head.kernel_size == (1, 3, 3)
    shapes = {key: tuple(value.shape) for key, value in ours.state_dict().items()}
    assert {key: tuple(value.shape) for key, value in packaged.state_dict().items()} == shapes
    packaged.load_state_dict(ours.state_dict())
    x = torch.rand(1, 1, 3, 28, 28)
    with torch.no_grad():
        assert torch.equal(packaged(x), ours(x))

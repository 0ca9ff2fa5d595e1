import builtins

import torch

from dacapo_flow.config.architectures import CNNectomeUNetConfig
from dacapo_flow.config.tasks import AffinitiesTaskConfig
from dacapo_flow.export.network_source import network_source
from dacapo_flow.factory import create_architecture, create_task

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

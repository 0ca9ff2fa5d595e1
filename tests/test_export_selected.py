import pytest
import torch

from dacapo_flow.export.selected import input_sizes, load_selected
from helpers_export import VOXEL_SIZE, write_selected


@pytest.fixture(scope="module")
def selected(tmp_path_factory):
    paths = write_selected(tmp_path_factory.mktemp("selected"))
    return load_selected(**{k: v for k, v in paths.items()}, upstream="pretrain")


def test_geometry_of_the_valid_unet(selected):
    arch = selected.model.architecture
    assert tuple(selected.voxel_size) == VOXEL_SIZE == tuple(selected.output_voxel_size)
    assert tuple(selected.input_step) == (2, 2, 2)
    # The smallest input gives a non-empty output, one step less is refused.
    assert min(arch.output_shape_for(selected.min_input_shape)) >= 1
    with pytest.raises(ValueError):
        arch.output_shape_for([s - 1 for s in selected.min_input_shape])
    for k in range(3):
        shape = [m + k * s for m, s in zip(selected.min_input_shape, selected.input_step)]
        out = arch.output_shape_for(shape)
        assert [o - i for o, i in zip(out, shape)] == selected.output_offset


def test_weights_raw_range_and_provenance(selected):
    assert not selected.model.training
    assert selected.raw_range == (0.0, 255.0)  # uint8 raw without min/max in the config
    assert selected.head == {"channels": 2, "kernel_size": 1, "activation": None}
    assert selected.provenance["criterion"] == "mito__dice"
    assert selected.provenance["iteration"] == 10
    assert selected.provenance["upstream_run"] == "pretrain"
    assert selected.provenance["post_processing"] == {"threshold": 0.0}


def test_input_sizes_of_two_levels_of_pooling():
    from dacapo_flow.nn.unet import CNNectomeUNet

    arch = CNNectomeUNet([76] * 3, 1, 12, 12, 2, [[2, 2, 2]] * 2)
    minimum, step = input_sizes(arch)
    assert tuple(minimum) == (44, 44, 44) and tuple(step) == (4, 4, 4)
    assert torch.Size(arch.output_shape_for(minimum)) == torch.Size([4, 4, 4])


def test_export_subcommand_writes_the_requested_files(tmp_path):
    from dacapo_flow.cli import build_parser

    paths = write_selected(tmp_path / "run")
    parser = build_parser()
    argv = ["export", "--run-config", str(paths["run_config"]), "--weights", str(paths["weights"])]
    argv += ["--best", str(paths["best"]), "--bioimageio-zip", str(tmp_path / "out/model.zip")]
    argv += ["--cellmap-flow", str(tmp_path / "out/flow.py"), "--author", "A. Person"]
    args = parser.parse_args(argv)
    args.func(args)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "flow.py",
        "flow_weights.pt",
        "model.zip",
    ]

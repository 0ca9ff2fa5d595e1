import json
import zipfile

import pytest
import torch
import yaml

from dacapo_flow.data.arrays import open_array
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
    argv += ["--license", "MIT", "--cite", "A paper", "https://example.org/paper"]
    args = parser.parse_args(argv)
    args.func(args)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "flow.py",
        "flow_weights.pt",
        "model.zip",
    ]
    with zipfile.ZipFile(tmp_path / "out/model.zip") as package:
        rdf = yaml.safe_load(package.read("rdf.yaml"))
    assert rdf["license"] == "MIT" and rdf["authors"] == [{"name": "A. Person"}]
    assert rdf["cite"][0] == {"text": "A paper", "url": "https://example.org/paper"}


def test_percentiles_come_from_the_selection_datasets_record_as_validation_read_them(tmp_path):
    from dacapo_flow.data.intensity import percentile_range, recorded_range

    paths = write_selected(tmp_path / "run", percentiles=[1.0, 99.0])
    computed = load_selected(**paths)
    validate = computed.selection_config.raw
    expected = percentile_range(open_array(validate.path, validate.dataset), 1.0, 99.0)
    assert computed.raw_range == expected  # the validation raw's range, not the training raw's
    train = computed.run_config.datasplit_config.train_configs[0].raw
    assert percentile_range(open_array(train.path, train.dataset), 1.0, 99.0) != expected
    assert computed.normalisation["percentiles"] == [1.0, 99.0]

    # The run's record is what training and validation read: the export reads it too.
    record = tmp_path / "validate.json"
    recorded_range(open_array(validate.path, validate.dataset), [1.0, 99.0], record)
    stored = json.loads(record.read_text())
    record.write_text(json.dumps({**stored, "min": 10.0, "max": 20.0}))
    assert load_selected(**paths, normalisation=record).raw_range == (10.0, 20.0)
    # A record of other percentiles is not used, and never rewritten by an export.
    record.write_text(json.dumps({**stored, "percentiles": [2.0, 98.0], "min": 10.0}))
    before = record.read_bytes()
    assert load_selected(**paths, normalisation=record).raw_range == expected
    assert record.read_bytes() == before


def test_a_best_record_of_an_unknown_dataset_is_refused_naming_the_file(tmp_path):
    paths = write_selected(tmp_path / "run")
    best = json.loads(paths["best"].read_text())
    paths["best"].write_text(json.dumps({**best, "dataset": "elsewhere"}))
    with pytest.raises(ValueError, match=r"mito__dice.json.*'elsewhere'.*\['validate'\]"):
        load_selected(**paths)

"""A prediction target against its opened input array and the run's training raw."""

from dacapo_flow.config.run_config import RunConfig
from dacapo_flow.data.arrays import open_array, write_array
from dacapo_flow.predict.input_checks import normalisation_problems, verify_input
from helpers_predict import prediction_target
from helpers_tiny import run_config_dict


def test_verify_input(tmp_path):
    import numpy as np

    path = tmp_path / "v.zarr"
    write_array(path, "raw", np.zeros((10, 10, 10), np.uint8), (4, 4, 4), (8, 0, 0))
    array = open_array(path, prediction_target().input.dataset)
    assert verify_input(prediction_target(), array) == []
    inside = {"offset": [8, 0, 0], "shape": [40, 40, 40]}
    assert verify_input(prediction_target(roi=inside), array) == []
    outside = verify_input(
        prediction_target(roi={"offset": [0, 0, 0], "shape": [40, 40, 40]}), array
    )
    assert any("not inside" in p for p in outside)
    off_grid = verify_input(
        prediction_target(roi={"offset": [10, 0, 0], "shape": [8, 8, 8]}), array
    )
    assert any("voxel grid" in p for p in off_grid)


def test_an_input_at_default_normalisation_must_match_the_runs_training_raw(data, tmp_path):
    import numpy as np

    def trained_on(**normalisation) -> RunConfig:
        config = run_config_dict(data)
        for dataset in config["datasplit_config"]["train_configs"]:
            dataset["raw"] = {"path": dataset["raw"]["path"], "dataset": "raw", **normalisation}
        return RunConfig.model_validate(config)

    path = tmp_path / "v.zarr"
    for dtype in (np.uint8, np.uint16):
        write_array(path, dtype.__name__, np.zeros((4, 4, 4), dtype), (4, 4, 4), (0, 0, 0))

    def problems(run, dataset, **normalisation):
        given = prediction_target(input={"path": str(path), "dataset": dataset, **normalisation})
        return normalisation_problems(given, open_array(given.input.path, given.input.dataset), run)

    by_dtype = trained_on()  # the tiny data's raw is uint8: 0..255
    assert problems(by_dtype, "uint8") == []
    [message] = problems(by_dtype, "uint16")
    assert "v.zarr/uint16 (uint16)" in message and "[0, 65535]" in message
    assert "raw [0, 255] (uint8)" in message and "input.min and input.max" in message
    assert problems(by_dtype, "uint16", min=0, max=4095) == []  # the user's explicit choice
    assert problems(by_dtype, "uint16", percentiles=[1, 99]) == []
    [message] = problems(trained_on(min=127.5, max=255), "uint8")
    assert "raw [127.5, 255] (uint8)" in message
    [message] = problems(trained_on(percentiles=[0.5, 99.5]), "uint8")
    assert "input.percentiles: [0.5, 99.5]" in message

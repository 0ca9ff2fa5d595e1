"""Report pictures of the data: a validation section as the selected model segments it, and
a prediction target's section from its outputs; byte-stable across re-renders."""

import numpy as np
from matplotlib.image import imread

from dacapo_flow.config.loading import load_run_config
from dacapo_flow.predict.output import open_level
from dacapo_flow.predict.plan import SEGMENTATION, SegmentationSpec
from dacapo_flow.report.sections import prediction_preview, validation_picture
from helpers_predict import hand_plan, store_prediction, write_model, write_raw


def panels_drawn(png, panels: int) -> list[float]:
    """The spread of pixel values in each of `panels` equal-width columns of the picture
    (a drawn image panel is not uniform)."""
    image = imread(png)[..., :3]
    columns = np.array_split(image[image.shape[0] // 4 : -image.shape[0] // 8], panels, axis=1)
    return [float(column.std()) for column in columns]


def test_a_validation_picture_shows_raw_prediction_segmentation_and_truth(data, tmp_path):
    model = write_model(tmp_path / "store", data, "distance")
    config = load_run_config(model["run_config"])
    pngs = [tmp_path / f"{attempt}.png" for attempt in "ab"]
    for png in pngs:
        validation_picture(config, model["best"], model["weights"], "validate_0", png)
    assert pngs[0].read_bytes() == pngs[1].read_bytes()
    assert min(panels_drawn(pngs[0], 4)) > 0.01


def test_a_prediction_preview_reads_the_outputs(tmp_path):
    raw = write_raw(tmp_path / "raw.zarr")
    spec = SegmentationSpec("distance", {"threshold": 0.0}, 1, "uint64")
    plan = hand_plan(tmp_path / "o.zarr", spec, 2, roi_shape=(10, 30, 30))
    plan.target["input"] = {"path": str(raw), "dataset": "raw"}
    prepared = plan.write(tmp_path / "prepared.json")
    rng = np.random.default_rng(0)
    store_prediction(plan, rng.random((2, 10, 30, 30), dtype=np.float32))
    labels = rng.integers(0, 5, (1, 10, 30, 30)).astype(np.uint64)
    open_level(plan, SEGMENTATION).write(plan.roi, labels)
    png = prediction_preview(prepared, tmp_path / "p.png")
    assert min(panels_drawn(png, 3)) > 0.01


def test_the_picture_shows_what_validation_segments_around_the_scored_box():
    # One annotated section's right half, segmented with the whole section around it: the
    # picture draws the whole section, from a slab of up to SLAB sections either side.
    from funlib.geometry import Coordinate, Roi

    from dacapo_flow.report.sections import SLAB, picture_section

    voxel = Coordinate(40, 8, 8)
    scored = Roi((400, 0, 2496), (40, 5000, 2504))
    region = Roi((0, 0, 0), (1000, 5000, 5000))
    section, slab = picture_section(scored, region, voxel)
    assert section == Roi((400, 0, 0), (40, 5000, 5000))
    assert slab == Roi((400 - SLAB * 40, 0, 0), ((2 * SLAB + 1) * 40, 5000, 5000))
    alone, slab = picture_section(scored, scored, voxel)
    assert alone == slab == scored

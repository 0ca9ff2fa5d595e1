"""`dacapo-flow view`: a local neuroglancer viewer of a prediction target that headless
Chromium really draws (raw, prediction and segmentation layers), and a static state for
when no server is wanted."""

import json
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.image import imread

from browser import require_chromium, screenshot_live
from helpers_view import predicted_workdir

SOFTWARE_GL = (
    "--use-gl=angle",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
)


def start_view(workdir):
    command = [sys.executable, "-m", "dacapo_flow.cli", "view", "hand", "--seconds", "300"]
    process = subprocess.Popen(command, cwd=workdir, stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    assert line.startswith("neuroglancer: http://127.0.0.1:"), line
    return process, line.split(": ", 1)[1].strip(), process.stdout.readline()


def drawn(shot) -> tuple[int, float]:
    """Distinct colours and mean saturation in the middle of the main (x-y) panel, top left
    below the layer bar, where the volume lies."""
    image = imread(shot)[..., :3]
    height, width = image.shape[:2]
    panel = image[int(0.15 * height) : int(0.4 * height), int(0.2 * width) : int(0.3 * width)]
    colours = np.unique((panel * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    return len(colours), float((panel.max(axis=-1) - panel.min(axis=-1)).mean())


@pytest.mark.slow  # a real browser draws the page
def test_view_serves_a_page_that_draws_raw_prediction_and_segmentation(tmp_path):
    require_chromium()
    workdir = predicted_workdir(tmp_path / "work")
    process, url, layers = start_view(workdir)
    try:
        assert layers.startswith("layers: raw, prediction, segmentation")
        for attempt in range(4):  # software WebGL on a busy machine can take a while
            shot = screenshot_live(url, tmp_path / f"view{attempt}.png", 15, flags=SOFTWARE_GL)
            colours, saturation = drawn(shot)
            if colours > 50 and saturation > 0.05:
                break
    finally:
        process.kill()
        process.wait()
    print(f"view screenshot: {shot}")
    # raw (grey noise) under prediction (a gradient) under coloured segments
    assert colours > 50, "the x-y panel is (nearly) uniform: no layer drawn"
    assert saturation > 0.05, "no colour: the prediction and segmentation are not drawn"


def test_a_static_state_reads_every_layer_in_world_units(tmp_path):
    workdir = predicted_workdir(tmp_path / "work")
    command = [sys.executable, "-m", "dacapo_flow.cli", "view", "hand", "--state", "ng.json"]
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, check=True)
    assert "link: https://neuroglancer-demo.appspot.com/#!" in done.stdout
    state = json.loads((workdir / "ng.json").read_text())
    assert state["dimensions"] == {"x": [4e-9, "m"], "y": [4e-9, "m"], "z": [4e-9, "m"]}
    layers = {layer["name"]: layer for layer in state["layers"]}
    assert [layers[n]["type"] for n in layers] == ["image", "image", "segmentation"]
    base = "zarr://http://127.0.0.1:8000/"
    assert layers["raw"]["source"]["url"] == base + "data/raw.zarr/raw"
    prediction = layers["prediction"]["source"]
    assert prediction["url"] == base + "results/store/predictions/hand/output.zarr/prediction/s0"
    assert prediction["transform"]["matrix"][1][-1] == 40 / 4  # z offset 40 nm, in voxels
    assert "emitRGB" in layers["prediction"]["shader"]

import os
import shutil
import subprocess
import zipfile

import numpy as np
import pytest
import yaml
from funlib.geometry import Roi

from dacapo_flow.export.bioimageio import cite_entry, package_files, write_bioimageio_package
from dacapo_flow.export.selected import load_selected
from helpers_export import write_selected


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    root = tmp_path_factory.mktemp("bioimageio")
    selected = load_selected(**write_selected(root / "run"))
    write_bioimageio_package(
        selected,
        folder=root / "pkg",
        zip_path=root / "pkg.zip",
        authors=["A. Person"],
        cite=[cite_entry("A paper", "10.1000/xyz")],
    )
    return root, selected


def test_package_describes_axes_sizes_and_provenance(package):
    root, selected = package
    rdf = yaml.safe_load((root / "pkg/rdf.yaml").read_text())
    z_in, y_in = rdf["inputs"][0]["axes"][2:4]
    assert (z_in["id"], z_in["scale"], z_in["unit"]) == ("z", 8.0, "nanometer")
    assert y_in["scale"] == 4.0
    assert z_in["size"] == {"min": int(selected.min_input_shape[0]), "step": 2}
    z_out = rdf["outputs"][0]["axes"][2]
    assert z_out["size"] == {
        "tensor_id": "raw",
        "axis_id": "z",
        "offset": selected.output_offset[0],
    }
    assert rdf["outputs"][0]["axes"][1]["channel_names"] == ["mito", "er"]
    config = rdf["config"]["dacapo_flow"]
    assert config["criterion"] == "mito__dice" and config["iteration"] == 10
    assert config["post_processing"] == {"threshold": 0.0}
    assert rdf["authors"] == [{"name": "A. Person"}]
    assert rdf["cite"][0] == {"text": "A paper", "doi": "10.1000/xyz"}
    assert rdf["cite"][1]["text"] == "DaCapo"
    assert rdf["tags"][0] == "3d"
    with zipfile.ZipFile(root / "pkg.zip") as archive:
        assert sorted(archive.namelist()) == sorted(p.name for p in (root / "pkg").iterdir())


def test_test_tensors_are_an_eval_block_of_the_validation_raw_with_varying_outputs(package):
    root, selected = package
    rdf = yaml.safe_load((root / "pkg/rdf.yaml").read_text())
    test_input = np.load(root / "pkg/test_input.npy")
    test_output = np.load(root / "pkg/test_output.npy")
    assert test_input.shape == (1, 1, *selected.model.eval_input_shape)
    assert test_output.shape[:2] == (1, 2) and test_output.std() > 0
    crop = rdf["config"]["dacapo_flow"]["test_crop"]
    raw = selected.selection.raw
    assert crop["raw"] == f"{raw.path}/{raw.dataset}"
    roi = Roi(crop["input_offset"], crop["input_shape"])
    np.testing.assert_array_equal(test_input[0, 0], raw.read(roi).astype(np.float32))
    assert rdf["covers"] == ["cover.png"]
    assert (root / "pkg/cover.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_authors_the_git_user_is_named_and_the_log_says_so(tmp_path, caplog, monkeypatch):
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text("[user]\n\tname = Git User\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.chdir(tmp_path)  # outside any repository's own config
    selected = load_selected(**write_selected(tmp_path / "run"))
    files = package_files(selected)
    assert yaml.safe_load(files["rdf.yaml"])["authors"] == [{"name": "Git User"}]
    assert "no author given" in caplog.text and "--author" in caplog.text


@pytest.fixture(scope="module")
def section_package(tmp_path_factory):
    """A 2D network run section by section along z (serial-section EM)."""
    root = tmp_path_factory.mktemp("bioimageio_sections")
    selected = load_selected(**write_selected(root / "run", section_axis=0))
    write_bioimageio_package(selected, folder=root / "pkg", zip_path=root / "pkg.zip")
    return root, selected


def test_a_section_network_takes_any_number_of_sections(section_package):
    root, _ = section_package
    rdf = yaml.safe_load((root / "pkg/rdf.yaml").read_text())
    z_in, y_in = rdf["inputs"][0]["axes"][2:4]
    assert z_in["size"] == {"min": 1, "step": 1} and y_in["size"]["step"] == 2
    assert rdf["outputs"][0]["axes"][2]["size"]["offset"] == 0  # no context along z
    assert rdf["tags"][0] == "2d"  # the network is 2D, whatever the data


@pytest.mark.skipif(shutil.which("bioimageio") is None, reason="bioimageio.core not installed")
@pytest.mark.slow  # bioimageio.core runs the package
@pytest.mark.parametrize("which", ["package", "section_package"])
def test_bioimageio_test_passes_on_the_zip(which, request, tmp_path):
    root, _ = request.getfixturevalue(which)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    result = subprocess.run(
        ["bioimageio", "test", str(root / "pkg.zip"), "--summary", str(tmp_path / "summary.json")],
        capture_output=True,
        check=False,
        text=True,
        env=env,
        timeout=600,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    summary = (tmp_path / "summary.json").read_text()
    assert '"status": "passed"' in summary

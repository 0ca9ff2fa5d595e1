"""A bioimage.io model package (format 0.5, `pytorch_state_dict` weights) of a selected model.

The package folder holds rdf.yaml, the weights as a plain state dict, the network source
(`network_source.py`), test input/output tensors (one evaluation block of the selection
dataset's raw and the network's output on it, see `sample`), a cover image of the two and a
README. Axes carry the real voxel sizes (nm); inputs are parameterized (min + n * step, the
sizes the valid U-Net accepts), outputs reference the input with the U-Net's offset (context
already cropped). Raw intensities are scaled by a `scale_linear` preprocessing step exactly as
validation read the selection dataset (`SelectedModel.raw_range`); the eval activation is part
of the network. Provenance and the selected post-processing parameters sit in
`config.dacapo_flow`.
"""

from __future__ import annotations

import getpass
import hashlib
import io
import logging
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import torch
import yaml

from dacapo_flow.export.network_source import network_source
from dacapo_flow.export.sample import Sample, cover_png, sample
from dacapo_flow.export.selected import SelectedModel
from dacapo_flow.store.atomic import atomic_write

logger = logging.getLogger(__name__)

FORMAT_VERSION = "0.5.7"
_AXES = {2: ("y", "x"), 3: ("z", "y", "x")}
DACAPO_CITE = {"text": "DaCapo", "url": "https://github.com/janelia-cellmap/dacapo"}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def default_authors() -> list[str]:
    """The author when none is given: `git config user.name`, else the login name. A
    package is published under a person's name, so the export log says to set it."""
    try:
        name = subprocess.run(
            ["git", "config", "user.name"], check=False, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        source = "git config user.name"
    except (OSError, subprocess.SubprocessError):
        name = ""
    if not name:
        try:
            name, source = getpass.getuser(), "the login name"
        except (OSError, KeyError):
            name = ""
    if not name:
        raise ValueError(
            "no bioimage.io author: give --author (exports: author in config/config.yaml)"
        )
    logger.warning(
        "no author given: the package names %r (from %s); set --author (or `author:` of "
        "the exports entry) to the people to credit before publishing it",
        name,
        source,
    )
    return [name]


def cite_entry(text: str, reference: str) -> dict:
    """A bioimage.io citation: `reference` is a DOI (10.xxx/...) or a URL."""
    key = "doi" if reference.startswith("10.") else "url"
    return {"text": text, key: reference}


def _name(text: str) -> str:
    """A bioimage.io model name: 5-128 characters of letters, digits, _+- ()."""
    name = "".join(c if c.isalnum() or c in "_+- ()" else "-" for c in text)[:128]
    return name if len(name) >= 5 else f"dacapo-flow {name}"


def rdf(
    selected: SelectedModel,
    files: dict[str, bytes],
    test: Sample,
    authors: list[str],
    license: str = "CC-BY-4.0",
    cite: list[dict] | None = None,
) -> dict:
    """The model description; `files` maps package file names to their bytes (for sha256).
    `cite`: citations ({text, doi or url}) listed before DaCapo's."""
    axes = _AXES[len(selected.voxel_size)]
    low, high = selected.raw_range
    provenance = selected.provenance
    input_axes = [{"type": "batch"}, {"type": "channel", "channel_names": ["raw"]}]
    labels = list(selected.head_labels)
    output_axes = [{"type": "batch"}, {"type": "channel", "channel_names": labels}]
    for i, axis in enumerate(axes):
        input_axes.append(
            {
                "type": "space",
                "id": axis,
                "unit": "nanometer",
                "scale": float(selected.voxel_size[i]),
                "size": {
                    "min": int(selected.min_input_shape[i]),
                    "step": int(selected.input_step[i]),
                },
            }
        )
        output_axes.append(
            {
                "type": "space",
                "id": axis,
                "unit": "nanometer",
                "scale": float(selected.output_voxel_size[i]),
                "size": {"tensor_id": "raw", "axis_id": axis, "offset": selected.output_offset[i]},
            }
        )
    description = (
        f"{type(selected.run_config.task_config).__name__} network of dacapo-flow run "
        f"{provenance['run']}, iteration {provenance['iteration']}, best for "
        f"{provenance['criterion']} on {provenance['dataset']}."
    )
    arch = selected.run_config.architecture_config
    architecture = arch.model_dump(exclude={"type"})
    raw = selected.selection.raw
    return {
        "format_version": FORMAT_VERSION,
        "type": "model",
        "name": _name(f"dacapo-flow {provenance['run']} {provenance['criterion']}"),
        "description": description,
        "authors": [{"name": name} for name in authors],
        "cite": [*(cite or []), DACAPO_CITE],
        "license": license,
        "documentation": "README.md",
        "covers": ["cover.png"],
        # The network's dimensions: a 2D network run section by section is 2D.
        "tags": [f"{arch.dims}d", "unet", "electron-microscopy", "dacapo"],
        "inputs": [
            {
                "id": "raw",
                "axes": input_axes,
                "test_tensor": {
                    "source": "test_input.npy",
                    "sha256": _sha256(files["test_input.npy"]),
                },
                "data": {"type": "float32"},
                "preprocessing": [
                    {
                        "id": "scale_linear",
                        "kwargs": {"gain": 1.0 / (high - low), "offset": -low / (high - low)},
                    }
                ],
            }
        ],
        "outputs": [
            {
                "id": "prediction",
                "axes": output_axes,
                "test_tensor": {
                    "source": "test_output.npy",
                    "sha256": _sha256(files["test_output.npy"]),
                },
                "data": {"type": "float32"},
            }
        ],
        "weights": {
            "pytorch_state_dict": {
                "source": "weights.pt",
                "sha256": _sha256(files["weights.pt"]),
                "architecture": {
                    "source": "network_source.py",
                    "sha256": _sha256(files["network_source.py"]),
                    "callable": "dacapo_flow_model",
                    "kwargs": {"architecture": architecture, "head": selected.head},
                },
                "pytorch_version": torch.__version__.split("+")[0],
            }
        },
        "config": {
            "dacapo_flow": {
                **provenance,
                "head_labels": list(selected.head_labels),
                "raw_range": [low, high],
                "normalisation": selected.normalisation,
                "test_crop": {"raw": f"{raw.path}/{raw.dataset}", **test.describe()},
                "voxel_size": list(selected.voxel_size),
                "output_voxel_size": list(selected.output_voxel_size),
            }
        },
    }


def _normalisation_text(selected: SelectedModel) -> str:
    low, high = selected.raw_range
    how = selected.normalisation
    text = (
        f"Raw intensities {low:g}..{high:g} are mapped to 0..1 (the `scale_linear` "
        f"preprocessing), as validation read `{how['dataset']}`"
    )
    if "percentiles" in how:
        return text + (
            f": its raw's {how['percentiles'][0]:g} and {how['percentiles'][1]:g} "
            "percentiles. For another volume, compute its own percentiles and set "
            "gain = 1 / (high - low), offset = -low / (high - low)."
        )
    return text + "."


def package_files(
    selected: SelectedModel, authors: list[str] | None = None, **rdf_kwargs
) -> dict[str, bytes]:
    """Every file of the package, rdf.yaml included (`authors`: default_authors())."""
    authors = authors or default_authors()
    test = sample(selected)
    weights = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in selected.model.state_dict().items()}, weights)
    provenance = selected.provenance
    readme = (
        f"# {provenance['run']}\n\nExported by dacapo-flow from run `{provenance['run']}`, "
        f"iteration {provenance['iteration']}, selected for `{provenance['criterion']}` on "
        f"`{provenance['dataset']}` (score {provenance['score']}). Output channels: "
        f"{', '.join(selected.head_labels)}. Post-processing: {provenance['post_processing']}.\n"
        "\n## Validation\n\nScored by dacapo-flow's validation of every checkpoint on the "
        f"validation dataset `{provenance['dataset']}`; this checkpoint scored "
        f"{provenance['score']} for `{provenance['criterion']}` "
        f"({'higher' if provenance['higher_is_better'] else 'lower'} is better).\n"
        f"\n## Input\n\n{_normalisation_text(selected)}\n"
    )
    files = {
        "weights.pt": weights.getvalue(),
        "network_source.py": network_source().encode(),
        "test_input.npy": _npy(test.raw),
        "test_output.npy": _npy(test.output),
        "cover.png": cover_png(
            test, selected.head_labels, selected.run_config.architecture_config.section_axis
        ),
        "README.md": readme.encode(),
    }
    description = rdf(selected, files, test, authors, **rdf_kwargs)
    files["rdf.yaml"] = yaml.safe_dump(description, sort_keys=False).encode()
    return files


def write_bioimageio_package(
    selected: SelectedModel,
    folder: Path | None = None,
    zip_path: Path | None = None,
    **rdf_kwargs,
) -> None:
    """Write the package as a folder and/or a zip (each atomically). `rdf_kwargs`: authors
    (names; default_authors() when none), license (SPDX id, default CC-BY-4.0) and cite."""
    files = package_files(selected, **rdf_kwargs)
    if folder is not None:
        folder = Path(folder)
        tmp = folder.with_name(f".{folder.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    if zip_path is not None:

        def write(file):
            with zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED) as archive:
                for name, data in files.items():
                    archive.writestr(name, data)

        atomic_write(zip_path, write)

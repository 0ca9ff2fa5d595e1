"""A bioimage.io model package (format 0.5, `pytorch_state_dict` weights) of a selected model.

The package folder holds rdf.yaml, the weights as a plain state dict, the network source
(`network_source.py`), test input/output tensors of the smallest valid input shape and a
README. Axes carry the real voxel sizes (nm); inputs are parameterized (min + n * step, the
sizes the valid U-Net accepts), outputs reference the input with the U-Net's offset (context
already cropped). Raw intensities are scaled by a `scale_linear` preprocessing step exactly as
in training; the eval activation is part of the network. Provenance and the selected
post-processing parameters sit in `config.dacapo_flow`.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
import torch
import yaml

from dacapo_flow.export.network_source import network_source
from dacapo_flow.export.selected import SelectedModel
from dacapo_flow.store.atomic import atomic_write

FORMAT_VERSION = "0.5.7"
_AXES = {2: ("y", "x"), 3: ("z", "y", "x")}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_tensors(selected: SelectedModel) -> tuple[np.ndarray, np.ndarray]:
    """(raw input of the smallest valid shape, the network's eval output on it)."""
    low, high = selected.raw_range
    shape = (1, 1, *selected.min_input_shape)
    raw = np.random.default_rng(0).uniform(low, high, shape).astype(np.float32)
    normalised = (raw - np.float32(low)) * np.float32(1.0 / (high - low))
    with torch.no_grad():
        output = selected.model(torch.from_numpy(normalised)).numpy()
    return raw, output


def _name(text: str) -> str:
    """A bioimage.io model name: 5-128 characters of letters, digits, _+- ()."""
    name = "".join(c if c.isalnum() or c in "_+- ()" else "-" for c in text)[:128]
    return name if len(name) >= 5 else f"dacapo-flow {name}"


def rdf(
    selected: SelectedModel,
    files: dict[str, bytes],
    authors: list[str] | None = None,
    license: str = "CC-BY-4.0",
) -> dict:
    """The model description; `files` maps package file names to their bytes (for sha256)."""
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
    architecture = selected.run_config.architecture_config.model_dump(exclude={"type"})
    return {
        "format_version": FORMAT_VERSION,
        "type": "model",
        "name": _name(f"dacapo-flow {provenance['run']} {provenance['criterion']}"),
        "description": description,
        "authors": [{"name": name} for name in authors or ["dacapo-flow export"]],
        "cite": [{"text": "DaCapo", "url": "https://github.com/janelia-cellmap/dacapo"}],
        "license": license,
        "documentation": "README.md",
        "tags": ["3d" if len(axes) == 3 else "2d", "unet", "electron-microscopy", "dacapo"],
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
                "voxel_size": list(selected.voxel_size),
                "output_voxel_size": list(selected.output_voxel_size),
            }
        },
    }


def package_files(selected: SelectedModel, **rdf_kwargs) -> dict[str, bytes]:
    """Every file of the package, rdf.yaml included."""
    raw, output = test_tensors(selected)
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
    )
    files = {
        "weights.pt": weights.getvalue(),
        "network_source.py": network_source().encode(),
        "test_input.npy": _npy(raw),
        "test_output.npy": _npy(output),
        "README.md": readme.encode(),
    }
    description = rdf(selected, files, **rdf_kwargs)
    files["rdf.yaml"] = yaml.safe_dump(description, sort_keys=False).encode()
    return files


def write_bioimageio_package(
    selected: SelectedModel,
    folder: Path | None = None,
    zip_path: Path | None = None,
    **rdf_kwargs,
) -> None:
    """Write the package as a folder and/or a zip (each atomically). `rdf_kwargs`: authors
    (names) and license (SPDX id, default CC-BY-4.0)."""
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

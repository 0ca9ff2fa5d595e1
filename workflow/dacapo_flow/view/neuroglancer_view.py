"""The layers of `view.sources` in neuroglancer, in world units (nm):

- `serve`: a local viewer; the `neuroglancer` package serves its own client and the arrays
  (read lazily, block by block) from this process, bound to 127.0.0.1 only.
- `static_state`: a viewer state (JSON) and link whose sources are `zarr://` URLs under a
  base URL, for when no Python server is wanted: any static file server with CORS that
  serves the workflow directory (e.g. `npx http-server --cors -p 8000`) then feeds it.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from pathlib import Path

from .sources import Layer

SPATIAL = ["z", "y", "x"]
DEMO_CLIENT = "https://neuroglancer-demo.appspot.com/"


class FirstChannel:
    """Channel 0 of a [C, *spatial] array, read lazily (segmentation layers take no
    channel axis)."""

    def __init__(self, array):
        self.array = array
        self.shape = tuple(array.shape[1:])
        self.dtype = array.dtype

    def __getitem__(self, index):
        index = index if isinstance(index, tuple) else (index,)
        return self.array[(0, *index)]


def _names(layer: Layer) -> list[str]:
    dims = layer.array.voxel_size.dims
    return SPATIAL[-dims:] if dims <= 3 else [f"d{i}" for i in range(dims)]


def shader(layer: Layer) -> str | None:
    """Grey for one channel, the first three as RGB for more, over the layer's window."""
    if layer.window is None:
        return None
    low, high = layer.window
    control = f"#uicontrol invlerp normalized(range=[{low}, {high}])\n"
    channels = layer.array.num_channels or 1
    if channels == 1:
        return control + "void main() { emitGrayscale(normalized()); }\n"
    parts = [f"normalized(getDataValue({c}))" for c in range(min(channels, 3))]
    parts += ["0.0"] * (3 - len(parts))
    return control + f"void main() {{ emitRGB(vec3({', '.join(parts)})); }}\n"


def local_volume(layer: Layer):
    import neuroglancer

    array = layer.array
    data = array._handle(writable=False)
    channels = array.num_channels is not None
    if channels and layer.kind == "segmentation":
        data, channels = FirstChannel(data), False
    lead = 1 if channels else 0
    dimensions = neuroglancer.CoordinateSpace(
        names=["c^"] * lead + _names(layer),
        units=[""] * lead + ["nm"] * array.voxel_size.dims,
        scales=[1] * lead + list(array.voxel_size),
    )
    offset = [0] * lead + [o // v for o, v in zip(array.offset, array.voxel_size)]
    return neuroglancer.LocalVolume(
        data=data, dimensions=dimensions, voxel_offset=offset, volume_type=layer.kind
    )


def _centre(layers: list[Layer]) -> list[float]:
    """The first layer's centre, x first."""
    return [float(c) for c in layers[0].array.roi.center][::-1]


def serve(layers: list[Layer], port: int = 0):
    """A viewer showing `layers`, served on 127.0.0.1:`port` (0: any free port)."""
    import neuroglancer

    neuroglancer.set_server_bind_address("127.0.0.1", bind_port=port)
    viewer = neuroglancer.Viewer()
    with viewer.txn() as state:
        # x first: the main panel shows y-x sections (the order of the sources' axes)
        names = _names(layers[0])[::-1]
        state.dimensions = neuroglancer.CoordinateSpace(
            names=names, units="nm", scales=[1] * len(names)
        )
        for layer in layers:
            source = local_volume(layer)
            if layer.kind == "segmentation":
                state.layers[layer.name] = neuroglancer.SegmentationLayer(source=source)
            else:
                options = {"shader": shader(layer)} if shader(layer) else {}
                state.layers[layer.name] = neuroglancer.ImageLayer(source=source, **options)
        state.position = _centre(layers)
        # the ROI's y-x extent across about 400 screen pixels
        state.cross_section_scale = max(layers[0].array.roi.shape[-2:]) / 400
        state.layout = "4panel"
    return viewer


def _source(layer: Layer, base_url: str, root: Path) -> dict:
    """A `zarr://` source of the layer's array under base_url, with its world geometry as a
    transform (neuroglancer then needs no dacapo-flow metadata)."""
    array = layer.array
    relative = Path(os.path.relpath(Path(array.path).resolve() / array.dataset, root))
    url = f"zarr://{base_url.rstrip('/')}/{relative.as_posix()}"
    names = _names(layer)
    channels = array.num_channels is not None
    inputs = (["c^"] if channels else []) + names
    rank = len(inputs)
    matrix = [[1.0 if r == c else 0.0 for c in range(rank)] + [0.0] for r in range(rank)]
    for i, (o, v) in enumerate(zip(array.offset, array.voxel_size)):
        matrix[i + int(channels)][-1] = o / v
    outputs = {n: [v * 1e-9, "m"] for n, v in zip(names, array.voxel_size)}
    if channels:
        outputs = {"c^": [1, ""], **outputs}
    return {
        "url": url,
        "transform": {
            "inputDimensions": {
                n: [1, ""] if n == "c^" else [v * 1e-9, "m"]
                for n, v in zip(inputs, [1] * int(channels) + list(array.voxel_size))
            },
            "outputDimensions": outputs,
            "matrix": matrix,
        },
    }


def static_state(layers: list[Layer], base_url: str, root=".") -> dict:
    """A neuroglancer state (JSON) reading the layers' arrays from `base_url`, which serves
    the directory `root`."""
    root = Path(root).resolve()
    first = layers[0].array
    spatial = list(zip(_names(layers[0]), first.voxel_size, first.roi.center))[::-1]
    state = {
        "dimensions": {n: [v * 1e-9, "m"] for n, v, _ in spatial},
        "position": [c / v for _, v, c in spatial],
        "layout": "4panel",
        "layers": [],
    }
    for layer in layers:
        entry = {"type": layer.kind, "name": layer.name, "source": _source(layer, base_url, root)}
        if shader(layer):
            entry["shader"] = shader(layer)
        state["layers"].append(entry)
    return state


def state_link(state: dict, client: str = DEMO_CLIENT) -> str:
    return client + "#!" + urllib.parse.quote(json.dumps(state, separators=(",", ":")))

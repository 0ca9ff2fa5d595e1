"""`dacapo-flow view NAME`: a prediction target's raw, prediction and segmentation (or a
run's validation raw, ground truth and mask) in neuroglancer."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def cmd_view(args) -> None:
    from ..config.loading import read_yaml
    from .sources import find_layers

    layers = find_layers(read_yaml(args.config), str(args.config), args.name)
    if args.state is not None:
        _write_state(layers, args)
        return
    try:
        import neuroglancer  # noqa: F401
    except ImportError:
        raise SystemExit(
            "dacapo-flow view: the neuroglancer package is not installed: "
            'pip install -e ".[view]" (or use --state, or napari-ome-zarr)'
        ) from None
    from .neuroglancer_view import serve

    viewer = serve(layers, args.port)
    print(f"neuroglancer: {viewer}", flush=True)
    print(
        "layers: " + ", ".join(layer.name for layer in layers) + " (Ctrl-C to stop)",
        flush=True,
    )
    if args.seconds is not None:
        time.sleep(args.seconds)
        return
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)


def _write_state(layers, args) -> None:
    from ..store.atomic import atomic_write
    from .neuroglancer_view import state_link, static_state

    state = static_state(layers, args.data_url, root=".")
    text = json.dumps(state, indent=1) + "\n"
    atomic_write(args.state, lambda file: file.write(text.encode()))
    print(f"state: {args.state}")
    print(f"link: {state_link(state)}")
    print(
        f"serve this directory at {args.data_url} with CORS, e.g. "
        "`npx http-server --cors -p 8000`, then open the link"
    )


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "view", help="open a prediction target's (or a run's validation) data in neuroglancer"
    )
    p.add_argument("name", help="a prediction target (from predictions:) or a run")
    p.add_argument("--config", type=Path, default=Path("config/config.yaml"))
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free one)")
    p.add_argument(
        "--state",
        type=Path,
        help="write a static viewer state (JSON) and print its link instead of serving",
    )
    p.add_argument(
        "--data-url",
        default="http://127.0.0.1:8000",
        help="with --state: the URL a static file server gives this directory",
    )
    p.add_argument(
        "--seconds", type=float, help="serve this long, then exit (default: until Ctrl-C)"
    )
    p.set_defaults(func=cmd_view)

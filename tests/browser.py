"""Render an HTML file in headless Chromium and return its DOM after scripts ran (and,
optionally, a screenshot): how the tests check that a `snakemake --report` really opens.

Chromium is Debian's `chromium` package (`apt-get install -y chromium`). Tests call
`require_chromium()`, which skips them with the reason when no browser can be found. The
browser runs isolated: a throwaway profile, no network services, no sandbox (tests may run
as root in a container, where Chromium's sandbox cannot start).
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    "--hide-scrollbars",
)
TIMEOUT_S = 120


def find_chromium() -> str | None:
    """The browser executable: $CHROMIUM if set, else the first of CANDIDATES on PATH."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return shutil.which(explicit)
    return next((path for path in map(shutil.which, CANDIDATES) if path), None)


def _install_chromium() -> str:
    """Install Debian's chromium (CI, or LOCAL_CHROMIUM_INSTALL=1); '' or why it failed."""
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        try:
            done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"{' '.join(command)}: {error}"
        if done.returncode != 0:
            return f"{' '.join(command)} exited {done.returncode}: {done.stderr[-300:]}"
    return ""


def require_chromium() -> str:
    """The browser executable, or skip the calling test saying how to get one. On CI (or with
    LOCAL_CHROMIUM_INSTALL=1) a missing browser is installed first."""
    browser = find_chromium()
    wanted = os.environ.get("CI") == "true" or os.environ.get("LOCAL_CHROMIUM_INSTALL") == "1"
    if browser is None and wanted:
        failure = _install_chromium()
        browser = find_chromium()
        if browser is None:
            pytest.skip(f"headless Chromium could not be installed: {failure}")
    if browser is None:
        pytest.skip(
            "headless Chromium not found (tried $CHROMIUM and "
            f"{', '.join(CANDIDATES)}); install it with `apt-get install -y chromium`"
        )
    return browser


def _run(browser: str, args: list[str], profile: str, timeout: float):
    command = [browser, *FLAGS, f"--user-data-dir={profile}", *args]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as error:
        raise RuntimeError(f"{browser} did not finish within {timeout} s: {command}") from error


def screenshot_live(
    url: str,
    screenshot: str | os.PathLike,
    wait_s: float = 20.0,
    window: tuple[int, int] = (1280, 900),
    flags: tuple[str, ...] = (),
    timeout: float = TIMEOUT_S,
) -> Path:
    """A PNG screenshot of `url` taken `wait_s` seconds of real time after navigating to it,
    through the DevTools protocol: for pages that keep a connection to their server open
    (neuroglancer's Python viewer), on which `--virtual-time-budget` never runs out. `flags`
    adds Chromium switches (WebGL pages need a software GL). Uses tornado's websocket client
    (tornado comes with neuroglancer)."""
    import asyncio
    import base64
    import json
    import time
    import urllib.request

    from tornado.websocket import websocket_connect

    browser = require_chromium()
    shot = Path(screenshot).resolve()
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [browser, *FLAGS, f"--user-data-dir={profile}", *flags]
        command += [f"--window-size={window[0]},{window[1]}", "--remote-debugging-port=0"]
        process = subprocess.Popen(
            [*command, "about:blank"], stderr=subprocess.PIPE, text=True, bufsize=1
        )
        try:
            deadline = time.monotonic() + timeout
            endpoint = None
            while endpoint is None and time.monotonic() < deadline:
                line = process.stderr.readline()
                if not line and process.poll() is not None:
                    raise RuntimeError(f"{browser} exited {process.returncode} before DevTools")
                match = re.search(r"DevTools listening on ws://([^/]+)/", line)
                endpoint = match.group(1) if match else None
            with urllib.request.urlopen(f"http://{endpoint}/json/list", timeout=30) as reply:
                pages = [t for t in json.load(reply) if t.get("type") == "page"]

            async def capture() -> bytes:
                connection = await websocket_connect(pages[0]["webSocketDebuggerUrl"])
                counter = iter(range(1, 1 << 30))

                async def call(method, **params):
                    number = next(counter)
                    connection.write_message(
                        json.dumps({"id": number, "method": method, "params": params})
                    )
                    while True:
                        message = json.loads(await connection.read_message())
                        if message.get("id") == number:
                            return message.get("result", {})

                await call("Page.enable")
                await call("Page.navigate", url=url)
                await asyncio.sleep(wait_s)
                result = await call("Page.captureScreenshot", format="png")
                connection.close()
                return base64.b64decode(result["data"])

            shot.write_bytes(asyncio.run(asyncio.wait_for(capture(), timeout)))
        finally:
            process.kill()
            process.wait()
    return shot


def render(
    html: str | os.PathLike,
    screenshot: str | os.PathLike | None = None,
    budget_ms: int = 5000,
    window: tuple[int, int] = (1280, 900),
    timeout: float = TIMEOUT_S,
) -> str:
    """The DOM of `html` (a local file) after its scripts ran for up to `budget_ms` of
    virtual time; writes a PNG screenshot too when `screenshot` is given."""
    browser = require_chromium()
    url = Path(html).resolve().as_uri()
    timing = [f"--virtual-time-budget={budget_ms}", "--run-all-compositor-stages-before-draw"]
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        result = _run(browser, [*timing, "--dump-dom", url], profile, timeout)
        if result.returncode != 0 or not result.stdout.strip():
            raise RuntimeError(
                f"{browser} --dump-dom {url} failed (exit {result.returncode}):\n"
                f"{result.stderr[-2000:]}"
            )
        if screenshot is not None:
            shot = Path(screenshot).resolve()
            size = f"--window-size={window[0]},{window[1]}"
            done = _run(browser, [*timing, size, f"--screenshot={shot}", url], profile, timeout)
            if done.returncode != 0 or not shot.is_file():
                raise RuntimeError(
                    f"{browser} --screenshot of {url} failed (exit {done.returncode}):\n"
                    f"{done.stderr[-2000:]}"
                )
    return result.stdout


def visible_text(dom: str) -> str:
    """The text a reader sees: `dom` without scripts, styles and tags (whitespace joined), so
    that data embedded in scripts cannot pass for rendered content."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.DOTALL | re.IGNORECASE)
    text = html.unescape(re.sub(r"<[^>]+>", " ", body))
    return " ".join(text.split())

"""Headless Chromium from Debian (`apt-get install chromium`), driven by Playwright for Python: shared by the
browser tests and `docs/screenshots.py`. Playwright never downloads a browser here."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from playwright.async_api import Browser, Playwright

# The flags keep Chromium off the network it would otherwise try to reach at start (updates, sync, QUIC).
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def chromium_path() -> Path | None:
    for candidate in (os.environ.get("VCV_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


async def launch(playwright: Playwright) -> Browser:
    path = chromium_path()
    if path is None:
        raise RuntimeError("no Chromium: apt-get install chromium (make test does it when run as root)")
    return await playwright.chromium.launch(executable_path=str(path), args=ARGS, headless=True)

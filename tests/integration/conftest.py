"""Helpers that run iotstream as real processes, the way users and the original systems' tools do."""

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.browser import CHROMIUM_FLAGS, chromium

CLI = [sys.executable, "-m", "iotstream"]


@pytest.fixture
def cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `iotstream ARGS` in a fresh directory, as a separate process each time."""

    def run(*args: str, stdin: str = "", timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *args],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=timeout_s,
            check=False,
        )

    return run


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium, driven by Playwright."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        yield launched
        launched.close()

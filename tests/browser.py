"""Headless Chromium (Debian's) for the dashboard tests, driven by Playwright."""

import shutil

import pytest

__all__ = ["CHROMIUM_FLAGS", "chromium"]

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # the tests may run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # no calls to Google's servers from a machine without internet
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail(
            "Chromium is missing: apt-get install chromium chromium-driver (`make test` does it as root)"
        )
    return path

"""A running platform (embedded: SQLite log, DuckDB store, SQLite catalog) and an HTTP client on /v1.1."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform

FIXTURES = Path(__file__).parents[2] / "fixtures"
FOREVER = {"raw": "36500d", "1m": "36500d", "1h": "36500d"}


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[EmbeddedPlatform]:
    settings = load_settings(data_dir=tmp_path, api={"port": 0}, storage={"retention": FOREVER})
    with EmbeddedPlatform(settings) as running:
        yield running


@pytest.fixture
def sta(platform: EmbeddedPlatform) -> Iterator[httpx.Client]:
    assert platform.api is not None
    with httpx.Client(base_url=f"{platform.api.url}/v1.1", timeout=30) as client:
        yield client

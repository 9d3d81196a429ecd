from collections.abc import Iterator
from pathlib import Path

import pytest

from iotstream.registry.catalog import Catalog, open_catalog


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    """A SQLite catalog of its own for each test."""
    opened = open_catalog(f"sqlite:///{tmp_path}/registry.db")
    yield opened
    opened.close()

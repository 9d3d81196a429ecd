"""Fixtures unit tests share."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from iotstream.log import BaseLog, open_log
from iotstream.log.topics import platform_topics


@pytest.fixture
def log(tmp_path: Path) -> Iterator[BaseLog]:
    """A SQLite log with the platform's topics, one partition each."""
    with open_log(f"sqlite:///{tmp_path}/log.db", maintenance_interval_ms=0) as opened:
        for spec in platform_topics(1):
            opened.create_topic(spec, exist_ok=True)
        yield opened

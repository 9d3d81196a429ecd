"""Fixtures that hand every contract test a fresh log of each backend, and unique topic names."""

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from iotstream.log import BaseLog, TopicSpec, open_log

LOG_BACKENDS = ["sqlite"]

# Fast group settings so rebalances in tests take milliseconds, not the production seconds.
FAST = {"linger_ms": 1, "heartbeat_interval_ms": 50, "session_timeout_ms": 1_000, "poll_interval_ms": 5}


@pytest.fixture(params=LOG_BACKENDS)
def log_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/log.db"
    raise AssertionError(f"no fixture for backend {request.param}")


@pytest.fixture
def make_log(log_url: str) -> Iterator[Callable[..., BaseLog]]:
    """Open logs on the same backend and data; all are closed after the test."""
    opened: list[BaseLog] = []

    def make(**overrides: Any) -> BaseLog:
        log = open_log(log_url, **{"maintenance_interval_ms": 0, **FAST, **overrides})
        opened.append(log)
        return log

    yield make
    for log in opened:
        log.close()


@pytest.fixture
def log(make_log: Callable[..., BaseLog]) -> BaseLog:
    return make_log()


@pytest.fixture
def new_topic(log: BaseLog) -> Callable[..., str]:
    def create(partitions: int = 1, **spec: Any) -> str:
        name = f"t-{uuid.uuid4().hex[:10]}"
        log.create_topic(TopicSpec(name, partitions=partitions, **spec))
        return name

    return create

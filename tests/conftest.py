"""Suite-wide guards: no test may leave threads running behind it, and a Hypothesis seed draws the
same inputs whichever tests run before it."""

import importlib
import pkgutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import iotstream
from iotstream.log import BaseLog, open_log
from iotstream.log.topics import platform_topics

# Hypothesis draws some inputs from the constants of the project's modules imported so far (not the
# tests'), so the same seed drew other inputs depending on what the tests before it had imported: the
# fuzz seed a failure printed did not find it again alone. Every module the tests can import, first.
BENCHMARKS_THE_TESTS_IMPORT = ("benchmarks._mqtt_load", "benchmarks.soak")
for _found in pkgutil.walk_packages(iotstream.__path__, "iotstream."):
    importlib.import_module(_found.name)
for _benchmark in BENCHMARKS_THE_TESTS_IMPORT:
    importlib.import_module(_benchmark)


@pytest.fixture(autouse=True)
def verify_no_thread_leaks() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2.0
    while (leaked := [t for t in threading.enumerate() if t not in before and t.is_alive()]) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.02)
    assert not leaked, f"test left threads running: {[t.name for t in leaked]}"


@pytest.fixture(scope="session")
def kafka_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One Kafka-protocol broker (Tansu, in memory) for the whole session; tests use unique topics."""
    from tests.servers import start_tansu

    broker = start_tansu(tmp_path_factory.mktemp("kafka"))
    yield f"kafka://127.0.0.1:{broker.port}"
    broker.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server from Debian's binaries for the whole session."""
    from tests.servers import start_postgres

    server, url = start_postgres()
    yield url
    server.cleanup()


@pytest.fixture
def log(tmp_path: Path) -> Iterator[BaseLog]:
    """A SQLite log with the platform's topics, one partition each."""
    with open_log(f"sqlite:///{tmp_path}/log.db", maintenance_interval_ms=0) as opened:
        for spec in platform_topics(1):
            opened.create_topic(spec, exist_ok=True)
        yield opened

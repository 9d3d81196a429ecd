"""Suite-wide guards: no test may leave threads running behind it."""

import threading
import time
from collections.abc import Iterator

import pytest


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

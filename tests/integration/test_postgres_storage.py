"""PostgreSQL-specific: a lost connection is a retriable error, and the retry loses and doubles nothing."""

import uuid

import psycopg
import pytest

from iotstream.models import Observation
from iotstream.storage import RetentionPolicy, RetentionSettings
from iotstream.storage.exceptions import StorageUnavailableError
from iotstream.storage.postgres import PostgresStorage
from iotstream.testing import FakeClock

pytestmark = pytest.mark.slow


def test_a_lost_connection_is_retriable_and_the_retry_stores_the_batch_once(postgres_url: str) -> None:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
        now = RetentionPolicy(RetentionSettings(), FakeClock(1_700_000_000))  # the readings are fresh
        store = PostgresStorage(postgres_url.rsplit("/", 1)[0] + f"/{name}", now)
        batch = [Observation("s1", 1_700_000_000_000 + i, float(i), 0, f"id{i}") for i in range(100)]
        store.write_observations(batch[:50])
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        with pytest.raises(StorageUnavailableError, match="went away") as caught:
            store.write_observations(batch)
        assert caught.value.retriable
        store.write_observations(batch)  # the caller's retry reconnects
        stored = store.raw("s1", 0, 2**62)
        store.close()
    assert [o.id for o in stored] == [f"id{i}" for i in range(100)]


def test_an_unreachable_server_is_a_clear_retriable_error() -> None:
    with pytest.raises(
        StorageUnavailableError, match=r"cannot reach PostgreSQL at postgresql://nobody@127\.0\.0\.1:1/"
    ):
        PostgresStorage("postgresql://nobody:secret@127.0.0.1:1/db", connect_timeout_s=2)

"""DuckDB's write path: one script per batch, a replace scan only where a reading may be stored
already (`RecentTimes`), and each minute noted for the rollup refresher once between two refreshes.
Whatever the order of the readings, the forgetting, the refreshes and restarts, the store must hold
each reading once, with rollups and latest values equal to a recompute."""

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iotstream.models import Observation
from iotstream.storage import duckdb as duckdb_store
from iotstream.storage import open_storage
from iotstream.storage._duckdb_rollups import PENDING
from iotstream.storage._recent import RecentTimes
from iotstream.storage.duckdb import DuckDBStorage
from iotstream.storage.exceptions import StorageError
from tests.contract.storage_reference import Readings, assert_store_holds, remember

T0 = 1_767_225_600_000  # 2026-01-01
KEEP = {"raw": "36500d", "1m": "36500d", "1h": "36500d"}
NAMES = ["a", "b"]


def _open(path: Path) -> DuckDBStorage:
    store = open_storage(f"duckdb:///{path}", retention=KEEP, rollup_delay_ms=3_600_000)
    assert isinstance(store, DuckDBStorage)
    return store


def _reading(name: str, offset_ms: int, value: object) -> Observation:
    return Observation(name, T0 + offset_ms, value, T0, f"{name}{offset_ms}={value}")


READING = st.builds(
    _reading,
    st.sampled_from(NAMES),
    st.integers(0, 3 * 60_000),  # three minutes: batches land in the same minutes again and again
    st.one_of(st.integers(-9, 9).map(float), st.just("off")),
)
STEP = st.one_of(
    st.lists(READING, min_size=1, max_size=8).map(lambda batch: ("write", batch)),
    st.just(("refresh", [])),
    st.just(("reopen", [])),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, min_size=1, max_size=10), capacity=st.integers(1, 20))
def test_any_order_of_readings_refreshes_and_restarts_stores_each_reading_once(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, list[Observation]]], capacity: int
) -> None:
    path = tmp_path_factory.mktemp("store") / "store.duckdb"
    store = _open(path)
    store._recent = RecentTimes({}, capacity=capacity)  # forgets within a few batches
    expected: Readings = {}
    try:
        for kind, batch in steps:
            if kind == "write":
                assert store.write_observations(batch) == []
                remember(expected, batch)
            elif kind == "refresh":
                store.catch_up()
            else:
                store.close()
                store = _open(path)
        assert_store_holds(store, expected, NAMES, T0, T0 + 4 * 60_000)
    finally:
        store.close()


def test_posts_of_several_clients_overtaking_each_other_need_no_replace_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four clients send one datastream, each every fourth millisecond: every batch reaches back
    before the newest stored reading, yet none repeats a stored one."""
    scans: list[list[tuple[int, int]]] = []
    script = duckdb_store.write_script

    def spied(replace_ranges: list[tuple[int, int]], unique: bool, notes: bool) -> str:
        scans.append(replace_ranges)
        return script(replace_ranges, unique, notes)

    monkeypatch.setattr(duckdb_store, "write_script", spied)
    store = _open(tmp_path / "store.duckdb")
    expected: Readings = {}
    try:
        for k in range(30):
            for client in (1, 0, 3, 2) if k % 2 else (0, 2, 1, 3):
                post = [_reading("a", k * 400 + client + 4 * i, float(i % 7)) for i in range(100)]
                store.write_observations(post)
                remember(expected, post)
        store.write_observations([_reading("a", 401, 9.0)])  # a correction does scan
        remember(expected, [_reading("a", 401, 9.0)])
        assert scans[:-1] == [[]] * 120
        assert scans[-1]
        assert_store_holds(store, expected, ["a"], T0, T0 + 12_000)
    finally:
        store.close()


def _pending(store: DuckDBStorage) -> list[tuple[Any, ...]]:
    return store._query(f"SELECT datastream, bucket FROM {PENDING} ORDER BY ALL", [])  # noqa: S608


def test_a_minute_is_noted_once_until_the_refresher_takes_it(tmp_path: Path) -> None:
    store = _open(tmp_path / "store.duckdb")
    try:
        for i in range(5):
            store.write_observations([_reading("a", i * 1_000, float(i))])
        assert _pending(store) == [("a", T0)]
        store.catch_up()
        assert _pending(store) == []
        store.write_observations([_reading("a", 5_000, 5.0)])  # after the refresher's snapshot
        assert _pending(store) == [("a", T0)]
        (minute,) = store.buckets("1m", T0, T0 + 60_000)["a"]
        assert (minute.count, minute.sum, minute.last) == (6, 15.0, 5.0)
    finally:
        store.close()


def test_a_failed_write_stores_nothing_and_its_retry_is_rolled_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = duckdb_store.write_script
    calls: list[int] = []

    def failing_once(replace_ranges: list[tuple[int, int]], unique: bool, notes: bool) -> str:
        calls.append(1)
        if len(calls) > 1:
            return script(replace_ranges, unique, notes)
        insert = script([], unique, False)
        return f"BEGIN TRANSACTION; {insert}; INSERT INTO no_such_table VALUES (1); COMMIT"  # noqa: S608

    monkeypatch.setattr(duckdb_store, "write_script", failing_once)
    store = _open(tmp_path / "store.duckdb")
    batch = [_reading("a", i * 1_000, 2.0) for i in range(3)]
    try:
        with pytest.raises(StorageError, match="no_such_table"):
            store.write_observations(batch)
        assert store.raw("a", T0, T0 + 60_000) == []
        assert store.write_observations(batch) == []
        expected = {(o.datastream, o.phenomenon_time_ms): o for o in batch}
        assert_store_holds(store, expected, ["a"], T0, T0 + 60_000)
    finally:
        store.close()


def test_minutes_an_earlier_version_left_pending_with_their_partials_are_merged(tmp_path: Path) -> None:
    """Earlier versions noted an appending batch's own minute rollups (`exact`); a store they left
    with some pending must roll them up right after the upgrade."""
    store = _open(tmp_path / "store.duckdb")
    try:
        store.write_observations([_reading("a", 0, 1.0)])
        store.catch_up()
        rows = [("a", T0 + 1_000, T0, 5.0, None, "x"), ("a", T0 + 2_000, T0, 3.0, None, "y")]
        partials = ("a", T0, 2, 8.0, 3.0, 5.0, 5.0, 3.0, T0 + 1_000, T0 + 2_000, True)
        with store._lock:  # what such a version's write committed, and then no refresh
            store._db.executemany("INSERT INTO observations VALUES (?, ?, ?, ?, ?, ?)", rows)
            store._db.execute(f"INSERT INTO {PENDING} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", partials)  # noqa: S608
            store._rollups.noted()
        (minute,) = store.buckets("1m", T0, T0 + 60_000)["a"]
        assert (minute.count, minute.sum, minute.min, minute.max, minute.first, minute.last) == (
            3,
            9.0,
            1.0,
            5.0,
            1.0,
            3.0,
        )
        assert store.latest()["a"].result == 3.0
    finally:
        store.close()


def test_duckdb_leaves_a_core_to_the_platform_unless_told(tmp_path: Path) -> None:
    default = open_storage(f"duckdb:///{tmp_path}/default.duckdb")
    told = open_storage(f"duckdb:///{tmp_path}/told.duckdb", duckdb_threads=3)
    try:
        threads = "SELECT current_setting('threads')"
        assert default._query(threads, []) == [(max((os.cpu_count() or 1) - 1, 1),)]
        assert told._query(threads, []) == [(3,)]
    finally:
        default.close()
        told.close()


def test_duckdb_memory_is_bounded_by_the_setting_and_reported(tmp_path: Path) -> None:
    """DuckDB's own limit is 80 % of the RAM, which its cache of a growing store fills (the soak)."""
    default = open_storage(f"duckdb:///{tmp_path}/default.duckdb", retention=KEEP)
    told = open_storage(
        f"duckdb:///{tmp_path}/told.duckdb", retention=KEEP, duckdb_memory_bytes=128 * 1024**2
    )
    try:
        limit = "SELECT value FROM duckdb_settings() WHERE name = 'memory_limit'"
        assert default._query(limit, []) == [("1.0 GiB",)]
        assert told._query(limit, []) == [("128.0 MiB",)]
        before = told.memory_bytes()
        told.write_observations([_reading("a", n, float(n)) for n in range(50_000)])
        assert told.memory_bytes() > before  # the readings not yet checkpointed are in DuckDB's memory
    finally:
        default.close()
        told.close()
    assert told.memory_bytes() is None  # a stats request during shutdown gets no error


def test_duckdb_eviction_queue_entries_are_reported(tmp_path: Path) -> None:
    """Native memory DuckDB keeps outside its buffers: the soak tells its bounded growth from a leak."""
    store = open_storage(f"duckdb:///{tmp_path}/s.duckdb", retention=KEEP)
    assert isinstance(store, DuckDBStorage)
    try:
        before = store.eviction_queue_entries()
        for batch in range(5):
            store.write_observations([_reading(f"s{n % 9}", batch * 1_000 + n, 1.0) for n in range(900)])
            store.buckets("1m", T0, T0 + 3_600_000, [f"s{n}" for n in range(9)])  # a join, and a catch-up
        after = store.eviction_queue_entries()
        assert before is not None
        assert after is not None
        assert after > before
    finally:
        store.close()
    assert store.eviction_queue_entries() is None  # a stats request during shutdown gets no error

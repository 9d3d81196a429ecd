"""DuckDB defers rollup maintenance; the deferral must never show in queries or be lost in a crash."""

from pathlib import Path

from iotstream.models import Observation
from iotstream.storage import open_storage
from iotstream.storage.duckdb import DuckDBStorage

T0 = 1_767_225_600_000
KEEP = {"raw": "36500d", "1m": "36500d", "1h": "36500d"}


def readings(values: list[float]) -> list[Observation]:
    return [Observation("s", T0 + i * 1_000, v, T0, f"id{i}") for i, v in enumerate(values)]


def test_rollups_read_right_after_a_write_already_include_it(tmp_path: Path) -> None:
    store = open_storage(f"duckdb:///{tmp_path}/s.duckdb", retention=KEEP, rollup_delay_ms=3_600_000)
    try:
        store.write_observations(readings([1.0, 2.0, 6.0]))
        (minute,) = store.buckets("1m", T0, T0 + 60_000)["s"]
        assert (minute.count, minute.sum, minute.max) == (3, 9.0, 6.0)
    finally:
        store.close()


def test_rollups_pending_at_a_crash_are_computed_after_the_restart(tmp_path: Path) -> None:
    store = open_storage(f"duckdb:///{tmp_path}/s.duckdb", retention=KEEP, rollup_delay_ms=3_600_000)
    assert isinstance(store, DuckDBStorage)
    store.write_observations(readings([4.0, 5.0]))
    store._rollups._stop.set()  # as if the process died: no refresh on the way out
    store._rollups._thread.join()
    store._db.close()
    reopened = open_storage(f"duckdb:///{tmp_path}/s.duckdb", retention=KEEP)
    try:
        (hour,) = reopened.buckets("1h", T0, T0 + 3_600_000)["s"]
        assert (hour.count, hour.sum) == (2, 9.0)
    finally:
        reopened.close()

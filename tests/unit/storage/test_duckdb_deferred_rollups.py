"""DuckDB defers rollup maintenance; the deferral must never show in queries or be lost in a crash."""

import random
from pathlib import Path

from msgspec.structs import replace

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


def test_appended_minutes_merged_across_refreshes_equal_a_full_recompute(tmp_path: Path) -> None:
    store = open_storage(f"duckdb:///{tmp_path}/s.duckdb", retention=KEEP, rollup_delay_ms=3_600_000)
    assert isinstance(store, DuckDBStorage)
    rng = random.Random(3)
    now, written = T0, []
    try:
        for batch_number in range(40):
            batch = []
            for _ in range(50):
                now += rng.randrange(1, 20_000) if rng.random() > 0.02 else 3 * 3_600_000  # only appends
                value: object = round(rng.uniform(-9, 9), 2) if rng.random() > 0.1 else "offline"
                batch.append(Observation(rng.choice("xyz"), now, value, T0, f"r{len(written) + len(batch)}"))
            store.write_observations(batch)
            written += batch
            if batch_number % 7 == 3:
                store._rollups.refresh()  # merges land on minutes that already hold readings
        merged = {width: store.buckets(width, T0, now + 1) for width in ("1m", "1h", "1d")}
        latest = store.latest()
        store.rebuild_rollups(T0, now + 1)  # the reference: every bucket recomputed from the readings
        for width, buckets in merged.items():
            reference = store.buckets(width, T0, now + 1)
            assert buckets.keys() == reference.keys()
            for name, series in buckets.items():
                rounded = [replace(b, sum=round(b.sum, 6)) for b in series]  # additions in another order
                assert rounded == [replace(b, sum=round(b.sum, 6)) for b in reference[name]], (width, name)
        newest = {o.datastream: o for o in written}
        assert {name: o.result for name, o in latest.items()} == {n: o.result for n, o in newest.items()}
    finally:
        store.close()

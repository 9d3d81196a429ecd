"""What a store should hold, computed the obvious way from the readings, independently of the SQL.

The storage contract tests write, replay, correct and delete readings, keep the expected final set
(for each (datastream, time) the last reading written) in a dict, and compare every derived table
with a recompute from it.
"""

from collections.abc import Iterable, Mapping, Sequence

import pytest

from iotstream.models import Bucket, Observation
from iotstream.storage import BaseStorage

__all__ = ["WIDTHS", "Readings", "assert_buckets_match", "assert_store_holds", "expected_buckets", "remember"]

WIDTHS = {"1m": 60_000, "1h": 3_600_000, "1d": 86_400_000}
Readings = dict[tuple[str, int], Observation]  # the expected raw table, keyed as the store keys it


def remember(expected: Readings, batch: Iterable[Observation]) -> None:
    """Apply a written batch to the expected readings: the last write of a (datastream, time) wins."""
    for observation in batch:
        expected[(observation.datastream, observation.phenomenon_time_ms)] = observation


def expected_buckets(readings: Mapping[tuple[str, int], object], width: int) -> dict[str, list[Bucket]]:
    """The numeric readings' buckets of `width` per datastream, oldest first (values, or Observations)."""
    grouped: dict[tuple[str, int], list[float]] = {}
    for (datastream, time_ms), reading in sorted(readings.items()):
        value = reading.result if isinstance(reading, Observation) else reading
        if isinstance(value, int | float) and not isinstance(value, bool):  # numbers roll up, not text
            grouped.setdefault((datastream, time_ms - time_ms % width), []).append(float(value))
    result: dict[str, list[Bucket]] = {}
    for (datastream, start), values in sorted(grouped.items()):
        bucket = Bucket(start, len(values), sum(values), min(values), max(values), values[0], values[-1])
        result.setdefault(datastream, []).append(bucket)
    return result


def assert_buckets_match(actual: dict[str, list[Bucket]], expected: dict[str, list[Bucket]]) -> None:
    """Same buckets with the same counts and values; sums approximately (added in another order)."""
    assert {ds: [(b.start_ms, b.count) for b in bs] for ds, bs in actual.items()} == {
        ds: [(b.start_ms, b.count) for b in bs] for ds, bs in expected.items()
    }
    for datastream, buckets in expected.items():
        for got, want in zip(actual[datastream], buckets, strict=True):
            assert (got.min, got.max, got.first, got.last) == (want.min, want.max, want.first, want.last)
            assert got.sum == pytest.approx(want.sum)


def assert_store_holds(
    storage: BaseStorage, expected: Readings, datastreams: Sequence[str], start_ms: int, end_ms: int
) -> None:
    """Raw rows, the 1m/1h/1d rollups and the latest values of `datastreams` in [start, end) are exactly
    what `expected` gives: one row per (datastream, time), and every derived value recomputed."""
    mine = {key: o for key, o in expected.items() if key[0] in datastreams and start_ms <= key[1] < end_ms}
    for datastream in datastreams:
        stored = storage.raw(datastream, start_ms, end_ms, limit=10**6)
        wanted = [o for (ds, _), o in sorted(mine.items()) if ds == datastream]
        assert stored == wanted, f"raw readings of {datastream!r}"
    for name, width in WIDTHS.items():
        actual = storage.buckets(name, start_ms - start_ms % width, end_ms, datastreams)
        assert_buckets_match(actual, expected_buckets(mine, width))
    newest = {ds: o for (ds, _), o in sorted(mine.items())}  # sorted by time: the last one is the newest
    assert storage.latest(datastreams) == newest

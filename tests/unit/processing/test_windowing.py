"""Window aggregation on event time: firing, out-of-order input, lateness, sessions."""

from typing import Any

import pytest

from iotstream.processing.aggregations import Aggregator
from iotstream.processing.windowing import LateReading, WindowOperator, WindowResult
from iotstream.processing.windows import Daily, Hopping, Sessions, Tumbling

MIN = 60_000


def _fields(results: list[WindowResult], *names: str) -> list[tuple[Any, ...]]:
    return [(r.key, r.start_ms, r.revision, *(r.value[n] for n in names)) for r in results]


def test_a_window_fires_only_when_the_watermark_passes_its_end() -> None:
    op = WindowOperator(Tumbling(MIN))
    op.process([("s", 1.0, 10_000), ("s", 3.0, 50_000)], watermark=0)
    assert op.advance(59_999) == []
    assert _fields(op.advance(60_000), "count", "avg") == [("s", 0, 0, 2, 2.0)]
    assert op.advance(120_000) == []


def test_out_of_order_readings_within_the_bound_give_the_in_order_result() -> None:
    op = WindowOperator(Tumbling(MIN))
    op.process([("s", 3.0, 50_000), ("s", 1.0, 10_000), ("s", 2.0, 30_000)], watermark=0)
    (result,) = op.advance(60_000)
    assert result.value == {
        "count": 3,
        "sum": 6.0,
        "min": 1.0,
        "max": 3.0,
        "avg": 2.0,
        "first": 1.0,
        "last": 3.0,
    }


def test_a_late_reading_within_allowed_lateness_corrects_the_window_and_it_is_emitted_again() -> None:
    op = WindowOperator(Tumbling(MIN), allowed_lateness_ms=5 * MIN)
    op.process([("s", 10.0, 1_000)], watermark=0)
    assert _fields(op.advance(2 * MIN), "count", "sum") == [("s", 0, 0, 1, 10.0)]
    assert op.process([("s", 20.0, 2_000)], watermark=2 * MIN) == []
    assert _fields(op.advance(2 * MIN), "count", "sum") == [("s", 0, 1, 2, 30.0)]
    op.process([("s", 30.0, 3_000)], watermark=3 * MIN)
    assert _fields(op.advance(3 * MIN), "sum") == [("s", 0, 2, 60.0)]


def test_a_reading_later_than_allowed_lateness_goes_to_the_late_output_with_how_late_it_was() -> None:
    op = WindowOperator(Tumbling(MIN), allowed_lateness_ms=MIN)
    op.process([("s", 1.0, 1_000)], watermark=0)
    op.advance(2 * MIN)  # window [0, 1 min) is final now and purged
    assert op.open_windows == 0
    late = op.process([("s", 5.0, 2_000)], watermark=2 * MIN)
    assert late == [LateReading("s", 5.0, 2_000, 2 * MIN - 2_000)]
    assert op.advance(3 * MIN) == []


def test_windows_are_kept_per_key() -> None:
    op = WindowOperator(Tumbling(MIN))
    op.process([("a", 1.0, 0), ("b", 5.0, 1), ("a", 3.0, 2)], watermark=0)
    assert sorted(_fields(op.advance(MIN), "sum")) == [("a", 0, 0, 4.0), ("b", 0, 0, 5.0)]


def test_hopping_windows_count_a_reading_in_every_window_containing_it() -> None:
    op = WindowOperator(Hopping(MIN, MIN // 2))
    op.process([("s", 1.0, 40_000)], watermark=0)
    assert [(r.start_ms, r.end_ms) for r in op.advance(2 * MIN)] == [(0, 60_000), (30_000, 90_000)]


def test_daily_windows_aggregate_a_23_hour_dst_day() -> None:
    zone_day = Daily("Europe/Berlin")
    (day,) = zone_day.assign(1_711_843_200_000)  # 2024-03-31 00:00 UTC, 01:00 in Berlin
    op = WindowOperator(zone_day)
    op.process([("m", 1.0, day.start_ms), ("m", 2.0, day.end_ms - 1), ("m", 9.0, day.end_ms)], watermark=0)
    results = op.advance(day.end_ms)
    assert [(r.end_ms - r.start_ms, r.value["sum"]) for r in results] == [(23 * 3_600_000, 3.0)]


def test_session_windows_merge_when_a_reading_bridges_them() -> None:
    op = WindowOperator(Sessions(gap_ms=10_000))
    op.process([("s", 1.0, 0), ("s", 2.0, 15_000)], watermark=0)
    assert op.open_windows == 2
    op.process([("s", 3.0, 8_000)], watermark=0)  # [8 s, 18 s) touches both sessions
    assert op.open_windows == 1
    (session,) = op.advance(25_000)
    assert (session.start_ms, session.end_ms, session.value["count"]) == (0, 25_000, 3)


def test_a_late_reading_merging_emitted_sessions_replaces_them() -> None:
    op = WindowOperator(Sessions(gap_ms=10_000), allowed_lateness_ms=60_000)
    op.process([("s", 1.0, 0), ("s", 2.0, 15_000)], watermark=0)
    first = op.advance(30_000)
    assert [(r.start_ms, r.revision) for r in first] == [(0, 0), (15_000, 0)]
    op.process([("s", 3.0, 8_000)], watermark=30_000)
    (merged,) = op.advance(30_000)
    assert (merged.start_ms, merged.revision, merged.replaces, merged.value["count"]) == (0, 1, (15_000,), 3)


class _Spread(Aggregator[list[float], float]):
    def init(self) -> list[float]:
        return []

    def add(self, acc: list[float], value: float, timestamp_ms: int) -> list[float]:
        return [*acc, value]

    def merge(self, a: list[float], b: list[float]) -> list[float]:
        return a + b

    def result(self, acc: list[float]) -> float:
        return max(acc) - min(acc)


@pytest.mark.parametrize("windows", [Tumbling(MIN), Sessions(gap_ms=MIN)])
def test_user_defined_aggregations_work_in_every_window_type(windows: Any) -> None:
    op = WindowOperator(windows, _Spread())
    op.process([("s", 4.0, 1_000), ("s", 9.0, 2_000)], watermark=0)
    assert [r.value for r in op.advance(10 * MIN)] == [5.0]


@pytest.mark.parametrize(
    "windows",
    [Tumbling(MIN), Hopping(MIN, MIN // 3), Sessions(gap_ms=MIN), Daily("Europe/Berlin")],
    ids=["tumbling", "hopping", "sessions", "daily"],
)
def test_every_window_type_corrects_late_readings_then_sends_later_ones_to_the_late_output(
    windows: Any,
) -> None:
    lateness = 2 * 86_400_000
    op = WindowOperator(windows, allowed_lateness_ms=lateness)
    t0 = 1_711_843_200_000
    ends = [w.end_ms for w in windows.assign(t0)]
    op.process([("s", 1.0, t0)], watermark=0)
    first = op.advance(max(ends))
    assert [(r.revision, r.value["count"]) for r in first] == [(0, 1)] * len(ends)
    assert op.process([("s", 2.0, t0 + 1)], watermark=max(ends)) == []  # late, within lateness
    corrected = op.advance(max(ends) + 1)  # + 1 ms: the late reading also extends a session by 1 ms
    assert [(r.revision, r.value["count"]) for r in corrected] == [(1, 2)] * len(ends)
    final = max(ends) + 10 + lateness  # also past the lone session the last reading would open
    op.advance(final)
    assert op.open_windows == 0
    assert op.process([("s", 3.0, t0 + 2)], watermark=final) == [
        LateReading("s", 3.0, t0 + 2, final - t0 - 2)
    ]

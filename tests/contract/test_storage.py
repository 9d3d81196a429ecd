"""Contract: every time-series storage backend behaves the same."""

from iotstream.models import LateObservation, Observation, WindowAggregate
from iotstream.storage import BaseStorage, Rejected
from tests.contract.storage_reference import Readings, assert_store_holds, remember


def _obs(datastream: str, time_ms: int, result: object, message_id: str | None = None) -> Observation:
    return Observation(datastream, time_ms, result, time_ms + 5, message_id or f"{datastream}@{time_ms}")


def _agg(start_ms: int, total: float, revision: int = 0) -> WindowAggregate:
    return WindowAggregate(
        "m1",
        "1d",
        start_ms,
        start_ms + 86_400_000,
        2,
        total,
        1.0,
        total - 1,
        total / 2,
        1.0,
        total - 1,
        revision,
        99,
    )


def test_readings_are_read_back_in_time_order_and_page_by_page(storage: BaseStorage) -> None:
    storage.write_observations([_obs("t1", t, float(t)) for t in (3_000, 1_000, 2_000, 4_000)])
    storage.write_observations([_obs("t2", 1_500, 9.0)])
    assert [o.result for o in storage.raw("t1", 1_000, 4_000)] == [1_000.0, 2_000.0, 3_000.0]
    first = storage.raw("t1", 0, 10_000, limit=2)
    second = storage.raw("t1", 0, 10_000, limit=2, after_ms=first[-1].phenomenon_time_ms)
    assert [o.phenomenon_time_ms for o in first + second] == [1_000, 2_000, 3_000, 4_000]
    assert first[0] == _obs("t1", 1_000, 1_000.0)


def test_writing_the_same_batch_twice_stores_it_once(storage: BaseStorage) -> None:
    batch = [_obs("t1", t, 1.0) for t in range(0, 10_000, 1_000)]
    storage.write_observations(batch)
    storage.write_observations(batch)
    assert len(storage.raw("t1", 0, 10**6)) == 10


def test_a_retried_post_split_across_two_batches_is_stored_once(storage: BaseStorage) -> None:
    """A client resends its 20 readings after a lost answer, and the sink's batches cut the resend in
    two: the first batch holds the whole post plus 5 repeats (so it is not unique), the second the other
    15 repeats, each already stored but newer than anything stored before the first batch."""
    post = [_obs("TH1", 1_000_000 + i * 900_000, float(i % 7)) for i in range(20)]
    expected: Readings = {}
    for batch in (post + post[:5], post[5:]):
        storage.write_observations(batch)
        remember(expected, batch)
    assert len(storage.raw("TH1", 0, 10**9)) == 20
    assert_store_holds(storage, expected, ["TH1"], 0, 10**9)


def test_within_a_batch_the_last_reading_for_a_time_wins(storage: BaseStorage) -> None:
    storage.write_observations([_obs("t1", 1_000, 1.0, "a"), _obs("t1", 1_000, 2.0, "b")])
    assert [(o.result, o.id) for o in storage.raw("t1", 0, 10_000)] == [(2.0, "b")]


def test_non_numeric_results_round_trip(storage: BaseStorage) -> None:
    results = ["open", True, {"lat": 48.1, "lon": 11.6}, [1, 2], None, 7]
    storage.write_observations([_obs("door", i * 1_000, r) for i, r in enumerate(results)])
    assert [o.result for o in storage.raw("door", 0, 10**6)] == results


def test_bad_rows_are_refused_with_the_reason_and_the_rest_is_stored(storage: BaseStorage) -> None:
    rejected = storage.write_observations(
        [
            _obs("t1", 1_000, 1.0),
            _obs("t1", 2_000, float("nan")),
            _obs("t1", 3_000, float("inf")),
            _obs("", 4_000, 1.0),
            _obs("t1", -5, 1.0),
            _obs("t1", 6_000, 6.0),
            _obs("t1", 7_000, 10**400),
            _obs("t1", 8_000, 2**63 + 1),  # beyond int64 and exact doubles: stored as the nearest double
        ]
    )
    assert [r.position for r in rejected] == [1, 2, 3, 4, 6]
    assert rejected[0] == Rejected(1, "result nan is not a finite number")
    assert "empty datastream" in rejected[2].reason
    assert "outside 1970..9999" in rejected[3].reason
    assert rejected[4].reason == "result is an integer too large to store as a number (over 1.8e308)"
    assert [o.result for o in storage.raw("t1", 0, 10**6)] == [1.0, 6.0, float(2**63)]


def test_a_corrected_window_replaces_the_earlier_result(storage: BaseStorage) -> None:
    storage.write_aggregates([_agg(0, 10.0), _agg(86_400_000, 4.0)])
    storage.write_aggregates([_agg(0, 12.0, revision=1)])
    stored = storage.aggregates("m1", "1d", 0, 10 * 86_400_000)
    assert [(a.start_ms, a.sum, a.revision) for a in stored] == [(0, 12.0, 1), (86_400_000, 4.0, 0)]
    assert stored[0] == _agg(0, 12.0, revision=1)
    assert storage.aggregates("m1", "1h", 0, 10 * 86_400_000) == []


def test_latest_keeps_the_newest_reading_even_when_an_older_one_arrives_later(storage: BaseStorage) -> None:
    storage.write_observations([_obs("a", 5_000, 5.0), _obs("b", 1_000, "on")])
    storage.write_observations([_obs("a", 3_000, 3.0)])  # late and older: not the latest
    latest = storage.latest()
    assert {ds: (o.phenomenon_time_ms, o.result) for ds, o in latest.items()} == {
        "a": (5_000, 5.0),
        "b": (1_000, "on"),
    }
    assert list(storage.latest(["b", "missing"])) == ["b"]


def test_late_readings_are_kept_with_how_late_they_were(storage: BaseStorage) -> None:
    late = [
        LateObservation(_obs("t1", 1_000, 1.0), 90_000, "daily"),
        LateObservation(_obs("t1", 2_000, 2.0), 5, "daily"),
    ]
    storage.write_late(late)
    storage.write_late(late)
    assert storage.late("t1", 0, 10_000) == late

"""A job counts a reading ingestion wrote once while its window can still change, however often it is sent:
a reading is its datastream and time, as in the store."""

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iotstream.log.types import Record
from iotstream.processing import _dedup_journal
from iotstream.processing.dedup import SeenReadings
from iotstream.processing.job import Job
from iotstream.processing.task import Task
from iotstream.processing.windows import Daily, Hopping, Sessions, Tumbling
from iotstream.testing import ListSink, reading_record, run_job

MINUTE = 60_000


def minute_means(lateness_ms: int = 0) -> Job:
    return (
        Job("means", sources=["observations"])
        .window(Tumbling(MINUTE), allowed_lateness_ms=lateness_ms)
        .to("out")
    )


def records(readings: list[tuple[str, float, int, str | None]]) -> list[Record]:
    return [
        reading_record(key, value, time_ms, offset=offset, message_id=message_id)
        for offset, (key, value, time_ms, message_id) in enumerate(readings)
    ]


def sums(sink: ListSink) -> dict[tuple[str, int], Any]:
    return {key: doc["sum"] for key, doc in sink.latest("out").items()}


def test_a_reading_sent_again_is_counted_once_in_the_same_batch_and_in_later_ones() -> None:
    first = [("s1", 1.0, 1_000, "a"), ("s1", 2.0, 2_000, "b"), ("s1", 1.0, 1_000, "a")]
    again = [("s1", 2.0, 2_000, "b"), ("s1", 4.0, 3_000, "c"), ("s1", 1.0, 1_000, "a")]
    sink = run_job(minute_means(), records(first + again), batch_size=2)
    assert sums(sink) == {("s1", 0): 7.0}
    assert sink.late == []


def test_readings_without_a_message_id_are_all_counted() -> None:
    """Records other producers write to a topic: nothing says two equal ones are one reading."""
    sink = run_job(minute_means(), records([("s1", 1.0, 1_000, None), ("s1", 1.0, 1_000, None)]))
    assert sums(sink) == {("s1", 0): 2.0}


def test_the_same_time_under_another_datastream_is_another_reading() -> None:
    sink = run_job(minute_means(), records([("s1", 1.0, 1_000, "x"), ("s2", 5.0, 1_000, "x")]))
    assert sums(sink) == {("s1", 0): 1.0, ("s2", 0): 5.0}


def test_a_correction_at_the_same_time_is_left_to_the_store_and_recompute() -> None:
    """The store takes the correction in place of the first value; counting both would be wrong too."""
    readings = [("s1", 1.0, 1_000, "a"), ("s1", 9.0, 1_000, "b"), ("s1", 2.0, 2_000, "c")]
    assert sums(run_job(minute_means(), records(readings))) == {("s1", 0): 3.0}


def test_readings_behind_the_newest_are_found_wherever_they_fall() -> None:
    readings = [("s1", float(t), t, str(t)) for t in (5_000, 1_000, 3_000, 2_000, 4_000)]
    sink = run_job(minute_means(), records(readings + readings[::-1] + readings), batch_size=3)
    assert sums(sink) == {("s1", 0): 15_000.0}


def test_a_copy_arriving_while_a_closed_window_may_still_be_corrected_changes_nothing() -> None:
    readings = [("s1", 1.0, 1_000, "a"), ("s1", 3.0, 2 * MINUTE, "b"), ("s1", 1.0, 1_000, "a")]
    sink = run_job(minute_means(lateness_ms=5 * MINUTE), records(readings), batch_size=1)
    assert sums(sink) == {("s1", 0): 1.0, ("s1", 2 * MINUTE): 3.0}
    assert [doc["revision"] for doc in sink.topics["out"] if doc["start"] == 0] == [0]  # no correction


def test_ids_are_forgotten_once_the_watermark_leaves_their_windows_behind() -> None:
    """Memory follows the open windows: a day of readings per minute keeps a few minutes of ids."""
    task = Task(minute_means(lateness_ms=MINUTE), 0, {}, clock=lambda: 0.0)
    day = records([("s1", 1.0, second * 1_000, f"id{second}") for second in range(0, 86_400, 10)])
    for start in range(0, len(day), 10):
        task.process(day[start : start + 10])
    # the horizon (2 minutes: window and lateness), a forgetting step and a batch: 30 readings, not 8,640
    assert 0 < len(task._seen) <= 30


def test_the_ids_survive_a_restart_from_a_checkpoint() -> None:
    job = minute_means(lateness_ms=10 * MINUTE)
    before = Task(job, 0, {}, clock=lambda: 0.0)
    before.process(records([("s1", 1.0, 1_000, "a"), ("s1", 2.0, 2_000, "b")]))
    after = Task(job, 0, {}, clock=lambda: 0.0)
    after.restore(before.snapshot())
    copies = [reading_record("s1", 1.0, 1_000, offset=2, message_id="a")]
    fresh = [reading_record("s1", 4.0, 3_000, offset=3, message_id="c")]
    sink = ListSink()
    sink.collect(*after.process(copies + fresh))
    sink.collect(after.finish(), [])
    assert sums(sink) == {("s1", 0): 7.0}


@pytest.mark.parametrize(
    ("job", "horizon_ms"),
    [
        (Job("j", sources=["t"]).map(abs).to("o"), 0),
        (Job("j", sources=["t"]).window(Tumbling(MINUTE), allowed_lateness_ms=5_000), MINUTE + 5_000),
        (Job("j", sources=["t"]).window(Hopping(10 * MINUTE, MINUTE)), 10 * MINUTE),
        (Job("j", sources=["t"]).window(Sessions(30_000), allowed_lateness_ms=1_000), 31_000),
        (Job("j", sources=["t"]).window(Daily("Europe/Berlin")).window(Tumbling(MINUTE)), 25 * 3_600_000),
    ],
)
def test_the_horizon_is_how_long_a_reading_can_still_change_a_window(job: Job, horizon_ms: int) -> None:
    assert job.recount_horizon_ms == horizon_ms


def test_a_job_remembers_only_the_datastreams_it_counts() -> None:
    """A meter job over a busy topic keeps the times of its own datastreams, not of everything."""
    job = Job("j", sources=["observations"], counted={"mine"}.__contains__).window(Tumbling(MINUTE)).to("out")
    task = Task(job, 0, {}, clock=lambda: 0.0)
    readings = [(key, 1.0, t, f"{key}{t}") for t in range(1_000, 11_000, 1_000) for key in ("mine", "other")]
    task.process(records(readings))
    assert len(task._seen) == 10
    sink = run_job(job, records(readings + readings))
    assert sums(sink) == {("mine", 0): 10.0, ("other", 0): 20.0}  # the other's copies: not its job's to drop


OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("count"), st.sampled_from(["s1", "s2", "s3"]), st.integers(0, 150)),
        st.tuples(st.just("watermark"), st.just(""), st.integers(0, 500)),
        st.tuples(st.just("checkpoint"), st.just(""), st.sampled_from([1, 1, 1, 0])),  # 0: a failed save
    ),
    max_size=120,
)


@settings(max_examples=200, deadline=None)
@given(OPERATIONS)
def test_a_journal_restores_exactly_the_times_counted_and_never_writes_much_at_once(
    operations: list[tuple[str, str, int]],
) -> None:
    """Segments of 8 times (64 bytes) instead of 65,536, so that a few readings make many of them, and
    the times in them are packed into many small blocks; a set says what each reading should be."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_dedup_journal, "SEGMENT_BYTES", 64)
        live, written = SeenReadings(horizon_ms=100), {}
        counted: set[tuple[str, int]] = set()
        oldest = -1
        for what, key, number in operations:
            if what == "count":
                first = number < oldest or (key, number) not in counted
                assert live.first_time(key, number) == first
                counted |= {(key, number)} if number >= oldest else set()
            elif what == "watermark":
                live.forget_before(number)
                oldest = max(oldest, number - 100)
            else:
                state, segment = live.journal(watermark_ms=0)
                assert sum(map(len, state["inline"].values())) < 64
                assert len(segment) <= 1
                if number:  # stored: the segments it keeps must all have been written
                    written |= segment
                    live.saved()
                    restored = SeenReadings(horizon_ms=100)
                    restored.restore(state, {name: written[name] for name in state["segments"]})
                    assert _kept(restored) == _kept(live)
        assert _kept(live) == _kept_in(counted, oldest)
        assert len(live) >= sum(map(len, _kept(live).values()))


def _kept_in(counted: set[tuple[str, int]], oldest: int) -> dict[str, list[int]]:
    kept: dict[str, list[int]] = {}
    for key, time_ms in sorted(counted):
        if time_ms >= oldest:
            kept.setdefault(key, []).append(time_ms)
    return kept


def test_a_day_of_steady_readings_kept_after_their_segments_costs_under_a_byte_each() -> None:
    """100 datastreams at 50 readings/s each for an hour (18 M readings would be 144 MB as 8-byte times),
    checkpointed every 2 s as the runner does; a tenth of it here."""
    seen = SeenReadings(horizon_ms=86_400_000)
    for second in range(360):
        for key in range(100):
            for time_ms in range(second * 1_000, second * 1_000 + 1_000, 20):
                seen.first_time(f"s{key}", time_ms)
        if second % 2:
            seen.journal(watermark_ms=second * 1_000)
            seen.saved()
    assert len(seen) == 1_800_000
    assert seen.nbytes() < 1_800_000
    assert not seen.first_time("s7", 123_460)  # in a block: found
    assert seen.first_time("s7", 123_461)  # added to it
    assert not seen.first_time("s7", 123_461)


def _kept(seen: SeenReadings) -> dict[str, list[int]]:
    """What can still make a difference: the times at or after the horizon."""
    oldest = seen._oldest_ms
    kept = {key: [t for t in times if t >= oldest] for key, times in seen.everything().items()}
    return {key: times for key, times in kept.items() if times}

"""Jobs run through the in-package harness: every core step, malformed input, failing user code."""

from typing import Any

import pytest

from iotstream.log.types import Record
from iotstream.processing.job import Job
from iotstream.processing.task import Task
from iotstream.processing.windowing import Event
from iotstream.processing.windows import Tumbling
from iotstream.testing import reading_record, run_job

MIN = 60_000


def _job() -> Job:
    return Job("t", sources=["observations"])


def test_map_filter_and_key_by_transform_values_and_keys() -> None:
    job = (
        _job()
        .filter(lambda v: v > 0)
        .map(lambda v: v * 10)
        .key_by(lambda v: "big" if v > 20 else "small")
        .to("out")
    )
    sink = run_job(job, [("s", 1, 0), ("s", -1, 1), ("s", 3, 2)])
    assert [(d["key"], d["value"], d["time"]) for d in sink.topics["out"]] == [
        ("small", 10, 0),
        ("big", 30, 2),
    ]


def test_flat_map_emits_zero_or_more_events() -> None:
    job = _job().flat_map(lambda e: [(e[0], v, e[2]) for v in range(e[1])]).to("out")
    sink = run_job(job, [("s", 2, 0), ("s", 0, 1)])
    assert [d["value"] for d in sink.topics["out"]] == [0, 1]


def test_process_keeps_state_per_key_like_a_meter_difference() -> None:
    def difference(previous: Any, event: Event) -> tuple[Any, list[Event]]:
        key, value, time = event
        return value, [] if previous is None else [(key, value - previous, time)]

    sink = run_job(
        _job().process(difference).to("out"), [("a", 10, 0), ("b", 5, 1), ("a", 14, 2), ("b", 9, 3)]
    )
    assert [(d["key"], d["value"]) for d in sink.topics["out"]] == [("a", 4), ("b", 4)]


def test_windows_then_further_steps_see_window_results() -> None:
    job = _job().window(Tumbling(MIN)).map(lambda result: result.value["max"]).to("maxima")
    sink = run_job(job, [("s", 3, 0), ("s", 7, 1_000), ("s", 1, MIN)])
    assert [(d["key"], d["value"], d["time"]) for d in sink.topics["maxima"]] == [
        ("s", 7, MIN - 1),
        ("s", 1, 2 * MIN - 1),
    ]


def test_join_table_enriches_from_the_latest_row() -> None:
    from iotstream.processing.job import JoinTable
    from iotstream.processing.operators import compile_step

    tables: dict[str, dict[str, Any]] = {"things": {"s": {"room": "kitchen"}}}
    operator = compile_step(JoinTable("things", lambda v, row: {"v": v, "room": row and row["room"]}), tables)
    from iotstream.processing.operators import TaskOutput

    out = TaskOutput()
    assert operator.apply([("s", 1, 0), ("x", 2, 0)], 0, out) == [
        ("s", {"v": 1, "room": "kitchen"}, 0),
        ("x", {"v": 2, "room": None}, 0),
    ]
    tables["things"]["x"] = {"room": "hall"}  # the table is live: later events see updates
    assert operator.apply([("x", 3, 0)], 0, out)[0][1]["room"] == "hall"


def test_malformed_records_are_rejected_with_the_reason_and_the_rest_goes_on() -> None:
    records = [
        Record("observations", 0, 0, 0, b"s", b"{not json"),
        Record("observations", 0, 1, 0, b"s", b'{"time": "yesterday", "value": 1}'),
        Record("observations", 0, 2, 0, b"s", b'{"time": "2024-01-01T00:00:00", "value": 1}'),
        Record("observations", 0, 3, 0, None, b'{"value": 1}'),
        Record("observations", 0, 4, 0, b"s", b'{"value": "warm"}'),
        reading_record("s", 4.0, 1_000, offset=5),
    ]
    sink = run_job(_job().window(Tumbling(MIN)).to("out"), records)
    assert [d["sum"] for d in sink.topics["out"]] == [4.0]
    assert len(sink.rejected) == 5
    assert sink.rejected[0].startswith("value is not JSON")
    assert "'yesterday' is not ISO-8601" in sink.rejected[1]
    assert "has no time zone" in sink.rejected[2]
    assert "no key" in sink.rejected[3]
    assert "value must be a number to aggregate, got str" in sink.rejected[4]


def test_a_failing_user_function_rejects_only_its_event() -> None:
    sink = run_job(_job().map(lambda v: 10 / v).to("out"), [("s", 2, 0), ("s", 0, 1), ("s", 5, 2)])
    assert [d["value"] for d in sink.topics["out"]] == [5.0, 2.0]
    assert sink.rejected == ["map raised ZeroDivisionError: division by zero"]


@pytest.mark.parametrize("batch_size", [1, 2, 100])
def test_late_readings_come_out_with_how_late_they_were_however_the_log_batches_them(batch_size: int) -> None:
    job = Job("t", sources=["observations"], out_of_orderness_ms=0).window(Tumbling(MIN)).to("out")
    readings = [("s", 1, 0), ("s", 2, 3 * MIN), ("s", 9, 1_000), ("s", 4, 3 * MIN + 5), ("s", 7, 2)]
    sink = run_job(job, readings, batch_size=batch_size)
    assert [(late.value, late.late_by_ms) for late in sink.late] == [(9, 3 * MIN - 1_000), (7, 3 * MIN + 3)]
    assert [d["sum"] for d in sink.topics["out"]] == [1, 6]


def test_a_reading_behind_its_own_batch_is_late_in_a_union_of_topics_too() -> None:
    from iotstream.processing.task import Task

    job = Job("u", sources=["meters", "weather"]).window(Tumbling(MIN)).to("out")
    task = Task(job, 0, {}, clock=lambda: 0.0)
    out, _ = task.process(
        [
            reading_record("s", 1.0, 1_000, topic="meters"),
            reading_record("s", 2.0, 2 * MIN, topic="weather"),
            reading_record("s", 3.0, 2 * MIN, topic="meters", offset=1),
            reading_record("s", 4.0, 2_000, topic="meters", offset=2),  # the first minute is final now
        ]
    )
    assert [(late.value, late.late_by_ms) for _, late in out.late] == [(4.0, 2 * MIN - 2_000)]
    assert [(e[1].start_ms, e[1].value["sum"]) for _, e in out.to_topics] == [(0, 1.0)]


def test_a_task_restored_from_its_snapshot_continues_exactly() -> None:
    from iotstream.processing.task import Task

    job = _job().window(Tumbling(MIN), allowed_lateness_ms=MIN).to("out")
    first = Task(job, 0, {}, clock=lambda: 0.0)
    first.process([reading_record("s", 1.0, 0, offset=0), reading_record("s", 2.0, 1_000, offset=1)])
    restored = Task(job, 0, {}, clock=lambda: 0.0)
    restored.restore(first.snapshot())
    out, _ = restored.process(
        [
            reading_record("s", 2.0, 1_000, offset=1),
            reading_record("s", 5.0, MIN, offset=2),
        ]  # offset 1 replayed
    )
    assert [(r[1].value["count"], r[1].value["sum"]) for _, r in out.to_topics] == [(2, 3.0)]


def test_a_union_of_topics_fires_windows_only_when_every_source_has_passed_them() -> None:
    from iotstream.processing.task import Task

    job = Job("u", sources=["meters", "weather"]).window(Tumbling(MIN)).to("out")
    task = Task(job, 0, {}, clock=lambda: 0.0)
    out, _ = task.process(
        [
            reading_record("s", 1.0, 1_000, topic="meters"),
            reading_record("s", 2.0, 2 * MIN, topic="meters", offset=1),
        ]
    )
    assert out.to_topics == []  # "weather" has said nothing yet: its readings may still be old
    out, _ = task.process(
        [
            reading_record("s", 4.0, 2_000, topic="weather"),
            reading_record("s", 5.0, MIN + 1, topic="weather", offset=1),
        ]
    )
    assert [(e[1].start_ms, e[1].value["sum"]) for _, e in out.to_topics] == [(0, 5.0)]


def test_in_order_releases_each_keys_events_in_event_time_order_once_the_watermark_passes() -> None:
    seen = (
        Job("ordered", sources=["observations"], out_of_orderness_ms=5)
        .in_order()
        .process(lambda state, event: (None, [(event[0], [event[1], event[2]], event[2])]))
        .to("out")
    )
    arrivals = [("a", 1.0, 10), ("a", 2.0, 7), ("b", 9.0, 8), ("a", 3.0, 12), ("a", 4.0, 30), ("a", 5.0, 9)]
    sink = run_job(seen, arrivals, batch_size=1, finish=True)
    order = [(doc["key"], doc["value"][1]) for doc in sink.topics["out"]]
    # 5.0 at 9 arrives after 30 made the watermark 25: it is late, everything else comes sorted
    assert order == [("a", 7), ("b", 8), ("a", 10), ("a", 12), ("a", 30)]
    assert [(late.key, late.timestamp_ms, late.late_by_ms) for late in sink.late] == [("a", 9, 16)]


def test_in_order_per_key_is_neither_held_back_nor_overtaken_by_other_keys() -> None:
    seen = (
        Job("ordered", sources=["observations"], out_of_orderness_ms=5)
        .in_order(per_key=True)
        .process(lambda state, event: (None, [(event[0], event[1], event[2])]))
        .to("out")
    )
    # "ahead" runs a day ahead (a simulator); "a" arrives out of order within 5 ms; "slow" stops early
    arrivals = [("ahead", 0.0, 86_400_000), ("a", 1.0, 10), ("a", 2.0, 7), ("slow", 9.0, 8)]
    arrivals += [("a", 3.0, 16), ("a", 4.0, 30), ("a", 5.0, 9)]
    unfinished = run_job(seen, arrivals, batch_size=1, finish=False)
    assert [(doc["key"], doc["time"]) for doc in unfinished.topics["out"]] == [
        ("a", 7),
        ("a", 10),
        ("a", 16),  # released when 30 arrived: 30 - 5 ≥ 16; 30 itself waits for a's next reading
    ]  # a day ahead, "ahead" neither released "a" early nor made it late
    assert [(late.key, late.timestamp_ms, late.late_by_ms) for late in unfinished.late] == [("a", 9, 16)]
    finished = run_job(seen, arrivals, batch_size=1, finish=True)
    tail = sorted((doc["key"], doc["time"]) for doc in finished.topics["out"][3:])
    assert tail == [("a", 30), ("ahead", 86_400_000), ("slow", 8)]  # the end of input releases all


def test_in_order_per_key_keeps_what_it_holds_across_a_checkpoint() -> None:
    job = (
        Job("ordered", sources=["observations"], out_of_orderness_ms=5)
        .in_order(per_key=True)
        .process(lambda state, event: (None, [event]))
        .to("out")
    )
    first = Task(job, 0, {}, clock=lambda: 0.0)
    first.process([reading_record("a", 1.0, 10), reading_record("a", 2.0, 20, offset=1)])
    second = Task(job, 0, {}, clock=lambda: 0.0)
    second.restore(first.snapshot())
    out, _ = second.process([reading_record("a", 3.0, 12, offset=2), reading_record("a", 4.0, 40, offset=3)])
    assert [event[2] for _, event in out.to_topics] == [20]  # released by 40 (40 - 5 ≥ 20)
    assert [(late.timestamp_ms, late.late_by_ms) for _, late in out.late] == [(12, 3)]  # 10 went out at 15
    assert [event[2] for _, event in second.finish().to_topics] == [40]

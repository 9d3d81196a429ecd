"""Staleness rules on processing-time timers: silence opens an alert, the next reading closes it."""

from typing import Any

import pytest

from iotstream.processing.exceptions import ProcessingConfigError
from iotstream.processing.job import Job
from iotstream.processing.jobs import StalenessSettings
from iotstream.processing.jobs.staleness import staleness_job
from iotstream.processing.task import Task
from iotstream.testing import FakeClock, reading_record

RULE = StalenessSettings(type="staleness", name="quiet", datastreams=["meter-*"], after="1m")
T0 = 1_790_000_000_000  # event time of the readings; the wall clock below starts elsewhere on purpose


class Run:
    """One task of a staleness job, with a wall clock the test moves."""

    def __init__(self, clock: FakeClock, job: Job | None = None) -> None:
        self.clock = clock
        self.job = job or staleness_job(RULE, clock)
        self.task = Task(self.job, 0, {}, clock, wall_clock=clock)
        self.offset = 0

    def send(self, key: str, time_ms: int) -> list[dict[str, Any]]:
        self.offset += 1
        out, rejected = self.task.process([reading_record(key, 1.0, time_ms, offset=self.offset)])
        assert rejected == []
        return [event[1] for _, event in out.to_topics]

    def idle(self, seconds: float) -> list[dict[str, Any]]:
        self.clock.advance(seconds)
        out, _ = self.task.process([])
        return [event[1] for _, event in out.to_topics]


def test_silence_for_the_configured_time_opens_and_the_next_reading_closes() -> None:
    run = Run(FakeClock(1_000_000.0))
    assert run.send("meter-1", T0) == []
    assert run.idle(59) == []
    (opened,) = run.idle(1.5)  # 60.5 s after the last reading arrived
    assert opened | {"last": 0} == {
        "rule": "quiet",
        "kind": "staleness",
        "datastream": "meter-1",
        "event": "open",
        "state": "open",
        "start": T0,
        "last": 0,
        "duration_s": opened["duration_s"],
        "max": None,
        "avg": None,
        "threshold": 60.0,
        "closed_at": None,
    }
    assert opened["last"] == 1_000_060_500  # when the silence was noticed, on the wall clock
    assert run.idle(600) == []  # one alert per silence, however long
    (closed,) = run.send("meter-1", T0 + 700_000)
    assert (closed["event"], closed["state"], closed["start"]) == ("close", "closed", T0)
    assert (closed["closed_at"], closed["last"], closed["duration_s"]) == (T0 + 700_000, T0 + 700_000, 700.0)
    assert run.idle(59) == []
    assert [e["event"] for e in run.idle(2)] == ["open"]  # silent again: a new episode


def test_a_datastream_that_keeps_sending_never_opens_and_others_are_judged_alone() -> None:
    run = Run(FakeClock(1_000_000.0))
    run.send("meter-1", T0)
    run.send("meter-2", T0)
    opened = []
    for minute in range(1, 6):
        opened += run.idle(30)
        opened += run.send("meter-1", T0 + minute * 30_000)
    assert [(e["datastream"], e["event"]) for e in opened] == [("meter-2", "open")]
    assert run.send("pump", T0) == []  # not watched
    assert all(e["datastream"] != "pump" for e in run.idle(3600))


def test_after_a_restart_each_datastream_gets_the_full_time_again() -> None:
    clock = FakeClock(1_000_000.0)
    before = Run(clock)
    before.send("meter-1", T0)
    snapshot = before.task.snapshot()
    clock.advance(3600)  # the platform was down for an hour
    after = Run(clock)
    after.task.restore(snapshot)
    assert after.idle(0.1) == []
    assert after.idle(59) == []
    (opened,) = after.idle(1)
    assert (opened["event"], opened["start"]) == ("open", T0)


def test_a_timer_that_raises_is_rejected_once_and_not_retried() -> None:
    clock = FakeClock(0.0)

    def explode(state: Any, key: str, now_ms: int) -> tuple[Any, list[Any]]:
        raise RuntimeError("boom")

    job = Job("t", sources=["observations"]).process(
        lambda state, event: (event[2], []), timer=lambda state: 1_000, on_timer=explode
    )
    task = Task(job, 0, {}, clock, wall_clock=clock)
    task.process([reading_record("s", 1.0, 5)])
    clock.advance(2)
    out, _ = task.process([])
    assert [reason for _, reason in out.rejected] == ["on_timer raised RuntimeError: boom"]
    assert task.process([])[0].rejected == []


def test_a_timer_needs_both_callbacks() -> None:
    with pytest.raises(ProcessingConfigError, match="needs both `timer` and `on_timer`"):
        Job("t", sources=["observations"]).process(lambda state, event: (state, []), timer=lambda s: 0)

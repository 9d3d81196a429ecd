"""The join's two jobs on the real log: killed without saving their state and restarted, they emit the
pairs of an uninterrupted run, every repeat under the id it had the first time."""

import random
from pathlib import Path
from typing import Any

import msgspec
import pytest

from iotstream.log import BaseLog, TopicPartition, TopicSpec, open_log
from iotstream.log.partitioner import partition_for
from iotstream.processing.jobs import JoinSettings
from iotstream.processing.jobs.join import join_jobs
from iotstream.processing.runner import JobRunner
from iotstream.testing import FakeClock

pytestmark = pytest.mark.slow

Reading = tuple[str, float, int]
BASE = 1_700_000_000_000
END = BASE + 10**7  # a last reading of each datastream, far later: every real one is passed on
SPEC = JoinSettings.model_validate(
    {
        "type": "join",
        "name": "pairing",
        "left": ["a2"],
        "right": ["b"],
        "mode": "neighbours",
        "out_of_orderness": "2s",
        "allowed_lateness": "2s",
        "idle_timeout": "10m",  # wall clock: nothing turns idle during the test
    }
)


class _Mortal(JobRunner):
    """A runner whose process dies: `crash` stops it without saving its state, as a kill would.
    (What it produced stays in the log, the worst case: it is produced again after the restart.)"""

    dead = False

    def checkpoint(self, only: set[int] | None = None) -> None:
        if not self.dead:
            super().checkpoint(only)

    def crash(self) -> None:
        self.dead = True
        self.close()


def _readings() -> list[Reading]:
    """a2 and b on different partitions, x (joined by nothing) beside b, disordered within 1.5 s; one
    reading of b late by far more than the allowed lateness; and the last readings at END."""
    assert partition_for(b"a2", 2) != partition_for(b"b", 2) == partition_for(b"x", 2)
    rng = random.Random(5)
    readings = [("a2", float(i), BASE + i * 700) for i in range(300)]
    readings += [("b", float(i), BASE + i * 1_100 + 50) for i in range(190)]
    readings += [("x", 0.0, BASE + i * 500) for i in range(400)]
    readings.sort(key=lambda r: r[2] + rng.randint(0, 1_500))
    later = next(i for i, r in enumerate(readings) if r[2] > BASE + 150_000)
    return [
        *readings[:later],
        ("b", -1.0, BASE + 60_000),
        *readings[later:],
        ("a2", 0.0, END),
        ("b", 0.0, END),
    ]


def _produce(log: BaseLog, readings: list[Reading]) -> None:
    with log.producer() as producer:
        for key, value, time_ms in readings:
            body = msgspec.json.encode({"datastream": key, "time": time_ms, "value": value})
            producer.produce("observations", body, key.encode(), timestamp_ms=time_ms)
        assert producer.flush(60) == 0


def _run(tmp_path: Path, crash_first: set[int], crash_second: set[int]) -> tuple[list[Any], list[Any]]:
    """Feed the readings in chunks; every third chunk both jobs checkpoint; after the chunks listed,
    a job dies and starts again. Returns the records of the output topic and of the late topic."""
    with open_log(f"sqlite:///{tmp_path}/log.db", maintenance_interval_ms=0) as log:
        log.create_topic(TopicSpec("observations", partitions=2))
        for topic in ("observations.late", "observations.deadletter", SPEC.sides_topic, SPEC.out_topic):
            log.create_topic(TopicSpec(topic, partitions=1))
        clock = FakeClock()  # the runners' clock: it says when to checkpoint
        runners = [_start(log, tmp_path, clock, stage) for stage in (0, 1)]
        readings = _readings()
        for chunk, start in enumerate(range(0, len(readings), 20)):
            _produce(log, readings[start : start + 20])
            if chunk % 3 == 0:
                clock.advance(1)  # both checkpoint at their next step
            _drain(runners)
            for stage, crashes in enumerate((crash_first, crash_second)):
                if chunk in crashes:
                    runners[stage].crash()
                    runners[stage] = _start(log, tmp_path, clock, stage)
        _drain(runners)
        for runner in runners:
            runner.close()
        assert _records(log, "observations.deadletter") == []
        return _records(log, SPEC.out_topic), _records(log, "observations.late")


def _start(log: BaseLog, tmp_path: Path, clock: FakeClock, stage: int) -> _Mortal:
    job = join_jobs(SPEC)[stage]
    return _Mortal(job, log, tmp_path / "state", checkpoint_interval_ms=1_000, max_batch=50, clock=clock)


def _drain(runners: list[_Mortal]) -> None:
    """Step both jobs until neither has anything left to read."""
    quiet = 0
    while quiet < 3 or not all(runner.assigned for runner in runners):
        quiet = 0 if sum(runner.step(timeout_s=0.02) for runner in runners) else quiet + 1


def _records(log: BaseLog, topic: str) -> list[Any]:
    consumer = log.consumer()
    consumer.assign([TopicPartition(topic, 0)])
    records = []
    while batch := consumer.poll(max_records=10_000, timeout_s=0.3):
        records += batch
    consumer.close()
    return records


def _pairs(records: list[Any]) -> dict[str, str]:
    """Output id → the pair as canonical JSON."""
    pairs: dict[str, str] = {}
    for record in records:
        pair = msgspec.json.decode(record.value)["value"]
        pairs[dict(record.headers)["id"].decode()] = msgspec.json.encode(pair, order="sorted").decode()
    return pairs


def _expected() -> set[str]:
    """Neighbours by brute force over the readings the first job passes on (not the late one), for the
    pairs whose later reading is before the frontier both datastreams reach (their last before END)."""
    passed = [r for r in _readings() if r[1] != -1.0 and r[2] < END]
    lefts, rights = [r for r in passed if r[0] == "a2"], [r for r in passed if r[0] == "b"]
    frontier = min(max(r[2] for r in lefts), max(r[2] for r in rights))

    def nearest(others: list[Reading], time_ms: int) -> set[int | None]:
        before = max((r[2] for r in others if r[2] <= time_ms), default=None)
        return {before, min((r[2] for r in others if r[2] >= time_ms), default=None)}

    pairs = set()
    for left in lefts:
        for right in rights:
            near = right[2] in nearest(rights, left[2]) or left[2] in nearest(lefts, right[2])
            if near and max(left[2], right[2]) < frontier:
                document = {
                    "left": {"datastream": "a2", "time": left[2], "value": left[1]},
                    "right": {"datastream": "b", "time": right[2], "value": right[1]},
                }
                pairs.add(msgspec.json.encode(document, order="sorted").decode())
    return pairs


@pytest.mark.crash
def test_join_jobs_killed_without_their_state_emit_the_pairs_of_an_uninterrupted_run(tmp_path: Path) -> None:
    out, late = _run(tmp_path / "calm", set(), set())
    expected = _expected()
    assert len(expected) > 400
    assert set(_pairs(out).values()) == expected
    assert len(out) == len(expected)  # each pair once

    killed_out, killed_late = _run(tmp_path / "killed", {4, 10, 23, 37}, {5, 10, 19, 30})
    pairs = _pairs(killed_out)
    assert len(killed_out) > len(expected)  # the restarts did emit pairs again
    assert len(pairs) == len(set(pairs.values()))  # but each under one id: a sink stores it once
    assert pairs == _pairs(out)

    def late_readings(records: list[Any]) -> set[tuple[Any, ...]]:
        return {(r.key, msgspec.json.decode(r.value)["value"], dict(r.headers)["job"]) for r in records}

    assert late_readings(killed_late) == late_readings(late) == {(b"b", -1.0, b"pairing")}

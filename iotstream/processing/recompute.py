"""Re-deriving a job's results for a past range from the stored readings.

History loaded after the fact (an import, a site's backlog) reaches a job behind its watermark: too
late for every window, so it is reported late and counted nowhere, and the store holds readings whose
days, differences and alerts were never computed. `recompute` runs the job's stages again over the
stored readings of the range, offline and in event-time order, and writes what they derive to the job's
result topics under the ids the live job gives them: the sinks replace the earlier results.

The range grows to whole windows, and by one window before it, so a day's difference finds the day
before (and one after, when it is over, whose difference needs the range's last day). Stages pass
their outputs to each other in memory; only results leave. Jobs with processing-time timers
(staleness, joins) have nothing to recompute from history and are refused; the API recomputes daily
meter jobs only, as an alert episode may reach over either end of a range.
"""

import heapq
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

from iotstream.log.topics import OBSERVATIONS
from iotstream.log.types import Record
from iotstream.models import Observation
from iotstream.processing.codec import encode_event, event_id
from iotstream.processing.exceptions import ProcessingConfigError
from iotstream.processing.job import Job, Process, Window
from iotstream.processing.task import Task
from iotstream.processing.windowing import Event

__all__ = ["RECOMPUTED", "Produce", "ReadingsBetween", "Recomputed", "recompute", "widened"]

RECOMPUTED = ("recomputed", b"1")  # a header on every result, so notifications can leave them out
_BATCH = 10_000
_encode = msgspec.json.Encoder().encode

ReadingsBetween = Callable[[str, int, int], Iterator[Observation]]  # key, start, end → in time order
Produce = Callable[[str, bytes, bytes, list[tuple[str, bytes]], int], None]  # topic, value, key, headers, ms


@dataclass(frozen=True)
class Recomputed:
    start_ms: int  # the range read, widened to whole windows
    end_ms: int
    readings: int
    results: int


def widened(jobs: list[Job], start_ms: int, end_ms: int, until_ms: int | None = None) -> tuple[int, int]:
    """The range as whole windows of the first stage, from the window before `start_ms` (a day's
    difference needs the day before) to the window after `end_ms` (whose difference needs the range's
    last day) when that one is over by `until_ms`."""
    windows = next((s.windows for s in jobs[0].steps if isinstance(s, Window)), None)
    if windows is None:
        return start_ms, end_ms
    first = windows.assign(windows.assign(start_ms)[0].start_ms - 1)[0]
    last = windows.assign(end_ms - 1)[-1]
    after = windows.assign(last.end_ms)[-1]
    return first.start_ms, after.end_ms if until_ms is not None and after.end_ms <= until_ms else last.end_ms


def recompute(
    jobs: list[Job],
    keys: Iterable[str],
    readings_between: ReadingsBetween,
    produce: Produce,
    start_ms: int,
    end_ms: int,
    tables: dict[str, dict[str, Any]] | None = None,
    until_ms: int | None = None,
) -> Recomputed:
    """Run `jobs` (one configured job's stages, the first reading `observations`) over the stored
    readings of `keys` in [start_ms, end_ms) widened (up to `until_ms`, now), and `produce` their
    results."""
    _check(jobs)
    start_ms, end_ms = widened(jobs, start_ms, end_ms, until_ms)
    stages = _Stages(jobs, tables or {}, produce)
    merged = heapq.merge(
        *(readings_between(key, start_ms, end_ms) for key in keys), key=lambda r: r.phenomenon_time_ms
    )
    count, batch = 0, []
    for reading in merged:
        batch.append(reading)
        if len(batch) == _BATCH:
            stages.feed(batch)
            count, batch = count + len(batch), []
    stages.feed(batch)
    stages.finish()
    return Recomputed(start_ms, end_ms, count + len(batch), stages.results)


def _check(jobs: list[Job]) -> None:
    if not jobs or OBSERVATIONS not in jobs[0].sources:
        raise ProcessingConfigError("only a job that reads the readings (`observations`) can be recomputed")
    if any(isinstance(step, Process) and step.timer is not None for job in jobs for step in job.steps):
        raise ProcessingConfigError(
            f"job {jobs[0].name!r} acts on processing time (its timers), which history does not replay;"
            " only jobs on event time (daily meters, thresholds) can be recomputed"
        )


class _Stages:
    """The stages as one pipeline: a stage's output to a topic a later stage reads goes straight in."""

    def __init__(self, jobs: list[Job], tables: dict[str, dict[str, Any]], produce: Produce) -> None:
        self._tasks = [(job, Task(job, 0, tables, clock=lambda: 0.0)) for job in jobs]
        self._read_by = {topic: index for index, job in enumerate(jobs) for topic in job.sources}
        self._offsets = [0] * len(jobs)
        self._produce = produce
        self.results = 0

    def feed(self, readings: list[Observation]) -> None:
        records = [
            self._record(0, OBSERVATIONS, r.datastream, _reading_body(r), r.phenomenon_time_ms)
            for r in readings
        ]
        self._run(0, records, finish=False)

    def finish(self) -> None:
        for index in range(len(self._tasks)):
            self._run(index, [], finish=True)

    def _run(self, index: int, records: list[Record], finish: bool) -> None:
        job, task = self._tasks[index]
        out, _ = task.process(records)
        events = out.to_topics + (task.finish().to_topics if finish else [])
        passed_on: dict[int, list[Record]] = {}
        for topic, event in events:
            later = self._read_by.get(topic, -1)
            if later > index:
                passed_on.setdefault(later, []).append(self._event_record(later, topic, event))
            else:
                self._emit(job.name, topic, event)
        for later, batch in sorted(passed_on.items()):
            self._run(later, batch, finish=False)

    def _emit(self, job: str, topic: str, event: Event) -> None:
        headers = [("id", event_id(job, event).encode()), RECOMPUTED]
        self._produce(topic, encode_event(event), event[0].encode(), headers, event[2])
        self.results += 1

    def _event_record(self, index: int, topic: str, event: Event) -> Record:
        return self._record(index, topic, event[0], encode_event(event), event[2])

    def _record(self, index: int, topic: str, key: str, value: bytes, time_ms: int) -> Record:
        offset = self._offsets[index]
        self._offsets[index] += 1
        return Record(topic, 0, offset, time_ms, key.encode(), value)


def _reading_body(reading: Observation) -> bytes:
    return _encode(
        {"datastream": reading.datastream, "time": reading.phenomenon_time_ms, "value": reading.result}
    )

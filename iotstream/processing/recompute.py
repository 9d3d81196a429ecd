"""Re-deriving a job's results for a past range from the stored readings.

History loaded after the fact (an import, a site's backlog) reaches a job behind its watermark: too
late for every window, so it is reported late and counted nowhere, and the store holds readings whose
days, differences and alerts were never computed. `recompute` runs the job's stages again over the
stored readings of each datastream's range, offline and in event-time order, and writes what they
derive to the job's result topics under the ids the live job gives them: the sinks replace the earlier
results.

Where a replay starts and stops depends on the job. A window job's range grows to whole windows, and
by one window before it, so a day's difference finds the day before (and one after, when it is over,
whose difference needs the range's last day): `widened`. An alert rule's episode may begin before the
range and end after it, so each datastream is replayed from the last reading before the range that
leaves no episode open to the first such reading after it: `episode_ranges`. Stored episodes that
began in that stretch and that the replay no longer gives (one that, with the history, began earlier)
are retracted. Stages pass their outputs to each other in memory; only results leave. Jobs with
processing-time timers (staleness, joins) have nothing to recompute from history and are refused.
"""

import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from iotstream.log.topics import ALERTS, OBSERVATIONS
from iotstream.log.types import Record
from iotstream.models import RETRACTED, Alert, Observation
from iotstream.processing.codec import encode_event, event_id
from iotstream.processing.exceptions import ProcessingConfigError
from iotstream.processing.job import Job, Process, Window
from iotstream.processing.task import Task
from iotstream.processing.windowing import Event

__all__ = [
    "RECOMPUTED",
    "Produce",
    "ReadingsBetween",
    "Recomputed",
    "episode_ranges",
    "recompute",
    "widened",
]

RECOMPUTED = ("recomputed", b"1")  # a header on every result, so notifications can leave them out
_BATCH = 10_000
_LOOK_BACK_MS = 86_400_000  # the first step back from the range; doubled until a settled reading
_encode = msgspec.json.Encoder().encode

ReadingsBetween = Callable[[str, int, int], Iterator[Observation]]  # key, start, end → in time order
Produce = Callable[[str, bytes, bytes, list[tuple[str, bytes]], int], None]  # topic, value, key, headers, ms
Ranges = Mapping[str, tuple[int, int]]  # stream key → [start, end) of the readings to replay
StoredEpisodes = Callable[[str, int, int], Iterable[Alert]]  # key, start, end → the job's episodes begun


@dataclass(frozen=True)
class Recomputed:
    start_ms: int  # the readings replayed, from the earliest range's start to the latest's end
    end_ms: int
    readings: int
    results: int
    retracted: int = 0  # stored alert episodes the replay no longer gives


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


def episode_ranges(
    ends: Callable[[str, Any], bool],
    readings_between: ReadingsBetween,
    keys: Iterable[str],
    start_ms: int,
    end_ms: int,
    until_ms: int,
) -> dict[str, tuple[int, int]]:
    """Each datastream's replay for an alert rule: from its last reading before `start_ms` that `ends`
    every episode (the beginning of time when none does) to just after its first such reading at or
    after `end_ms` (`until_ms`, now, when none does yet)."""
    return {
        key: (
            _settled_before(ends, readings_between, key, start_ms),
            _settled_after(ends, readings_between, key, end_ms, until_ms),
        )
        for key in keys
    }


def _settled_before(
    ends: Callable[[str, Any], bool], between: ReadingsBetween, key: str, start_ms: int
) -> int:
    high, span = start_ms, _LOOK_BACK_MS
    while high > 0:
        low = max(high - span, 0)
        settled = [r.phenomenon_time_ms for r in between(key, low, high) if ends(key, r.result)]
        if settled:
            return settled[-1]
        high, span = low, span * 2
    return 0


def _settled_after(
    ends: Callable[[str, Any], bool], between: ReadingsBetween, key: str, end_ms: int, until_ms: int
) -> int:
    settled = next(
        (r.phenomenon_time_ms for r in between(key, end_ms, until_ms) if ends(key, r.result)), None
    )
    return max(until_ms, end_ms) if settled is None else settled + 1


def recompute(
    jobs: list[Job],
    ranges: Ranges,
    readings_between: ReadingsBetween,
    produce: Produce,
    tables: dict[str, dict[str, Any]] | None = None,
    stored_episodes: StoredEpisodes | None = None,
) -> Recomputed:
    """Run `jobs` (one configured job's stages, the first reading `observations`) over the stored
    readings of each key in its range, and `produce` their results. With `stored_episodes` (an alert
    rule's), the episodes begun in a range that the replay does not give again are retracted."""
    _check(jobs)
    if not ranges:
        return Recomputed(0, 0, 0, 0)
    stages = _Stages(jobs, tables or {}, produce)
    merged = heapq.merge(
        *(readings_between(key, *span) for key, span in ranges.items()), key=lambda r: r.phenomenon_time_ms
    )
    count, batch = 0, []
    for reading in merged:
        batch.append(reading)
        if len(batch) == _BATCH:
            stages.feed(batch)
            count, batch = count + len(batch), []
    stages.feed(batch)
    stages.finish()
    retracted = 0 if stored_episodes is None else stages.retract(ranges, stored_episodes)
    start_ms, end_ms = min(s for s, _ in ranges.values()), max(e for _, e in ranges.values())
    return Recomputed(start_ms, end_ms, count + len(batch), stages.results, retracted)


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
        self._episodes: set[tuple[str, int]] = set()  # (datastream, start) of the alerts given
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
        self._send(job, topic, event)
        self.results += 1
        if topic == ALERTS:
            self._episodes.add((event[1]["datastream"], event[1]["start"]))

    def _send(self, job: str, topic: str, event: Event) -> None:
        headers = [("id", event_id(job, event).encode()), RECOMPUTED]
        self._produce(topic, encode_event(event), event[0].encode(), headers, event[2])

    def retract(self, ranges: Ranges, stored_episodes: StoredEpisodes) -> int:
        """Retract the stored episodes begun in the ranges that the replay did not give."""
        job = self._tasks[-1][0].name
        retracted = 0
        for key, (start_ms, end_ms) in ranges.items():
            for episode in stored_episodes(key, start_ms, end_ms):
                if (episode.datastream, episode.start_ms) not in self._episodes:
                    self._send(job, ALERTS, _retraction(episode))
                    retracted += 1
        return retracted

    def _event_record(self, index: int, topic: str, event: Event) -> Record:
        return self._record(index, topic, event[0], encode_event(event), event[2])

    def _record(self, index: int, topic: str, key: str, value: bytes, time_ms: int) -> Record:
        offset = self._offsets[index]
        self._offsets[index] += 1
        return Record(topic, 0, offset, time_ms, key.encode(), value)


def _retraction(episode: Alert) -> Event:
    document = {
        "rule": episode.rule,
        "datastream": episode.datastream,
        "event": "retract",
        "state": RETRACTED,
        "start": episode.start_ms,
        "last": episode.last_ms,
    }
    return episode.datastream, document, episode.last_ms


def _reading_body(reading: Observation) -> bytes:
    return _encode(
        {"datastream": reading.datastream, "time": reading.phenomenon_time_ms, "value": reading.result}
    )

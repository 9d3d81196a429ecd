"""Test doubles shipped with the package, so jobs can be unit tested without a log or a clock.

Example:
    >>> from iotstream.processing.job import Job
    >>> from iotstream.processing.windows import Tumbling
    >>> job = Job("demo", sources=["observations"]).window(Tumbling(60_000)).to("out")
    >>> sink = run_job(job, [("s1", 1.0, 0), ("s1", 3.0, 1_000)])
    >>> [(doc["key"], doc["avg"]) for doc in sink.topics["out"]]
    [('s1', 2.0)]
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from iotstream.log.partitioner import partition_for
from iotstream.log.types import Record
from iotstream.processing.codec import encode_event
from iotstream.processing.job import Job
from iotstream.processing.operators import TaskOutput
from iotstream.processing.task import Task
from iotstream.processing.windowing import LateReading

__all__ = ["FakeClock", "ListSink", "reading_record", "run_job"]


class FakeClock:
    """A monotonic clock that moves only when told; pass it where a `clock` callable is accepted.

    >>> clock = FakeClock(); clock.advance(2.5); clock()
    2.5
    """

    def __init__(self, start_s: float = 0.0) -> None:
        self.now_s = start_s

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


@dataclass
class ListSink:
    """Everything a job produced, decoded: per topic the JSON documents, plus late and rejected."""

    topics: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    late: list[LateReading] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    def collect(self, out: TaskOutput, rejected: list[tuple[Record, str]]) -> None:
        for topic, event in out.to_topics:
            self.topics.setdefault(topic, []).append(msgspec.json.decode(encode_event(event)))
        self.late += [late for _, late in out.late]
        self.rejected += [reason for _, reason in rejected] + [reason for _, reason in out.rejected]

    def latest(self, topic: str) -> dict[tuple[str, int], dict[str, Any]]:
        """Window results as an upserting sink keeps them: the last revision per (key, start)."""
        return {(doc["key"], doc["start"]): doc for doc in self.topics.get(topic, [])}


def reading_record(
    key: str,
    value: Any,
    time_ms: int,
    *,
    topic: str = "observations",
    partition: int = 0,
    offset: int = 0,
    message_id: str | None = None,
) -> Record:
    """A record as ingestion writes it: keyed by datastream, JSON value with time, value and (when
    given) the message id."""
    document = {"datastream": key, "time": time_ms, "value": value}
    body = msgspec.json.encode(document if message_id is None else document | {"id": message_id})
    return Record(topic, partition, offset, time_ms, key.encode(), body)


def run_job(
    job: Job,
    readings: Iterable[tuple[str, Any, int] | Record],
    *,
    partitions: int = 1,
    batch_size: int = 100,
    finish: bool = True,
) -> ListSink:
    """Run `job` over readings `(key, value, time_ms)` (or records) in batches, as the runner would."""
    tables: dict[str, dict[str, Any]] = {}
    tasks = {p: Task(job, p, tables, clock=lambda: 0.0) for p in range(partitions)}
    offsets: dict[int, int] = {}
    batches: dict[int, list[Record]] = {p: [] for p in range(partitions)}
    sink = ListSink()
    for item in readings:
        record = item if isinstance(item, Record) else _record(job, item, partitions, offsets)
        batch = batches[record.partition]
        batch.append(record)
        if len(batch) >= batch_size:
            sink.collect(*tasks[record.partition].process(batch))
            batches[record.partition] = []
    for number, batch in batches.items():
        sink.collect(*tasks[number].process(batch))
        if finish:
            sink.collect(tasks[number].finish(), [])
    return sink


def _record(job: Job, item: tuple[str, Any, int], partitions: int, offsets: dict[int, int]) -> Record:
    key, value, time_ms = item
    partition = partition_for(key.encode(), partitions)
    offset = offsets[partition] = offsets.get(partition, -1) + 1
    return reading_record(key, value, time_ms, topic=job.sources[0], partition=partition, offset=offset)

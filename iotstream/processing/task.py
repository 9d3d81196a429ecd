"""One task of a job: partition N of every source topic, with its own operators, watermark and state.

Like Kafka Streams, work is split by partition number, so a key's readings always meet the same
window state, and a task moves between processes as a whole (state + positions) on rebalance.
"""

from collections.abc import Callable
from typing import Any

from iotstream.log.types import Record, TopicPartition
from iotstream.processing.codec import decode
from iotstream.processing.job import Job
from iotstream.processing.operators import TaskOutput, compile_step
from iotstream.processing.watermark import Watermarks

__all__ = ["Task"]

_END_OF_TIME = 2**62


class Task:
    def __init__(
        self, job: Job, partition: int, tables: dict[str, dict[str, Any]], clock: Callable[[], float]
    ) -> None:
        self.partition = partition
        self._sources = {topic: index for index, topic in enumerate(job.sources)}
        self.watermarks = Watermarks(job.out_of_orderness_ms, job.idle_timeout_ms, clock)
        for index in self._sources.values():
            self.watermarks.assign(index)
        self._operators = [compile_step(step, tables) for step in job.steps]
        self._positions: dict[str, int] = {}  # source topic → next offset not yet in the state

    @property
    def positions(self) -> dict[TopicPartition, int]:
        return {TopicPartition(topic, self.partition): offset for topic, offset in self._positions.items()}

    def process(self, records: list[Record]) -> tuple[TaskOutput, list[tuple[Record, str]]]:
        """Run one batch; return the outputs and the records rejected with their reason."""
        before = self.watermarks.current()
        events, rejected = self._decode(records)
        after = self.watermarks.current()
        out = TaskOutput()
        for operator in self._operators:
            events = operator.apply(events, before, out)
            events = [*events, *operator.flush(after, out)]
        return out, rejected

    def finish(self) -> TaskOutput:
        """The input is over (a bounded backfill, a test): close every window that is still open."""
        out = TaskOutput()
        events: list[Any] = []
        for operator in self._operators:
            events = operator.apply(events, _END_OF_TIME, out)
            events = [*events, *operator.flush(_END_OF_TIME, out)]
        return out

    def _decode(self, records: list[Record]) -> tuple[list[Any], list[tuple[Record, str]]]:
        if len(self._sources) == 1 and records:
            return self._decode_one_source(records)
        events = []
        rejected = []
        newest: dict[int, int] = {}
        positions = self._positions
        for record in records:
            if record.offset < positions.get(record.topic, 0):
                continue  # already part of the restored state: replaying it would count it twice
            positions[record.topic] = record.offset + 1
            event = decode(record)
            if isinstance(event, str):
                rejected.append((record, event))
                continue
            events.append(event)
            source = self._sources[record.topic]
            if event[2] > newest.get(source, -(2**63)):
                newest[source] = event[2]
        for source, event_ms in newest.items():
            self.watermarks.observe(source, event_ms)
        return events, rejected

    def _decode_one_source(self, records: list[Record]) -> tuple[list[Any], list[tuple[Record, str]]]:
        """The common case: one topic, offsets in order, so positions are checked once per batch."""
        topic = records[0].topic
        position = self._positions.get(topic, 0)
        if records[0].offset < position:
            records = [r for r in records if r.offset >= position]  # skip what the restored state holds
            if not records:
                return [], []
        self._positions[topic] = records[-1].offset + 1
        events = []
        rejected = []
        newest = -(2**63)
        for record in records:
            event = decode(record)
            if isinstance(event, str):
                rejected.append((record, event))
                continue
            events.append(event)
            if event[2] > newest:
                newest = event[2]
        if events:
            self.watermarks.observe(0, newest)
        return events, rejected

    def snapshot(self) -> dict[str, Any]:
        return {
            "positions": dict(self._positions),
            "max_event_ms": {i: self.watermarks.max_event_ms(i) for i in self._sources.values()},
            "operators": [operator.snapshot() for operator in self._operators],
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        self._positions = dict(snapshot["positions"])
        for source, event_ms in snapshot["max_event_ms"].items():
            self.watermarks.assign(int(source), event_ms)
        for operator, state in zip(self._operators, snapshot["operators"], strict=True):
            if state is not None:
                operator.restore(state)

"""One task of a job: partition N of every source topic, with its own operators, watermark and state.

Like Kafka Streams, work is split by partition number, so a key's readings always meet the same
window state, and a task moves between processes as a whole (state + positions) on rebalance.
"""

import time
from collections.abc import Callable
from typing import Any

from iotstream.log.types import Record, TopicPartition
from iotstream.processing.codec import decode
from iotstream.processing.job import Job
from iotstream.processing.operators import TaskOutput, compile_step
from iotstream.processing.watermark import END_OF_INPUT, Watermarks

__all__ = ["Task"]

_Chunk = tuple[list[Any], dict[int, int]]  # events, and the newest event time per source among them


class Task:
    def __init__(
        self,
        job: Job,
        partition: int,
        tables: dict[str, dict[str, Any]],
        clock: Callable[[], float],
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.partition = partition
        self._sources = {topic: index for index, topic in enumerate(job.sources)}
        self.watermarks = Watermarks(job.out_of_orderness_ms, job.idle_timeout_ms, clock)
        self._out_of_orderness_ms = job.out_of_orderness_ms
        for index in self._sources.values():
            self.watermarks.assign(index)
        self._operators = [compile_step(step, tables, wall_clock) for step in job.steps]
        self._positions: dict[str, int] = {}  # source topic → next offset not yet in the state

    @property
    def positions(self) -> dict[TopicPartition, int]:
        return {TopicPartition(topic, self.partition): offset for topic, offset in self._positions.items()}

    def process(self, records: list[Record]) -> tuple[TaskOutput, list[tuple[Record, str]]]:
        """Run one batch; return the outputs and the records rejected with their reason.

        A reading is judged late against the watermark of everything read *before it*, not before its
        batch, so results never depend on how the log happened to batch the records: the batch is cut
        into chunks before each reading that is behind the event time seen so far.
        """
        out = TaskOutput()
        chunks, rejected = self._decode(records)
        for events, newest in chunks or [([], {})]:  # an empty batch still fires idle windows
            before = self.watermarks.current()
            for source, event_ms in newest.items():
                self.watermarks.observe(source, event_ms)
            self._run(events, before, self.watermarks.current(), out)
        return out, rejected

    def _run(self, events: list[Any], before: int, after: int, out: TaskOutput) -> None:
        for operator in self._operators:
            events = operator.apply(events, before, out)
            events = [*events, *operator.flush(after, out)]

    def finish(self) -> TaskOutput:
        """The input is over (a bounded backfill, a test): close every window that is still open."""
        out = TaskOutput()
        self._run([], END_OF_INPUT, END_OF_INPUT, out)
        return out

    def _decode(self, records: list[Record]) -> tuple[list[_Chunk], list[tuple[Record, str]]]:
        """Events in chunks, each with the newest event time per source it holds."""
        chunks: list[_Chunk] = []
        rejected = []
        positions, sources = self._positions, self._sources
        one_source = len(sources) == 1 and records
        if one_source and records[0].offset < positions.get(records[0].topic, 0):
            records = [r for r in records if r.offset >= positions[records[0].topic]]
        ahead = {s: self.watermarks.max_event_ms(s) for s in sources.values()}
        floor = {s: -(2**63) if ms is None else ms - self._out_of_orderness_ms for s, ms in ahead.items()}
        events: list[Any] = []
        newest: dict[int, int] = {}
        for record in records:
            if not one_source:
                if record.offset < positions.get(record.topic, 0):
                    continue  # already part of the restored state: replaying it would count it twice
                positions[record.topic] = record.offset + 1
            event = decode(record)
            if isinstance(event, str):
                rejected.append((record, event))
                continue
            source, event_ms = sources[record.topic], event[2]
            if event_ms < floor[source] and events:  # behind: judge it after what came before
                chunks.append((events, newest))
                events, newest = [], {}
            events.append(event)
            if event_ms > newest.get(source, -(2**63)):
                newest[source] = event_ms
                floor[source] = max(floor[source], event_ms - self._out_of_orderness_ms)
        if one_source and records:
            positions[records[0].topic] = records[-1].offset + 1
        if events:
            chunks.append((events, newest))
        return chunks, rejected

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

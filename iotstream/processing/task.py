"""One task of a job: partition N of every source topic, with its own operators, watermark and state.

Like Kafka Streams, work is split by partition number, so a key's readings always meet the same
window state, and a task moves between processes as a whole (state + positions) on rebalance.
"""

import time
from collections.abc import Callable
from typing import Any

import msgspec

from iotstream.log.types import Record, TopicPartition
from iotstream.processing.codec import Reading, decode, read_reading
from iotstream.processing.dedup import SeenReadings
from iotstream.processing.job import Job
from iotstream.processing.operators import TaskOutput, compile_step
from iotstream.processing.watermark import END_OF_INPUT, NO_WATERMARK, Watermarks

__all__ = ["Task"]

# A chunk of events as columns (keys, values, event times), and the newest event time per source among
# them: three lists of plain values instead of a tuple per event, which the collector would have to track.
_Chunk = tuple[list[str], list[Any], list[int], dict[int, int]]
_BEFORE_ALL = -(2**63)  # below every event time


def _new_chunk() -> _Chunk:
    return [], [], [], {}


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
        self._seen = SeenReadings(job.recount_horizon_ms)
        self._counted = job.counted or (lambda key: True)
        self._counts_once: dict[str, bool] = {}  # per key, `counted`'s answer: asked once

    @property
    def counted_readings_kept(self) -> int:
        """How many counted readings the task remembers to drop their copies."""
        return len(self._seen)

    @property
    def counted_readings_bytes(self) -> int:
        """About what remembering them takes (8 bytes each, a byte or two once in a checkpoint segment)."""
        return self._seen.nbytes()

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
        self._seen.forget_before(self.watermarks.current())
        chunks, rejected = self._decode(records)
        for chunk in chunks or [_new_chunk()]:  # an empty batch still fires idle windows
            before = self.watermarks.current()
            for source, event_ms in chunk[3].items():
                self.watermarks.observe(source, event_ms)
            self._run(chunk, before, self.watermarks.current(), out)
        return out, rejected

    def _run(self, chunk: _Chunk, before: int, after: int, out: TaskOutput) -> None:
        if not self._operators:
            return
        first, *rest = self._operators
        events = first.apply_columns(chunk[0], chunk[1], chunk[2], before, out)
        events = [*events, *first.flush(after, out)]
        for operator in rest:
            events = operator.apply(events, before, out)
            events = [*events, *operator.flush(after, out)]

    def finish(self) -> TaskOutput:
        """The input is over (a bounded backfill, a test): close every window that is still open."""
        out = TaskOutput()
        self._run(_new_chunk(), END_OF_INPUT, END_OF_INPUT, out)
        return out

    def _decode(self, records: list[Record]) -> tuple[list[_Chunk], list[tuple[Record, str]]]:
        """Events in chunks, each with the newest event time per source it holds.

        The loop runs once per reading, so the shape ingestion writes (a keyed record, epoch-ms time,
        a value) is decoded inline; `decode` handles every other shape, with the same result. Per
        source state is in lists indexed by source: cheaper than dicts here.
        """
        chunks: list[_Chunk] = []
        rejected = []
        sources, out_of_orderness_ms, unset = self._sources, self._out_of_orderness_ms, msgspec.UNSET
        ahead = [self.watermarks.max_event_ms(s) for s in sources.values()]  # sources are 0, 1, ...
        floor = [_BEFORE_ALL if ms is None else ms - out_of_orderness_ms for ms in ahead]
        chunk, top = _new_chunk(), [_BEFORE_ALL] * len(sources)  # top: the newest per source in `chunk`
        keys, values, times, newest = chunk
        names: dict[bytes, str] = {}  # a batch has few keys: decode each once, then its hash is known
        first_time, counted_times, counts_once = self._seen.first_time, self._seen.times, self._counts_once
        for record in self._unseen(records):
            try:
                reading: Reading | None = read_reading(record.value or b"")
            except msgspec.DecodeError:  # `decode` below says what is wrong
                reading = None
            if (
                reading is not None
                and type(event_ms := reading.time) is int
                and type(raw_key := record.key) is bytes  # hashable; None: the value's datastream
                and (value := reading.value) is not unset
            ):
                key = names.get(raw_key)
                if key is None:
                    key = names[raw_key] = raw_key.decode("utf-8", "replace")
            else:
                event = decode(record)
                if isinstance(event, str):
                    rejected.append((record, event))
                    continue
                key, value, event_ms = event
            if reading is not None and reading.id is not None and self._counts(key, counts_once):
                counted = counted_times.get(key)
                if counted is not None and event_ms > counted[-1]:  # `first_time` inlined: the usual case
                    counted.append(event_ms)
                elif not first_time(key, event_ms):
                    continue  # counted once already
            source = sources[record.topic]
            if event_ms < floor[source] and keys:  # behind: judge it after what came before
                chunks.append(chunk)
                chunk, top = _new_chunk(), [_BEFORE_ALL] * len(sources)
                keys, values, times, newest = chunk
            keys.append(key)
            values.append(value)
            times.append(event_ms)
            if event_ms > top[source]:
                top[source] = newest[source] = event_ms
                floor[source] = max(floor[source], event_ms - out_of_orderness_ms)
        if keys:
            chunks.append(chunk)
        return chunks, rejected

    def _counts(self, key: str, known: dict[str, bool]) -> bool:
        """Whether this key's readings (ingestion wrote them, so they may come again) are counted once."""
        counts = known.get(key)
        if counts is None:
            counts = known[key] = self._counted(key)
        return counts

    def _unseen(self, records: list[Record]) -> list[Record]:
        """The records not yet part of the state (replaying one would count it twice); moves positions."""
        positions = self._positions
        if len(self._sources) == 1:  # one topic: offsets only grow within a batch
            if records and records[0].offset < positions.get(records[0].topic, 0):
                records = [r for r in records if r.offset >= positions[records[0].topic]]
            if records:
                positions[records[0].topic] = records[-1].offset + 1
            return records
        unseen = []
        for record in records:
            if record.offset >= positions.get(record.topic, 0):
                positions[record.topic] = record.offset + 1
                unseen.append(record)
        return unseen

    def snapshot(self, incremental: bool = False) -> dict[str, Any]:
        """The whole state; `incremental`: with the counted readings as a journal (see `dedup`), whose
        new segment is under `parts` for the checkpoint store to write once; then call `saved`."""
        state = {
            "positions": dict(self._positions),
            "max_event_ms": {i: self.watermarks.max_event_ms(i) for i in self._sources.values()},
            "watermark": self.watermarks.current(),  # may be ahead of its own partitions (`follow`)
            "operators": [operator.snapshot() for operator in self._operators],
        }
        if not incremental:
            return state | {"seen": self._seen.snapshot(self.watermarks.current())}
        seen, written = self._seen.journal(self.watermarks.current())
        return state | {"seen": seen, "parts": {"write": written, "keep": list(seen["segments"])}}

    def saved(self) -> None:
        """The last incremental snapshot is stored."""
        self._seen.saved()

    def restore(self, snapshot: dict[str, Any]) -> None:
        self._positions = dict(snapshot["positions"])
        for source, event_ms in snapshot["max_event_ms"].items():
            self.watermarks.assign(int(source), event_ms)
        self.watermarks.never_below(snapshot.get("watermark", NO_WATERMARK))
        if "seen" in snapshot:
            self._seen.restore(snapshot["seen"], snapshot.get("parts", {}).get("data"))
        for operator, state in zip(self._operators, snapshot["operators"], strict=True):
            if state is not None:
                operator.restore(state)

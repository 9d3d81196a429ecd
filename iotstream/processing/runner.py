"""Runs a job against the log: the one place that wires log, tasks, state and outputs together.

Loop: poll a batch → each task folds in its records → outputs, late readings and rejected records are
produced → every `checkpoint_interval_ms`: wait until every output is acknowledged, save all task
state with the offsets it includes (in the log, see `checkpoints`), then commit those offsets. After a
crash, or on whichever process takes a partition over, the task restores the checkpoint and
reprocesses from its offsets; repeated outputs carry the same ids, so idempotent sinks
store each once. The job's group is `iotstream.job.<name>`: start the same job twice and the two
processes split the partitions.
"""

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from iotstream.log.base import BaseLog
from iotstream.log.exceptions import CommitFailedError
from iotstream.log.types import Record, RecordMetadata, TopicPartition
from iotstream.processing.checkpoints import LogCheckpoints
from iotstream.processing.codec import encode_event, encode_late, event_id
from iotstream.processing.exceptions import ProcessingError
from iotstream.processing.job import Job, JoinTable
from iotstream.processing.operators import TaskOutput
from iotstream.processing.state import CheckpointStore
from iotstream.processing.tables import TableReader
from iotstream.processing.task import Task
from iotstream.processing.watermark import NO_WATERMARK

__all__ = ["JobRunner"]

_log = logging.getLogger(__name__)


class JobRunner:
    """Drive `job` over `log`; call `run(stop)` or, in tests, `step()` and `close()`."""

    def __init__(
        self,
        job: Job,
        log: BaseLog,
        state_dir: Path,
        *,
        checkpoint_interval_ms: int = 2_000,
        max_batch: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.job = job
        self._log = log
        self._clock = clock
        self._max_batch = max_batch
        self._checkpoint_interval_s = checkpoint_interval_ms / 1000
        self._next_checkpoint = clock() + self._checkpoint_interval_s
        earlier = state_dir / f"{job.name}.db"  # where versions before the log checkpoints kept them
        fallback = CheckpointStore(earlier) if earlier.exists() else None
        self._store = LogCheckpoints(log, job.name, fallback)
        self._tables: dict[str, dict[str, Any]] = {}
        table_topics = [step.topic for step in job.steps if isinstance(step, JoinTable)]
        self._table_reader = TableReader(log, table_topics, self._tables) if table_topics else None
        self._tasks: dict[int, Task] = {}
        self._producer = log.producer()
        self._failed_deliveries: list[Exception] = []
        self._counts = {"events_in": 0, "outputs": 0, "late": 0, "rejected": 0}
        self._started = clock()
        self._consumer = log.consumer(f"iotstream.job.{job.name}", auto_offset_reset="earliest")
        self._consumer.subscribe(list(job.sources), on_assign=self._assigned, on_revoke=self._revoked)

    def _assigned(self, partitions: list[TopicPartition]) -> None:
        numbers = sorted({tp.partition for tp in partitions} - set(self._tasks))
        snapshots = self._store.load(numbers) if numbers else {}
        for number in numbers:
            task = Task(self.job, number, self._tables, self._clock)
            if number in snapshots:
                task.restore(snapshots[number])
            self._tasks[number] = task

    def _revoked(self, partitions: list[TopicPartition]) -> None:
        numbers = {tp.partition for tp in partitions} & set(self._tasks)
        self.checkpoint(numbers)  # hand over cleanly: the next owner starts exactly here
        for number in numbers:
            del self._tasks[number]

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                self.step()
        finally:
            self.close()

    def step(self, timeout_s: float = 0.2) -> int:
        """Poll once and process; returns how many records were read."""
        records = self._consumer.poll(self._max_batch, timeout_s)
        if self._table_reader is not None:  # after the poll, so a row written before a reading is seen
            self._table_reader.refresh()
        by_task: dict[int, list[Record]] = {}
        for record in records:
            by_task.setdefault(record.partition, []).append(record)
        tasks = list(self._tasks.items())
        for number, task in tasks:
            out, rejected = task.process(by_task.get(number, []))  # an empty batch still fires idle windows
            self._emit(out, rejected)
        self._advance_idle([task for _, task in tasks])
        self._counts["events_in"] += len(records)
        if self._clock() >= self._next_checkpoint:
            self.checkpoint()
        return len(records)

    def _advance_idle(self, tasks: list[Task]) -> None:
        """Tasks whose partitions are all idle follow the watermark of the active ones (see `Watermarks`),
        or, when every task is idle, the highest one, as a task does with its own partitions: the last
        day closes once the stream stops. What that closes is emitted now."""
        if not tasks:
            return
        marks = [(task, task.watermarks.active()) for task in tasks]
        active = [mark for _, mark in marks if mark is not None]
        job_watermark = min(active) if active else max(task.watermarks.current() for task in tasks)
        for task, mark in marks:
            if mark is None and task.watermarks.current() < job_watermark:
                task.watermarks.follow(job_watermark)
                self._emit(*task.process([]))

    def _emit(self, out: TaskOutput, rejected: list[tuple[Record, str]]) -> None:
        produce, name = self._producer.produce, self.job.name
        for topic, event in out.to_topics:
            identity = [("id", event_id(name, event).encode())]
            produce(
                topic,
                encode_event(event),
                event[0].encode(),
                headers=identity,
                timestamp_ms=event[2],
                on_delivery=self._delivered,
            )
        for window, late in out.late:
            headers = [("job", name.encode()), ("window", window.encode())]
            produce(
                self.job.late_topic,
                encode_late(name, late),
                late.key.encode(),
                headers=headers,
                timestamp_ms=late.timestamp_ms,
                on_delivery=self._delivered,
            )
        for record, reason in rejected:
            source = f"{record.topic}/{record.partition}/{record.offset}".encode()
            headers = [("reason", reason.encode()), ("job", name.encode()), ("source", source)]
            produce(
                self.job.deadletter_topic,
                record.value,
                record.key,
                headers=headers,
                on_delivery=self._delivered,
            )
        for event, reason in out.rejected:
            headers = [("reason", reason.encode()), ("job", name.encode())]
            produce(
                self.job.deadletter_topic,
                encode_event(event),
                event[0].encode(),
                headers=headers,
                on_delivery=self._delivered,
            )
        self._counts["outputs"] += len(out.to_topics)
        self._counts["late"] += len(out.late)
        self._counts["rejected"] += len(rejected) + len(out.rejected)

    def _delivered(self, error: Exception | None, metadata: RecordMetadata) -> None:
        if error is not None:
            self._failed_deliveries.append(error)

    def checkpoint(self, only: set[int] | None = None) -> None:
        """Outputs first, then state with its offsets, then the commit: never the other way round."""
        self._next_checkpoint = self._clock() + self._checkpoint_interval_s
        pending = self._producer.flush(60)
        if pending or self._failed_deliveries:
            failures = self._failed_deliveries  # kept: no later checkpoint (close's) may pass them either
            raise ProcessingError(
                f"job {self.job.name!r}: {pending} outputs unacknowledged and {len(failures)} failed "
                f"({failures[:1]}); not checkpointing, restart from the last checkpoint"
            )
        if only is None:
            self._drop_lost()
        tasks = {n: t for n, t in self._tasks.items() if only is None or n in only}
        if not tasks:
            return
        self._store.save({number: task.snapshot(incremental=True) for number, task in tasks.items()})
        for task in tasks.values():
            task.saved()
        offsets = {tp: offset for task in tasks.values() for tp, offset in task.positions.items()}
        try:
            self._consumer.commit(offsets)
        except CommitFailedError as err:  # the checkpoint, not the commit, is what restarts use
            _log.warning("job %s: commit after checkpoint failed: %s", self.job.name, err)

    def _drop_lost(self) -> None:
        """Partitions the group took away without a revoke (this member's session expired) lose their
        task unsaved: a stale state must not overwrite the new owner's checkpoint, and a partition that
        comes back is restored afresh from the log."""
        owned = {tp.partition for tp in self._consumer.assignment()}
        for number in set(self._tasks) - owned:
            _log.warning("job %s: partition %d was taken away; its task is dropped", self.job.name, number)
            del self._tasks[number]

    @property
    def assigned(self) -> bool:
        """Whether the consumer group gave this job any partition (readiness)."""
        return bool(self._tasks)

    @property
    def watermark_ms(self) -> int:
        """The job's watermark (NO_WATERMARK before any reading); safe to read from another thread."""
        marks = [task.watermarks.current() for task in list(self._tasks.values())]
        return min((m for m in marks if m != NO_WATERMARK), default=NO_WATERMARK)

    @property
    def counted_readings_kept(self) -> int:
        """Over its tasks (see `dedup`): the job's memory that grows with the readings of open windows."""
        return sum(task.counted_readings_kept for task in list(self._tasks.values()))

    @property
    def counted_readings_bytes(self) -> int:
        return sum(task.counted_readings_bytes for task in list(self._tasks.values()))

    @property
    def events_in(self) -> int:
        """Records read so far; cheap, unlike `stats()`, which asks the log for end offsets."""
        return self._counts["events_in"]

    def stats(self) -> dict[str, Any]:
        """Watermark per task and for the job, lag per input partition, throughput since start."""
        marks = {number: task.watermarks.current() for number, task in self._tasks.items()}
        positions = {tp: o for task in self._tasks.values() for tp, o in task.positions.items()}
        ends = self._log.end_offsets(positions) if positions else {}
        elapsed = max(self._clock() - self._started, 1e-9)
        return {
            **self._counts,
            # Tasks that never saw a reading have no event time yet; like idle ones they hold nothing back.
            "watermark_ms": min((m for m in marks.values() if m != NO_WATERMARK), default=NO_WATERMARK),
            "task_watermarks_ms": marks,
            "lag": {f"{tp.topic}/{tp.partition}": ends[tp] - o for tp, o in positions.items()},
            "events_per_s": self._counts["events_in"] / elapsed,
        }

    def close(self) -> None:
        try:
            self.checkpoint()
        finally:
            self._consumer.close()
            self._producer.close()
            if self._table_reader is not None:
                self._table_reader.close()
            self._store.close()

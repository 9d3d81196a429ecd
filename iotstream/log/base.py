"""The one interface every component uses to talk to the log, whatever the backend.

It mirrors Kafka's client model on purpose (producer with delivery callbacks, consumer groups with
committed offsets, admin) so the embedded SQLite log and a real Kafka cluster are interchangeable.
Offsets follow Kafka: a committed offset is the offset of the *next* record to read.
"""

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Self

from iotstream.log.exceptions import InvalidRecordError, LogError
from iotstream.log.types import (
    BatchCallback,
    DeliveryCallback,
    GroupLag,
    Headers,
    MaintenanceReport,
    OffsetResetValue,
    OutgoingRecord,
    PartitionsCallback,
    Record,
    RecordMetadata,
    TopicDescription,
    TopicPartition,
    TopicSpec,
)

__all__ = ["BaseAtomicProducer", "BaseConsumer", "BaseLog", "BaseProducer"]


class _Closable(ABC):
    @abstractmethod
    def close(self) -> None:
        """Release resources; safe to call twice."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class BaseProducer(_Closable):
    """Appends records; batches them and acknowledges each one through its delivery callback."""

    @abstractmethod
    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        *,
        headers: Headers = (),
        timestamp_ms: int | None = None,
        partition: int | None = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None:
        """Queue one record; `on_delivery(error, metadata)` runs once it is durable or has failed.

        Raises at once (nothing queued) for problems with this record alone: unknown topic,
        record too large; `ProducerQueueFullError` when the buffer stayed full for `max_block_ms`.
        `timestamp_ms` is the event time; it defaults to now.
        """

    def produce_many(
        self,
        topic: str,
        values: Sequence[bytes],
        keys: Sequence[bytes | None],
        timestamps_ms: Sequence[int],
        on_done: BatchCallback,
    ) -> None:
        """Queue records of one topic, the i-th of `values`, `keys` and `timestamps_ms` each, and call
        `on_done(error)` once: after the log has acknowledged all of them (with the first error, if
        any), or at once when they could not be queued (then the error is raised too).

        Ingestion writes every reading through this, so a backend that can take a batch in one step
        overrides it: the SQLite log queues all or none, with no callback per record.
        """
        if not len(values) == len(keys) == len(timestamps_ms):
            error = InvalidRecordError("produce_many: values, keys and timestamps_ms differ in length")
            on_done(error)
            raise error
        countdown = _Countdown(len(values), on_done)
        queued = 0
        try:
            for value, key, timestamp_ms in zip(values, keys, timestamps_ms, strict=True):
                self.produce(topic, value, key, timestamp_ms=timestamp_ms, on_delivery=countdown)
                queued += 1
        except Exception as err:  # a client's TypeError too: the batch is answered all the same
            for _ in range(len(values) - queued):
                countdown(err, RecordMetadata(topic, -1, -1, 0))
            raise

    @abstractmethod
    def flush(self, timeout_s: float | None = None) -> int:
        """Wait until every queued record is acknowledged; return how many are still pending."""


class _Countdown:
    """A delivery callback for many records that calls `on_done` once, after the last."""

    def __init__(self, expected: int, on_done: BatchCallback) -> None:
        self._left = expected
        self._error: Exception | None = None
        self._on_done = on_done
        self._lock = threading.Lock()  # Kafka's callbacks run on whichever thread polls
        if expected == 0:
            on_done(None)

    def __call__(self, error: Exception | None, metadata: RecordMetadata) -> None:
        with self._lock:
            self._error = self._error or error
            self._left -= 1
            last = self._left == 0
        if last:
            self._on_done(self._error)


class BaseAtomicProducer(_Closable):
    """Appends groups of records that become readable together or not at all, e.g. relayed records
    with the cursor that says they arrived: a crash between the two would otherwise double them."""

    @abstractmethod
    def produce_all(self, records: Sequence[OutgoingRecord], timeout_s: float = 30.0) -> list[RecordMetadata]:
        """Append every record (partitioned by key) atomically; return where each landed once durable.

        Raises `LogError` when the group was not appended; none of it is then visible to readers.
        """


class BaseConsumer(_Closable):
    """Reads records in batches, alone (`assign`) or as a member of a consumer group (`subscribe`)."""

    @abstractmethod
    def subscribe(
        self,
        topics: Sequence[str],
        *,
        on_assign: PartitionsCallback | None = None,
        on_revoke: PartitionsCallback | None = None,
    ) -> None:
        """Join the consumer group; partitions are shared among its members and move on rebalance.

        `on_revoke` runs before partitions are taken away: commit there to hand over cleanly.
        """

    @abstractmethod
    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Read exactly these partitions, without group membership."""

    @abstractmethod
    def assignment(self) -> set[TopicPartition]:
        """The partitions this consumer reads now."""

    @abstractmethod
    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]:
        """Return up to `max_records` records, waiting up to `timeout_s` for the first one."""

    @abstractmethod
    def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        """Store offsets (default: the current positions) so the group resumes there.

        Raises `CommitFailedError` when a partition has meanwhile moved to another member.
        """

    @abstractmethod
    def committed(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int | None]:
        """The group's committed offsets."""

    @abstractmethod
    def position(self, partition: TopicPartition) -> int:
        """Offset of the next record `poll` returns from this assigned partition."""

    @abstractmethod
    def seek(self, partition: TopicPartition, offset: int) -> None:
        """Move to `offset` in an assigned partition."""

    @abstractmethod
    def offset_bounds(self, partition: TopicPartition) -> tuple[int, int]:
        """The first retained offset and the end offset (next to be written) of an assigned partition."""

    def rewind(self, records: Sequence[Record]) -> None:
        """Move back to the first of these records in each of their partitions: a batch that was not
        taken is read again."""
        first: dict[TopicPartition, int] = {}
        for record in records:
            first.setdefault(TopicPartition(record.topic, record.partition), record.offset)
        for partition, offset in first.items():
            self.seek(partition, offset)

    def seek_to_beginning(self, partitions: Iterable[TopicPartition] | None = None) -> None:
        """Move to the first retained record (all assigned partitions by default)."""
        for tp in self._chosen(partitions):
            self.seek(tp, self.offset_bounds(tp)[0])

    def seek_to_end(self, partitions: Iterable[TopicPartition] | None = None) -> None:
        """Move past the last record, so only new records are read."""
        for tp in self._chosen(partitions):
            self.seek(tp, self.offset_bounds(tp)[1])

    @abstractmethod
    def seek_to_timestamp(
        self, timestamp_ms: int, partitions: Iterable[TopicPartition] | None = None
    ) -> None:
        """Move to the first record whose timestamp is at or after `timestamp_ms` (else the end)."""

    def _chosen(self, partitions: Iterable[TopicPartition] | None) -> list[TopicPartition]:
        """The partitions asked for (default: all assigned); each must be assigned."""
        assigned = self.assignment()
        chosen = sorted(assigned) if partitions is None else list(partitions)
        for tp in chosen:
            if tp not in assigned:
                raise LogError(f"{tp.topic}[{tp.partition}] is not assigned to this consumer")
        return chosen


class BaseLog(_Closable):
    """A log backend: topic admin plus factories for producers and consumers."""

    @abstractmethod
    def create_topic(self, spec: TopicSpec, *, exist_ok: bool = False) -> None:
        """Create a topic; `TopicExistsError` if it exists and `exist_ok` is false."""

    @abstractmethod
    def delete_topic(self, name: str) -> None:
        """Delete a topic, its records and its committed offsets."""

    @abstractmethod
    def list_topics(self) -> list[str]:
        """Names of all topics, sorted."""

    @abstractmethod
    def describe_topic(self, name: str) -> TopicDescription:
        """Settings, per-partition offsets and the lag of every consumer group on the topic."""

    @abstractmethod
    def end_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """Offset the next produced record will get, per partition."""

    @abstractmethod
    def group_lag(self, group: str) -> list[GroupLag]:
        """Committed offset, end offset and lag of `group` on every partition it committed to."""

    @abstractmethod
    def producer(self) -> BaseProducer:
        """A producer; close it (or use `with`) to flush."""

    @abstractmethod
    def atomic_producer(self, transactional_id: str) -> BaseAtomicProducer:
        """A producer of all-or-nothing groups; `transactional_id` names it across restarts (Kafka
        fences an older process that still uses the same id)."""

    @abstractmethod
    def consumer(
        self, group_id: str | None = None, *, auto_offset_reset: OffsetResetValue = "earliest"
    ) -> BaseConsumer:
        """A consumer; `group_id` is needed for `subscribe` and `commit`."""

    def run_maintenance(self) -> MaintenanceReport:
        """Apply retention and compaction now; backends whose server does this keep the default."""
        return MaintenanceReport()

"""Producing to the SQLite log: validation and partitioning here, durability in the process's one
writer thread (`_writer.GroupCommitWriter`), which commits many records per transaction and
acknowledges them once on disk.
"""

import threading
import time
from collections.abc import Sequence
from itertools import compress
from operator import add

from iotstream.log.base import BaseAtomicProducer, BaseProducer
from iotstream.log.config import LogSettings
from iotstream.log.exceptions import InvalidRecordError, LogClosedError, LogError, RecordTooLargeError
from iotstream.log.partitioner import partition_for
from iotstream.log.sqlite._catalog import TopicCache, TopicRow
from iotstream.log.sqlite._write import Acknowledge, Pending, lengths
from iotstream.log.sqlite._writer import GroupCommitWriter
from iotstream.log.types import (
    BatchCallback,
    CleanupPolicy,
    DeliveryCallback,
    Headers,
    OutgoingRecord,
    RecordMetadata,
)

__all__ = ["SqliteAtomicProducer", "SqliteProducer"]

_BYTES_OR_NONE = {bytes, type(None)}
_INT_OR_NONE = {int, type(None)}


class SqliteProducer(BaseProducer):
    """A light handle on the shared writer."""

    def __init__(self, writer: GroupCommitWriter, topics: TopicCache, settings: LogSettings) -> None:
        self._writer = writer
        self._topics = topics
        self._max_record_bytes = settings.max_record_bytes
        self._closed = False

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
        self._check_open()
        self._writer.append([self.entry(topic, value, key, headers, timestamp_ms, partition, on_delivery)])

    def produce_many(
        self,
        topic: str,
        values: Sequence[bytes],
        keys: Sequence[bytes | None],
        timestamps_ms: Sequence[int],
        on_done: BatchCallback,
    ) -> None:
        """All of them or none, checked a column at a time, one writer entry per partition: this is
        every reading's way into the log."""
        try:
            self._check_open()
            if not len(values) == len(keys) == len(timestamps_ms):
                raise InvalidRecordError("produce_many: values, keys and timestamps_ms differ in length")
            if not values:
                on_done(None)
                return
            row = self._topics.get(topic)
            sizes = self._checked_sizes(row, values, keys, timestamps_ms)
            times = list(timestamps_ms)
            if None in times:
                now_ms = time.time_ns() // 1_000_000
                times = [now_ms if ts is None else ts for ts in times]
            self._writer.append(_by_partition(topic, row, values, keys, times, sizes, _Countdown(on_done)))
        except LogError as err:
            on_done(err)
            raise

    def _checked_sizes(
        self,
        row: TopicRow,
        values: Sequence[bytes],
        keys: Sequence[bytes | None],
        times: Sequence[int | None],
    ) -> list[int]:
        """Each record's size, for a batch the log takes; map and set keep the work per record in C."""
        if not set(map(type, values)) | set(map(type, keys)) <= _BYTES_OR_NONE:
            raise InvalidRecordError(f"records for topic {row.spec.name!r}: keys and values must be bytes")
        if not set(map(type, times)) <= _INT_OR_NONE:
            raise InvalidRecordError(f"records for topic {row.spec.name!r}: timestamps must be whole ms")
        if None in keys and row.spec.cleanup_policy is CleanupPolicy.COMPACT:
            raise InvalidRecordError(f"topic {row.spec.name!r} is compacted: every record needs a key")
        sizes = list(map(add, lengths(values), lengths(keys)))
        if (largest := max(sizes)) > self._max_record_bytes:
            raise RecordTooLargeError(
                f"record of {largest} bytes for topic {row.spec.name!r} exceeds [log] max_record_bytes"
                f" = {self._max_record_bytes}"
            )
        return sizes

    def entry(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: Headers,
        timestamp_ms: int | None,
        partition: int | None,
        on_delivery: DeliveryCallback | None,
    ) -> Pending:
        """The writer's entry for one record; raises for a record the log refuses."""
        row = self._topics.get(topic)
        size = self._checked_size(topic, row, value, key, headers)
        if partition is None:
            partition = partition_for(key, row.spec.partitions)
        elif not 0 <= partition < row.spec.partitions:
            raise InvalidRecordError(
                f"topic {topic!r} has partitions 0..{row.spec.partitions - 1}; got {partition}"
            )
        if type(timestamp_ms) not in _INT_OR_NONE:
            raise InvalidRecordError(f"record for topic {topic!r}: the timestamp must be whole ms")
        ts = time.time_ns() // 1_000_000 if timestamp_ms is None else timestamp_ms
        acknowledge = None if on_delivery is None else _one(on_delivery, topic, partition, ts)
        return Pending(
            topic, partition, [value], [key], [ts], [headers] if headers else None, size, acknowledge
        )

    def _checked_size(
        self, topic: str, row: TopicRow, value: bytes | None, key: bytes | None, headers: Headers
    ) -> int:
        if type(value) not in _BYTES_OR_NONE or type(key) not in _BYTES_OR_NONE:
            raise InvalidRecordError(
                f"record for topic {topic!r}: key and value must be bytes or None, got "
                f"{type(key).__name__} and {type(value).__name__}"
            )
        size = (len(value) if value else 0) + (len(key) if key else 0)
        for name, header_value in headers:
            size += len(name) + len(header_value)
        if size > self._max_record_bytes:
            raise RecordTooLargeError(
                f"record of {size} bytes for topic {topic!r} exceeds [log] max_record_bytes = "
                f"{self._max_record_bytes}"
            )
        if key is None and row.spec.cleanup_policy is CleanupPolicy.COMPACT:
            raise InvalidRecordError(f"topic {topic!r} is compacted: every record needs a key")
        return size

    def _check_open(self) -> None:
        if self._closed or self._writer.closed:
            raise LogClosedError("produce on a closed producer or log")

    def flush(self, timeout_s: float | None = None) -> int:
        return self._writer.flush(timeout_s)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._writer.flush(None)


def _by_partition(
    topic: str,
    row: TopicRow,
    values: Sequence[bytes],
    keys: Sequence[bytes | None],
    times: list[int],
    sizes: list[int],
    done: "_Countdown",
) -> list[Pending]:
    """One entry per partition, records in their order. A key's partition is computed once; records
    without a key are spread round-robin, as `produce` spreads them."""
    count = row.spec.partitions
    of_key = {key: partition_for(key, count) for key in set(keys) if key is not None}
    if None in keys:
        partitions = [partition_for(None, count) if key is None else of_key[key] for key in keys]
    else:
        partitions = list(map(of_key.__getitem__, keys))  # type: ignore[arg-type]
    used = set(partitions)
    if len(used) == 1:
        entry = Pending(
            topic, partitions[0], list(values), list(keys), times, None, sum(sizes), done.acknowledge
        )
        return done.expecting([entry])
    entries = []
    for partition in sorted(used):
        mask = list(map(partition.__eq__, partitions))
        entries.append(
            Pending(
                topic,
                partition,
                list(compress(values, mask)),
                list(compress(keys, mask)),
                list(compress(times, mask)),
                None,
                sum(compress(sizes, mask)),
                done.acknowledge,
            )
        )
    return done.expecting(entries)


class _Countdown:
    """Calls a batch's `on_done` once its last partition's entry is acknowledged, with the first error.
    Entries are acknowledged on the writer thread only, one commit at a time: no lock needed."""

    def __init__(self, on_done: BatchCallback) -> None:
        self._on_done = on_done
        self._left = 0
        self._error: LogError | None = None

    def expecting(self, entries: list[Pending]) -> list[Pending]:
        self._left = len(entries)
        return entries

    def acknowledge(self, error: LogError | None, first_offset: int) -> None:
        self._error = self._error or error
        self._left -= 1
        if self._left == 0:
            self._on_done(self._error)


def _one(on_delivery: DeliveryCallback, topic: str, partition: int, timestamp_ms: int) -> Acknowledge:
    def acknowledge(error: LogError | None, first_offset: int) -> None:
        on_delivery(error, RecordMetadata(topic, partition, first_offset, timestamp_ms))

    return acknowledge


class SqliteAtomicProducer(BaseAtomicProducer):
    """Groups go to the writer in one piece, and the writer commits what it takes in one transaction."""

    def __init__(self, producer: SqliteProducer, writer: GroupCommitWriter) -> None:
        self._producer = producer
        self._writer = writer

    def produce_all(self, records: Sequence[OutgoingRecord], timeout_s: float = 30.0) -> list[RecordMetadata]:
        landed: list[RecordMetadata | None] = [None] * len(records)
        errors: list[Exception] = []
        acknowledged = threading.Semaphore(0)

        def delivered(index: int) -> DeliveryCallback:
            def callback(error: Exception | None, metadata: RecordMetadata) -> None:
                if error is not None:
                    errors.append(error)
                landed[index] = metadata
                acknowledged.release()

            return callback

        self._writer.append(
            [
                self._producer.entry(r.topic, r.value, r.key, r.headers, r.timestamp_ms, None, delivered(i))
                for i, r in enumerate(records)
            ]
        )
        # The writer answers every record within delivery_timeout_ms; giving up earlier would report a
        # failure for a group that may still be committed (and a retry would append it twice).
        wait_s = max(timeout_s, self._writer.delivery_timeout_s + 30)
        deadline = time.monotonic() + wait_s
        for _ in records:
            if not acknowledged.acquire(timeout=max(deadline - time.monotonic(), 0)):
                raise LogError(f"the log did not acknowledge {len(records)} records in {wait_s:g} s")
        if errors:
            raise errors[0] if isinstance(errors[0], LogError) else LogError(str(errors[0]))
        return [metadata for metadata in landed if metadata is not None]

    def close(self) -> None:
        self._producer.close()

"""Producing to the SQLite log: many records per transaction, acknowledged once on disk (group commit).

`produce()` only validates and appends to an in-memory queue. One writer thread per log takes
everything queued (after waiting at most `linger_ms` for more), writes one batch row per partition in
a single transaction, commits (fsync) and then runs the delivery callbacks. Records produced while a
commit is in flight ride the next one, so throughput grows with load instead of collapsing.
"""

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from iotstream.log.base import BaseAtomicProducer, BaseProducer
from iotstream.log.config import LogSettings
from iotstream.log.exceptions import (
    InvalidRecordError,
    LogClosedError,
    LogError,
    ProducerQueueFullError,
    RecordTooLargeError,
)
from iotstream.log.partitioner import partition_for
from iotstream.log.sqlite._catalog import TopicCache, TopicRow
from iotstream.log.sqlite._db import commit_signal, connect
from iotstream.log.sqlite._write import Pending, write_batches
from iotstream.log.types import CleanupPolicy, DeliveryCallback, Headers, OutgoingRecord, RecordMetadata

__all__ = ["GroupCommitWriter", "SqliteAtomicProducer", "SqliteProducer"]

_BYTES_OR_NONE = (bytes, type(None))  # a tuple: `bytes | None` builds a union at every call

_log = logging.getLogger(__name__)


class GroupCommitWriter:
    """The single writer thread of one log in this process; shared by all its producers."""

    def __init__(self, path: Path, settings: LogSettings, topics: TopicCache) -> None:
        self._path = path
        self._settings = settings
        self._topics = topics
        self._conn = connect(path, busy_timeout_ms=settings.busy_timeout_ms, fsync=settings.fsync)
        self._signal = commit_signal(path)
        self._cond = threading.Condition()
        self._queue: list[Pending] = []
        self._queued_bytes = 0
        self._first_queued_at = 0.0
        self._enqueued = 0
        self._done = 0
        self._flushing = 0
        self._closing = False
        # A daemon, so a program that forgets close() still exits; what it never flushed was never
        # acknowledged either, exactly as if the process had been killed.
        self._thread = threading.Thread(
            target=self._run, name=f"iotstream-log-writer:{path.name}", daemon=True
        )
        self._thread.start()

    def append(self, entry: Pending, size: int) -> None:
        self.append_all([entry], size)

    def append_all(self, entries: list[Pending], size: int) -> None:
        """Queue entries that the writer takes together: they are committed in one transaction."""
        with self._cond:
            if self._closing:
                raise LogClosedError("the log is closed; the record was not queued")
            if self._queue and self._queued_bytes + size > self._settings.buffer_max_bytes:
                self._wait_for_room(size)
            if not self._queue:
                self._first_queued_at = time.monotonic()
                self._cond.notify_all()
            self._queue.extend(entries)
            self._queued_bytes += size
            self._enqueued += len(entries)

    def _wait_for_room(self, size: int) -> None:
        deadline = time.monotonic() + self._settings.max_block_ms / 1000
        while (
            self._queue and self._queued_bytes + size > self._settings.buffer_max_bytes and not self._closing
        ):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProducerQueueFullError(
                    f"producer buffer full ({self._queued_bytes} bytes queued, limit "
                    f"[log] buffer_max_bytes = {self._settings.buffer_max_bytes}); the log cannot "
                    "keep up",
                    retry_after_s=max(self._settings.linger_ms / 1000, 0.05),
                )
            self._cond.wait(remaining)
        if self._closing:
            raise LogClosedError("the log is closing; the record was not queued")

    def flush(self, timeout_s: float | None) -> int:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cond:
            target = self._enqueued
            self._flushing += 1
            self._cond.notify_all()
            try:
                while self._done < target:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        break
                    self._cond.wait(remaining)
            finally:
                self._flushing -= 1
            return max(target - self._done, 0)

    @property
    def delivery_timeout_s(self) -> float:
        return self._settings.delivery_timeout_ms / 1000

    @property
    def closed(self) -> bool:
        return self._closing

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        self._conn.close()

    def _run(self) -> None:
        while (batch := self._take()) is not None:
            try:
                write_batches(self._conn, self._path, batch, self._settings, self._topics)
            except Exception:  # a bug must not kill the writer and strand every producer
                _log.exception("log writer failed on a batch of %d records", len(batch))
            self._signal.notify()
            with self._cond:
                self._done += len(batch)
                self._cond.notify_all()

    def _take(self) -> list[Pending] | None:
        """Wait for records, linger briefly for more, and hand over everything queued."""
        linger_s = self._settings.linger_ms / 1000
        with self._cond:
            while not self._queue:
                if self._closing:
                    return None
                self._cond.wait()
            while (
                not (self._closing or self._flushing) and self._queued_bytes < self._settings.max_batch_bytes
            ):
                remaining = self._first_queued_at + linger_s - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            batch, self._queue, self._queued_bytes = self._queue, [], 0
            self._cond.notify_all()  # producers blocked on a full buffer may continue
            return batch


class SqliteProducer(BaseProducer):
    """A light handle: validation and partitioning here, durability in the shared writer."""

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
        if self._closed or self._writer.closed:
            raise LogClosedError("produce on a closed producer or log")
        entry, size = self.entry(topic, value, key, headers, timestamp_ms, partition, on_delivery)
        self._writer.append(entry, size)

    def produce_many(
        self,
        topic: str,
        records: Sequence[tuple[bytes | None, bytes | None, int | None]],
        on_delivery: DeliveryCallback,
    ) -> None:
        """Checked one by one, then queued in one step: all of them, or none. The topic is looked up
        once, and a key's partition once per batch: this is every reading's way into the log."""
        try:
            if self._closed or self._writer.closed:
                raise LogClosedError("produce on a closed producer or log")
            row = self._topics.get(topic)
            partitions: dict[bytes, int] = {}
            now_ms = time.time_ns() // 1_000_000
            entries: list[Pending] = []
            total = 0
            for value, key, timestamp_ms in records:
                size = self._checked_size(topic, row, value, key, ())
                if key is None:  # spread round-robin, record by record
                    partition = partition_for(None, row.spec.partitions)
                elif (partition := partitions.get(key, -1)) < 0:
                    partition = partitions[key] = partition_for(key, row.spec.partitions)
                ts = now_ms if timestamp_ms is None else timestamp_ms
                entries.append((topic, partition, key, value, (), ts, on_delivery))
                total += size
            self._writer.append_all(entries, total)
        except LogError as err:
            for _ in records:
                on_delivery(err, RecordMetadata(topic, -1, -1, 0))
            raise

    def entry(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: Headers,
        timestamp_ms: int | None,
        partition: int | None,
        on_delivery: DeliveryCallback | None,
    ) -> tuple[Pending, int]:
        """The writer's entry for one record and its size; raises for a record the log refuses."""
        row = self._topics.get(topic)
        size = self._checked_size(topic, row, value, key, headers)
        if partition is None:
            partition = partition_for(key, row.spec.partitions)
        elif not 0 <= partition < row.spec.partitions:
            raise InvalidRecordError(
                f"topic {topic!r} has partitions 0..{row.spec.partitions - 1}; got {partition}"
            )
        ts = time.time_ns() // 1_000_000 if timestamp_ms is None else timestamp_ms
        return (topic, partition, key, value, headers, ts, on_delivery), size

    def _checked_size(
        self, topic: str, row: TopicRow, value: bytes | None, key: bytes | None, headers: Headers
    ) -> int:
        if not isinstance(value, _BYTES_OR_NONE) or not isinstance(key, _BYTES_OR_NONE):
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

    def flush(self, timeout_s: float | None = None) -> int:
        return self._writer.flush(timeout_s)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._writer.flush(None)


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

        entries, size = [], 0
        for index, r in enumerate(records):
            entry, entry_size = self._producer.entry(
                r.topic, r.value, r.key, r.headers, r.timestamp_ms, None, delivered(index)
            )
            entries.append(entry)
            size += entry_size
        self._writer.append_all(entries, size)
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

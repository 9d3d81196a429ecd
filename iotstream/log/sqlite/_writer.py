"""The group commit: one writer thread per log in a process takes everything its producers queued
(after waiting at most `linger_ms` for more), writes one batch row per partition in a single
transaction, commits (fsync) and then acknowledges. Records produced while a commit is in flight ride
the next one, so throughput grows with load instead of collapsing.
"""

import logging
import threading
import time
from pathlib import Path

from iotstream.log.config import LogSettings
from iotstream.log.exceptions import LogClosedError, ProducerQueueFullError
from iotstream.log.sqlite._catalog import TopicCache
from iotstream.log.sqlite._db import commit_signal, connect
from iotstream.log.sqlite._write import Pending, write_batches

__all__ = ["GroupCommitWriter"]

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

    def append(self, entries: list[Pending]) -> None:
        """Queue entries that the writer takes together: they are committed in one transaction."""
        size = sum(entry.size for entry in entries)
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
            self._enqueued += sum(len(entry.values) for entry in entries)

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
                _log.exception("log writer failed on a batch of %d entries", len(batch))
            self._signal.notify()
            with self._cond:
                self._done += sum(len(entry.values) for entry in batch)
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

"""The storage sink role: log topics → the time-series store, in batches, committed after each write.

Offsets are committed only once the store has the batch, so a crash repeats a batch at worst, and the
idempotent upserts store it once. While the store is unavailable the sink retries the same batch with
growing backoff and reads at most one batch ahead; a record it cannot understand goes to the
dead-letter topic with the reason, and the rest of the batch is stored.
"""

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from iotstream._latency import LatencyHistogram
from iotstream.log.base import BaseLog
from iotstream.log.exceptions import CommitFailedError
from iotstream.log.topics import ALERTS, DEADLETTER, LATE, OBSERVATIONS
from iotstream.log.types import Record, TopicPartition
from iotstream.models import Alert, LateObservation, Observation, WindowAggregate
from iotstream.storage.base import BaseStorage, PreparedReadings, Rejected
from iotstream.storage.exceptions import StorageError
from iotstream.storage.records import DECODERS

__all__ = ["SinkTopics", "StorageSink"]

_log = logging.getLogger(__name__)
_SMALL_BATCH = 64  # readings; a write costs ~1 ms of CPU whatever its size, so a smaller batch lingers


@dataclass(frozen=True)
class SinkTopics:
    observations: Sequence[str] = (OBSERVATIONS,)
    aggregates: Sequence[str] = ()
    late: Sequence[str] = (LATE,)
    alerts: Sequence[str] = (ALERTS,)
    deadletter: str = DEADLETTER


@dataclass
class _Batch:
    """Decoded records of one poll: rows per kind, the undecodable ones, and the offsets to commit."""

    size: int
    rows: dict[str, list[tuple[Record, Any]]]
    bad: list[tuple[Record, str]]
    offsets: dict[TopicPartition, int]
    readings: PreparedReadings | None = None  # the observations, ready for the database


class StorageSink:
    """Run with `run(stop)`; `step()` does one poll-write-commit cycle (for tests)."""

    def __init__(
        self,
        log: BaseLog,
        storage: BaseStorage,
        topics: SinkTopics | None = None,
        *,
        group_id: str = "iotstream.storage",
        max_batch: int = 50_000,
        max_backoff_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        is_known: Callable[[str], bool] | None = None,
        commit_interval_ms: int = 200,
        linger_ms: int = 0,
    ) -> None:
        """`is_known` says whether a datastream is registered; without it every datastream is accepted.

        `linger_ms`: the shortest time from one poll to the next after a small batch (under 64 readings)
        while there is no backlog. A write costs about 1 ms of CPU whatever its size, so devices sending
        one reading per request made writes of a few dozen readings, ~50 µs of CPU each; lingering lets
        such batches grow. A busy stream's batches (a poll takes everything one log commit made visible)
        go at once: lingering there cost 3 to 4 ms of latency at 20,000 readings/s."""
        self._storage = storage
        self._topics = topics or SinkTopics()
        self._kinds = {t: "observations" for t in self._topics.observations}
        self._kinds |= {t: "aggregates" for t in self._topics.aggregates}
        self._kinds |= {t: "late" for t in self._topics.late}
        self._kinds |= {t: "alerts" for t in self._topics.alerts}
        self._is_known = is_known
        self._max_batch = max_batch
        self._max_backoff_s = max_backoff_s
        self._sleep = sleep
        self._producer = log.producer()
        self._consumer = log.consumer(group_id, auto_offset_reset="earliest")
        self._consumer.subscribe(list(self._kinds))
        self._stop = threading.Event()
        self.stored = 0
        self.rejected = 0
        self._commit_interval_s = commit_interval_ms / 1000
        self._linger_s = linger_ms / 1000
        self._next_commit = 0.0
        self._stored_offsets: dict[TopicPartition, int] = {}  # stored, not yet committed
        self.latency = LatencyHistogram()  # from acceptance (the reading's result time) to stored
        self.write_time = LatencyHistogram()  # one sample per batch written

    @property
    def assigned(self) -> bool:
        """Whether the consumer group gave this sink any partition (readiness)."""
        return bool(self._consumer.assignment())

    def run(self, stop: threading.Event) -> None:
        """Poll, decode and write in turn; offsets are committed only for stored batches.

        With a backlog (full batches), the next batch is polled and decoded while the last one is
        written on a writer thread: the database works in parallel with the decoding. Without one,
        the batch is written in this thread, since handing it to another thread and back costs two
        waits for the GIL (up to a switch interval, 5 ms, each in a busy process); and the next poll
        comes once the write is done (and `linger_ms` has passed since the last), so a batch takes
        everything that arrived meanwhile instead of waiting through another write.
        """
        self._stop = stop
        pending: tuple[Future[bool], _Batch] | None = None
        polled, small = -math.inf, False
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="iotstream-sink-writer") as writer:
                while not stop.is_set():
                    linger_s = self._linger_s if small else 0.0
                    if pending is None and (rest_s := polled + linger_s - time.monotonic()) > 0:
                        stop.wait(rest_s)
                    polled = time.monotonic()
                    records = self._consumer.poll(self._max_batch, 0.5)
                    small = len(records) < _SMALL_BATCH
                    batch = self._decode(records) if records else None
                    self._settle(pending)
                    pending = None
                    if batch is not None and batch.size >= self._max_batch:
                        pending = (writer.submit(self._store, batch), batch)
                    elif batch is not None and self._store(batch):
                        self._stored(batch)
                    elif batch is None and pending is None and time.monotonic() >= self._next_commit:
                        self._commit_stored()  # a quiet stream: what waited for the interval, so lag reads 0
                self._settle(pending)
                self._commit_stored()
        finally:  # after the writer has finished: it may still be writing dead letters
            self.close()

    def step(self, timeout_s: float = 0.5) -> int:
        """One poll-decode-write-commit cycle, all in the calling thread."""
        records = self._consumer.poll(self._max_batch, timeout_s)
        if records:
            batch = self._decode(records)
            if self._store(batch):
                self._stored_offsets |= batch.offsets
                self._commit_stored()
        return len(records)

    def _settle(self, pending: "tuple[Future[bool], _Batch] | None") -> None:
        """Wait for the write on the writer thread."""
        if pending is not None and pending[0].result():
            self._stored(pending[1])

    def _stored(self, batch: "_Batch") -> None:
        """Its offsets are committed at most every `commit_interval_s`: a commit is a write to the
        log, which would otherwise compete with ingestion for it after every batch. A crash repeats
        what was stored but not committed, and the idempotent writes store it once."""
        self._stored_offsets |= batch.offsets
        if time.monotonic() >= self._next_commit:
            self._commit_stored()

    def _commit_stored(self) -> None:
        offsets, self._stored_offsets = self._stored_offsets, {}
        self._next_commit = time.monotonic() + self._commit_interval_s
        if not offsets:
            return
        try:
            self._consumer.commit(offsets)
        except CommitFailedError as err:  # the partitions moved on; their new owner rewrites, idempotently
            _log.warning("stored records up to %s but could not commit them: %s", offsets, err)

    def _decode(self, records: list[Record]) -> "_Batch":
        """Rows per kind, each with its record (for a dead letter); this runs for every reading stored."""
        batch = _Batch(len(records), {kind: [] for kind in DECODERS}, [], _next_offsets(records))
        kinds, rows, unknown = self._kinds, batch.rows, self._unknown if self._is_known else None
        for record in records:
            kind = kinds[record.topic]
            decoded = DECODERS[kind](record)
            reason = decoded if type(decoded) is str else unknown(decoded) if unknown else None
            if reason is None:
                rows[kind].append((record, decoded))
            else:
                batch.bad.append((record, reason))
        if rows["observations"]:
            batch.readings = self._storage.prepare_readings([value for _, value in rows["observations"]])
        return batch

    def _store(self, batch: "_Batch") -> bool:
        """True once stored; False if asked to stop first (uncommitted, so the batch is read again)."""
        backoff_s = 0.1
        while not self._stop.is_set():
            began_ms = time.time_ns() // 1_000_000
            try:
                self._write(batch)
                self.write_time.add(time.time_ns() // 1_000_000, (began_ms,))
            except StorageError as err:
                if not err.retriable:
                    raise
                _log.warning(
                    "store unavailable, retrying %d records in %.1f s: %s", batch.size, backoff_s, err
                )
                self._sleep(backoff_s)
                backoff_s = min(backoff_s * 2, self._max_backoff_s)
            else:
                return True
        return False

    def _write(self, batch: "_Batch") -> None:
        writers: dict[str, Callable[[Any], list[Rejected]]] = {
            "aggregates": self._storage.write_aggregates,
            "late": self._storage.write_late,
            "alerts": self._storage.write_alerts,
        }
        bad = list(batch.bad)
        for kind, items in batch.rows.items():
            if kind == "observations" and batch.readings is not None:
                refused = self._storage.write_prepared(batch.readings)
            elif items:
                refused = writers[kind]([value for _, value in items])
            else:
                continue
            bad += [(items[r.position][0], r.reason) for r in refused]
        self._dead_letter(bad)
        self.stored += batch.size - len(bad)
        if batch.readings is not None:
            stored_ms = time.time_ns() // 1_000_000
            self.latency.add(stored_ms, batch.readings.table.column("result_time").to_pylist())

    def _unknown(self, decoded: Observation | WindowAggregate | LateObservation | Alert) -> str | None:
        if self._is_known is None:
            return None
        datastream = (
            decoded.observation.datastream if isinstance(decoded, LateObservation) else decoded.datastream
        )
        if self._is_known(datastream):
            return None
        return f"unknown datastream {datastream!r}: register it before sending data"

    def _dead_letter(self, bad: list[tuple[Record, str]]) -> None:
        for record, reason in bad:
            source = f"{record.topic}/{record.partition}/{record.offset}".encode()
            headers = [("reason", reason.encode()), ("role", b"storage"), ("source", source)]
            self._producer.produce(self._topics.deadletter, record.value, record.key, headers=headers)
        if bad:
            self.rejected += len(bad)
            self._producer.flush(30)  # the dead letters are durable before the offsets move on

    def close(self) -> None:
        self._consumer.close()
        self._producer.close()


def _next_offsets(records: list[Record]) -> dict[TopicPartition, int]:
    """The offset after each partition's last record (a poll returns each partition's in order)."""
    last = {(record.topic, record.partition): record.offset for record in records}
    return {TopicPartition(*partition): offset + 1 for partition, offset in last.items()}

"""Consuming from the SQLite log: batch rows are fetched per partition, decoded, and handed out.

Two cursors per partition: `_fetched` (where the next fetch starts, always at a batch boundary) and
`_positions` (the next record `poll` returns). They differ only while decoded records wait in the
buffer. Idle partitions are not queried again until `PRAGMA data_version` says another connection
committed, so an idle consumer costs one cheap pragma per poll interval.
"""

import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from iotstream.log.base import BaseConsumer
from iotstream.log.config import LogSettings
from iotstream.log.exceptions import LogClosedError, LogError, UnknownTopicError
from iotstream.log.sqlite._catalog import get_topic
from iotstream.log.sqlite._codec import decode_batch
from iotstream.log.sqlite._db import commit_signal, connect, now_ms, translate_errors, write_txn
from iotstream.log.sqlite._groups import GroupMember, Offsets
from iotstream.log.types import (
    OffsetResetValue,
    PartitionsCallback,
    Record,
    TopicPartition,
)

__all__ = ["SqliteConsumer"]

_FETCH_BATCHES = 16


class SqliteConsumer(BaseConsumer):
    def __init__(
        self,
        path: Path,
        settings: LogSettings,
        group_id: str | None,
        auto_offset_reset: OffsetResetValue,
    ) -> None:
        self._path = path
        self._settings = settings
        self._group_id = group_id
        self._reset = auto_offset_reset
        self._conn = connect(path, busy_timeout_ms=settings.busy_timeout_ms, fsync=settings.fsync)
        self._signal = commit_signal(path)
        self._member: GroupMember | None = None
        self._topic_ids: dict[str, int] = {}
        self._positions: dict[TopicPartition, int] = {}
        self._fetched: dict[TopicPartition, int] = {}
        self._buffers: dict[TopicPartition, list[Record]] = {}
        self._order: list[TopicPartition] = []
        self._next_first = 0
        self._idle: set[TopicPartition] = set()
        self._data_version = -1
        self._closed = False

    # -- membership -------------------------------------------------------------------------------

    def subscribe(
        self,
        topics: Sequence[str],
        *,
        on_assign: PartitionsCallback | None = None,
        on_revoke: PartitionsCallback | None = None,
    ) -> None:
        self._check_open()
        if self._group_id is None:
            raise LogError("subscribe needs a consumer created with a group_id")
        if self._positions and self._member is None:
            raise LogError("this consumer already has manually assigned partitions")
        if self._member is None:
            self._member = GroupMember(
                self._conn, self._path, self._group_id, self._settings, self._apply_change
            )
        self._member.on_assign, self._member.on_revoke = on_assign, on_revoke
        self._member.join(list(topics))

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        self._check_open()
        if self._member is not None:
            raise LogError("this consumer is subscribed to a group; it cannot also assign")
        self._apply_change(set(self._positions), {})
        wanted = list(partitions)
        self._apply_change(set(), dict(self.committed(wanted)) if self._group_id else dict.fromkeys(wanted))

    def assignment(self) -> set[TopicPartition]:
        return set(self._positions)

    def _apply_change(self, removed: set[TopicPartition], added: Offsets) -> None:
        for tp in removed:
            for state in (self._positions, self._fetched, self._buffers):
                state.pop(tp, None)
        with translate_errors(self._path):
            for tp, committed in added.items():
                start, end = self.offset_bounds(tp)
                reset = start if self._reset == "earliest" else end
                self._move(tp, reset if committed is None else committed)
        self._order = sorted(self._positions)

    # -- reading ----------------------------------------------------------------------------------

    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]:
        self._check_open()
        deadline = time.monotonic() + timeout_s
        while True:
            seen = self._signal.version
            with translate_errors(self._path):
                if self._member is not None:
                    self._member.maybe_sync()
                records = self._drain(max_records)
            remaining = deadline - time.monotonic()
            if records or remaining <= 0:
                return records
            self._signal.wait(seen, min(remaining, self._settings.poll_interval_ms / 1000))

    def _drain(self, max_records: int) -> list[Record]:
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._data_version = version
            self._idle.clear()
        out: list[Record] = []
        count = len(self._order)
        for i in range(count):  # start at a different partition each poll, for fairness
            tp = self._order[(self._next_first + i) % count]
            buffer = self._buffers[tp]
            if not buffer and tp not in self._idle:
                buffer = self._buffers[tp] = self._fetch(tp, max_records)
            if not buffer:
                self._idle.add(tp)
                continue
            take = buffer[: max_records - len(out)]
            del buffer[: len(take)]
            out.extend(take)
            self._positions[tp] = buffer[0].offset if buffer else self._fetched[tp]
            if len(out) >= max_records:
                break
        self._next_first = self._next_first + 1 if count else 0
        return out

    def _fetch(self, tp: TopicPartition, wanted: int) -> list[Record]:
        topic_id = self._topic_id(tp.topic)
        position = self._positions[tp]
        records: list[Record] = []
        while len(records) < wanted:
            rows = self._conn.execute(
                "SELECT base_offset, last_offset, payload FROM batches WHERE topic_id = ? AND"
                " partition = ? AND last_offset >= ? ORDER BY last_offset LIMIT ?",
                (topic_id, tp.partition, self._fetched[tp], _FETCH_BATCHES),
            ).fetchall()
            for base_offset, last_offset, payload in rows:
                batch = decode_batch(payload, tp.topic, tp.partition, base_offset)
                records.extend(r for r in batch if r.offset >= position)
                self._fetched[tp] = last_offset + 1
            if len(rows) < _FETCH_BATCHES:
                break
        return records

    # -- positions --------------------------------------------------------------------------------

    def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        self._check_open()
        if self._group_id is None:
            raise LogError("commit needs a consumer created with a group_id")
        to_commit = dict(self._positions) if offsets is None else offsets
        with translate_errors(self._path), write_txn(self._conn):
            if self._member is not None:
                self._member.check_owned(to_commit)
            for tp, offset in to_commit.items():
                self._conn.execute(
                    "INSERT OR REPLACE INTO group_offsets VALUES (?, ?, ?, ?, ?)",
                    (self._group_id, tp.topic, tp.partition, offset, now_ms()),
                )

    def committed(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int | None]:
        result: dict[TopicPartition, int | None] = {}
        with translate_errors(self._path):
            for tp in partitions:
                row = self._conn.execute(
                    "SELECT next_offset FROM group_offsets WHERE group_id = ? AND topic = ?"
                    " AND partition = ?",
                    (self._group_id, tp.topic, tp.partition),
                ).fetchone()
                result[tp] = None if row is None else int(row[0])
        return result

    def position(self, partition: TopicPartition) -> int:
        self._check_assigned(partition)
        return self._positions[partition]

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self._check_assigned(partition)
        if offset < 0:
            raise LogError(f"cannot seek {partition.topic}[{partition.partition}] to {offset}")
        self._move(partition, offset)

    def seek_to_timestamp(
        self, timestamp_ms: int, partitions: Iterable[TopicPartition] | None = None
    ) -> None:
        for tp in self._chosen(partitions):
            self._move(tp, self._offset_for_time(tp, timestamp_ms))

    def _offset_for_time(self, tp: TopicPartition, timestamp_ms: int) -> int:
        """Batches older than the first one reaching `timestamp_ms` hold only earlier records."""
        with translate_errors(self._path):
            row = self._conn.execute(
                "SELECT base_offset, payload FROM batches WHERE topic_id = ? AND partition = ? AND"
                " max_timestamp_ms >= ? ORDER BY last_offset LIMIT 1",
                (self._topic_id(tp.topic), tp.partition, timestamp_ms),
            ).fetchone()
            if row is None:
                return self.offset_bounds(tp)[1]
        batch = decode_batch(row[1], tp.topic, tp.partition, row[0])
        return next(r.offset for r in batch if r.timestamp_ms >= timestamp_ms)

    def _move(self, tp: TopicPartition, offset: int) -> None:
        self._positions[tp] = self._fetched[tp] = offset
        self._buffers[tp] = []
        self._idle.discard(tp)

    def offset_bounds(self, partition: TopicPartition) -> tuple[int, int]:
        tp = partition
        row = self._conn.execute(
            "SELECT start_offset, next_offset FROM partitions WHERE topic_id = ? AND partition = ?",
            (self._topic_id(tp.topic), tp.partition),
        ).fetchone()
        if row is None:
            raise UnknownTopicError(f"topic {tp.topic!r} has no partition {tp.partition}")
        return int(row[0]), int(row[1])

    def _topic_id(self, topic: str) -> int:
        topic_id = self._topic_ids.get(topic)
        if topic_id is None:
            row = get_topic(self._conn, topic)
            if row is None:
                raise UnknownTopicError(f"topic {topic!r} does not exist")
            topic_id = self._topic_ids[topic] = row.id
        return topic_id

    def _check_assigned(self, tp: TopicPartition) -> None:
        self._check_open()
        if tp not in self._positions:
            raise LogError(f"{tp.topic}[{tp.partition}] is not assigned to this consumer")

    def _check_open(self) -> None:
        if self._closed:
            raise LogClosedError("the consumer is closed")

    def close(self) -> None:
        if self._closed:
            return
        try:
            if self._member is not None:
                self._member.leave()
        finally:
            self._closed = True
            self._conn.close()

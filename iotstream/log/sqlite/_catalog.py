"""Topic metadata in the log file, and a per-process cache so produce never queries it per record."""

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from iotstream.log._validation import validate_spec
from iotstream.log.exceptions import TopicExistsError, UnknownTopicError
from iotstream.log.sqlite._db import now_ms, translate_errors, write_txn
from iotstream.log.types import CleanupPolicy, PartitionInfo, TopicSpec

__all__ = [
    "TopicCache",
    "TopicRow",
    "create_topic",
    "delete_topic",
    "get_topic",
    "partition_offsets",
]


@dataclass(frozen=True, slots=True)
class TopicRow:
    id: int
    spec: TopicSpec


def create_topic(conn: sqlite3.Connection, spec: TopicSpec, *, exist_ok: bool) -> None:
    validate_spec(spec)
    with write_txn(conn):
        if get_topic(conn, spec.name) is not None:
            if exist_ok:
                return
            raise TopicExistsError(f"topic {spec.name!r} already exists")
        cursor = conn.execute(
            "INSERT INTO topics (name, partitions, retention_ms, retention_bytes, cleanup_policy,"
            " created_ms) VALUES (?, ?, ?, ?, ?, ?)",
            (
                spec.name,
                spec.partitions,
                spec.retention_ms,
                spec.retention_bytes,
                spec.cleanup_policy.value,
                now_ms(),
            ),
        )
        conn.execute(
            "WITH RECURSIVE p(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM p WHERE n + 1 < ?)"
            " INSERT INTO partitions (topic_id, partition) SELECT ?, n FROM p",
            (spec.partitions, cursor.lastrowid),
        )


def delete_topic(conn: sqlite3.Connection, name: str) -> None:
    with write_txn(conn):
        row = get_topic(conn, name)
        if row is None:
            raise UnknownTopicError(f"topic {name!r} does not exist")
        for table in ("batches", "partitions"):
            conn.execute(f"DELETE FROM {table} WHERE topic_id = ?", (row.id,))  # noqa: S608
        for table in ("group_offsets", "group_owners"):
            conn.execute(f"DELETE FROM {table} WHERE topic = ?", (name,))  # noqa: S608
        conn.execute("DELETE FROM topics WHERE id = ?", (row.id,))


def get_topic(conn: sqlite3.Connection, name: str) -> TopicRow | None:
    row = conn.execute(
        "SELECT id, partitions, retention_ms, retention_bytes, cleanup_policy FROM topics WHERE name = ?",
        (name,),
    ).fetchone()
    if row is None:
        return None
    spec = TopicSpec(name, row[1], row[2], row[3], CleanupPolicy(row[4]))
    return TopicRow(row[0], spec)


def list_topics(conn: sqlite3.Connection) -> list[TopicRow]:
    names = [r[0] for r in conn.execute("SELECT name FROM topics ORDER BY name")]
    return [row for name in names if (row := get_topic(conn, name)) is not None]


def partition_offsets(conn: sqlite3.Connection, topic_id: int) -> list[PartitionInfo]:
    rows = conn.execute(
        "SELECT partition, start_offset, next_offset FROM partitions WHERE topic_id = ? ORDER BY partition",
        (topic_id,),
    )
    return [PartitionInfo(p, start, end) for p, start, end in rows]


class TopicCache:
    """Name → topic row for producers; misses go to the file, optionally creating the topic."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        lock: threading.RLock,
        *,
        auto_create: bool,
        default_partitions: int,
    ) -> None:
        self._conn = conn
        self._path = path
        self._auto_create = auto_create
        self._default_partitions = default_partitions
        self._rows: dict[str, TopicRow] = {}
        self._lock = lock

    def get(self, name: str) -> TopicRow:
        row = self._rows.get(name)
        if row is None:
            row = self._load(name)
        return row

    def forget(self, name: str) -> None:
        self._rows.pop(name, None)

    def _load(self, name: str) -> TopicRow:
        with self._lock, translate_errors(self._path):
            row = get_topic(self._conn, name)
            if row is None and self._auto_create:
                create_topic(self._conn, TopicSpec(name, self._default_partitions), exist_ok=True)
                row = get_topic(self._conn, name)
        if row is None:
            raise UnknownTopicError(
                f"topic {name!r} does not exist; create it (`iotstream topics create {name}`) or "
                "set [log] auto_create_topics = true"
            )
        self._rows[name] = row
        return row

"""Retention (by time and size) and compaction (latest value per key) for the SQLite log.

Retention deletes whole batches from the front of a partition, like Kafka deletes whole segments,
so offsets stay dense after the start offset. Compaction rewrites batches keeping, per key, only
the record with the highest offset; survivors keep their offsets. Each partition is handled in its
own short transaction so producers wait at most one partition's work.
"""

import sqlite3
from collections.abc import Sequence

from iotstream.log.sqlite._catalog import TopicRow, list_topics
from iotstream.log.sqlite._codec import StoredRecord, decode_stored, encode_batch
from iotstream.log.sqlite._db import now_ms, write_txn
from iotstream.log.types import CleanupPolicy, MaintenanceReport

__all__ = ["run_maintenance"]


def run_maintenance(
    conn: sqlite3.Connection, compacted_at: dict[tuple[int, int], int], keep_unread_by: Sequence[str] = ()
) -> MaintenanceReport:
    """Apply every topic's policy; `compacted_at` remembers end offsets to skip unchanged partitions.
    Records the groups in `keep_unread_by` have not committed past stay, whatever the retention says."""
    report = MaintenanceReport()
    for topic in list_topics(conn):
        for partition in range(topic.spec.partitions):
            with write_txn(conn):
                if topic.spec.cleanup_policy is CleanupPolicy.COMPACT:
                    report.records_compacted += _compact(conn, topic, partition, compacted_at)
                else:
                    report.batches_deleted += _retain(conn, topic, partition, keep_unread_by)
                _update_start_offset(conn, topic.id, partition)
    return report


def _retain(conn: sqlite3.Connection, topic: TopicRow, partition: int, keep_unread_by: Sequence[str]) -> int:
    cutoffs = []
    if topic.spec.retention_ms is not None:
        cutoffs.append(_time_cutoff(conn, topic.id, partition, now_ms() - topic.spec.retention_ms))
    if topic.spec.retention_bytes is not None:
        cutoffs.append(_size_cutoff(conn, topic.id, partition, topic.spec.retention_bytes))
    if not cutoffs:
        return 0
    cutoff = max(cutoffs)
    if keep_unread_by:
        cutoff = min(cutoff, _unread_from(conn, topic.spec.name, partition, keep_unread_by))
    deleted = conn.execute(
        "DELETE FROM batches WHERE topic_id = ? AND partition = ? AND last_offset < ?",
        (topic.id, partition, cutoff),
    ).rowcount
    return int(deleted)


def _unread_from(conn: sqlite3.Connection, topic: str, partition: int, groups: Sequence[str]) -> int:
    """The first offset one of `groups` has not read yet; none of its records may go. A group that
    reads the topic but never committed this partition has read nothing of it."""
    floor = 2**62
    for group in groups:
        offsets = dict(
            conn.execute(
                "SELECT partition, next_offset FROM group_offsets WHERE group_id = ? AND topic = ?",
                (group, topic),
            ).fetchall()
        )
        if offsets:
            floor = min(floor, offsets.get(partition, -1))
    return floor


def _time_cutoff(conn: sqlite3.Connection, topic_id: int, partition: int, oldest_ms: int) -> int:
    """Last offset of the first batch to keep: the first whose newest record is still in time."""
    row = conn.execute(
        "SELECT last_offset FROM batches WHERE topic_id = ? AND partition = ? AND"
        " max_timestamp_ms >= ? ORDER BY last_offset LIMIT 1",
        (topic_id, partition, oldest_ms),
    ).fetchone()
    return int(row[0]) if row else 2**62


def _size_cutoff(conn: sqlite3.Connection, topic_id: int, partition: int, max_bytes: int) -> int:
    total = 0
    rows = conn.execute(
        "SELECT last_offset, size_bytes FROM batches WHERE topic_id = ? AND partition = ?"
        " ORDER BY last_offset DESC",
        (topic_id, partition),
    )
    for last_offset, size in rows:
        total += size
        if total > max_bytes:
            return int(last_offset) + 1
    return -1


def _compact(
    conn: sqlite3.Connection,
    topic: TopicRow,
    partition: int,
    compacted_at: dict[tuple[int, int], int],
) -> int:
    end = conn.execute(
        "SELECT next_offset FROM partitions WHERE topic_id = ? AND partition = ?",
        (topic.id, partition),
    ).fetchone()[0]
    if compacted_at.get((topic.id, partition)) == end:
        return 0
    query = (
        "SELECT last_offset, base_offset, payload FROM batches WHERE topic_id = ? AND partition = ?"
        " ORDER BY last_offset"
    )
    latest: dict[bytes | None, int] = {}
    for _, base, payload in conn.execute(query, (topic.id, partition)):
        for delta, _ts, key, _value, _headers in decode_stored(payload):
            latest[key] = base + delta
    removed = 0
    for last_offset, base, payload in conn.execute(query, (topic.id, partition)).fetchall():
        stored = decode_stored(payload)
        kept = [r for r in stored if latest[r[2]] == base + r[0]]
        removed += len(stored) - len(kept)
        if len(kept) < len(stored):
            _rewrite(conn, topic.id, partition, last_offset, kept)
    compacted_at[(topic.id, partition)] = end
    return removed


def _rewrite(
    conn: sqlite3.Connection,
    topic_id: int,
    partition: int,
    last_offset: int,
    kept: list[StoredRecord],
) -> None:
    key = (topic_id, partition, last_offset)
    if not kept:
        conn.execute("DELETE FROM batches WHERE topic_id = ? AND partition = ? AND last_offset = ?", key)
        return
    payload = encode_batch(kept)
    conn.execute(
        "UPDATE batches SET payload = ?, record_count = ?, size_bytes = ?, max_timestamp_ms = ?"
        " WHERE topic_id = ? AND partition = ? AND last_offset = ?",
        (payload, len(kept), len(payload), max(r[1] for r in kept), *key),
    )


def _update_start_offset(conn: sqlite3.Connection, topic_id: int, partition: int) -> None:
    conn.execute(
        "UPDATE partitions SET start_offset = COALESCE((SELECT min(base_offset) FROM batches"
        " WHERE topic_id = ?1 AND partition = ?2), next_offset) WHERE topic_id = ?1 AND partition = ?2",
        (topic_id, partition),
    )

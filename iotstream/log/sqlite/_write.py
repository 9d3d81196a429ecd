"""One group commit: the queued records of many partitions written in a single transaction."""

import logging
import sqlite3
import time
from collections import defaultdict
from pathlib import Path

from iotstream.log.config import LogSettings
from iotstream.log.exceptions import LogError, UnknownTopicError
from iotstream.log.sqlite._catalog import TopicCache
from iotstream.log.sqlite._codec import StoredRecord, encode_batch
from iotstream.log.sqlite._db import translate_errors, write_txn
from iotstream.log.types import DeliveryCallback, Headers, RecordMetadata

__all__ = ["Pending", "write_batches"]

_log = logging.getLogger(__name__)

# (topic, partition, key, value, headers, timestamp_ms, on_delivery): a tuple, because it is built once
# per produced record and must cost as little as possible.
Pending = tuple[str, int, bytes | None, bytes | None, Headers, int, DeliveryCallback | None]
_Group = list[Pending]


def write_batches(
    conn: sqlite3.Connection,
    path: Path,
    queued: list[Pending],
    settings: LogSettings,
    topics: TopicCache,
) -> None:
    """Write, commit, then acknowledge; retry a locked file until `delivery_timeout_ms`."""
    groups: defaultdict[tuple[str, int], _Group] = defaultdict(list)
    for entry in queued:
        groups[entry[0], entry[1]].append(entry)
    deadline = time.monotonic() + settings.delivery_timeout_ms / 1000
    backoff_s = 0.01
    while True:
        try:
            with translate_errors(path), write_txn(conn):
                outcomes = {tp: _append(conn, tp, group, settings) for tp, group in groups.items()}
            break
        except LogError as err:
            if err.retriable and time.monotonic() < deadline:
                time.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, 0.5)
                continue
            _log.error("log write of %d records failed: %s", len(queued), err)
            outcomes = dict.fromkeys(groups, err)
            break
    for (topic, partition), outcome in outcomes.items():
        if isinstance(outcome, UnknownTopicError):
            topics.forget(topic)
        _acknowledge(topic, partition, groups[(topic, partition)], outcome)


def _append(
    conn: sqlite3.Connection, tp: tuple[str, int], group: _Group, settings: LogSettings
) -> int | LogError:
    """Insert one partition's records as batch rows; return the first offset, or why it failed."""
    topic, partition = tp
    row = conn.execute(
        "SELECT p.topic_id, p.next_offset FROM topics t JOIN partitions p ON p.topic_id = t.id"
        " WHERE t.name = ? AND p.partition = ?",
        (topic, partition),
    ).fetchone()
    if row is None:
        return UnknownTopicError(f"topic {topic!r} partition {partition} no longer exists")
    topic_id, first_offset = row
    next_offset = first_offset
    for chunk in _chunks(group, settings.max_batch_bytes):
        stored: list[StoredRecord] = [(i, e[5], e[2], e[3], e[4]) for i, e in enumerate(chunk)]
        payload = encode_batch(stored)
        conn.execute(
            "INSERT INTO batches (topic_id, partition, last_offset, base_offset, record_count,"
            " max_timestamp_ms, size_bytes, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                topic_id,
                partition,
                next_offset + len(chunk) - 1,
                next_offset,
                len(chunk),
                max(e[5] for e in chunk),
                len(payload),
                payload,
            ),
        )
        next_offset += len(chunk)
    conn.execute(
        "UPDATE partitions SET next_offset = ? WHERE topic_id = ? AND partition = ?",
        (next_offset, topic_id, partition),
    )
    return int(first_offset)


def _chunks(group: _Group, max_bytes: int) -> list[_Group]:
    """Split a partition's records so no batch row grows past `max_batch_bytes`."""
    chunks: list[_Group] = [[]]
    size = 0
    for entry in group:
        entry_size = len(entry[3] or b"") + len(entry[2] or b"")
        if chunks[-1] and size + entry_size > max_bytes:
            chunks.append([])
            size = 0
        chunks[-1].append(entry)
        size += entry_size
    return chunks


def _acknowledge(topic: str, partition: int, group: _Group, outcome: int | LogError) -> None:
    error, first = (outcome, None) if isinstance(outcome, LogError) else (None, outcome)
    for i, entry in enumerate(group):
        callback = entry[6]
        if callback is None:
            continue
        try:
            callback(error, RecordMetadata(topic, partition, -1 if first is None else first + i, entry[5]))
        except Exception:  # a failing user callback must not stop the others
            _log.exception("delivery callback failed for %s[%d]", topic, partition)

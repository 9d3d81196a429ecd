"""One group commit: the queued records of many partitions written in a single transaction.

The writer's queue holds `Pending` entries, each some records of one partition as columns, with one
acknowledgement: a single `produce` is an entry of one record, a `produce_many` batch one entry per
partition it touches. Per record, nothing runs in Python here: columns are joined and zipped into the
stored tuples in C, and no callback or metadata object is made per record.
"""

import logging
import sqlite3
import time
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Sequence
from itertools import accumulate, repeat
from operator import add
from pathlib import Path
from typing import NamedTuple

from iotstream.log.config import LogSettings
from iotstream.log.exceptions import LogError, UnknownTopicError
from iotstream.log.sqlite._catalog import TopicCache
from iotstream.log.sqlite._codec import encode_batch
from iotstream.log.sqlite._db import translate_errors, write_txn
from iotstream.log.types import Headers

__all__ = ["Acknowledge", "Pending", "lengths", "write_batches"]

_log = logging.getLogger(__name__)

# Called once per entry after the commit: (None, offset of its first record) or (the error, -1).
Acknowledge = Callable[[LogError | None, int], None]


class Pending(NamedTuple):
    topic: str
    partition: int
    values: list[bytes | None]
    keys: list[bytes | None]
    timestamps_ms: list[int]
    headers: list[Headers] | None  # None when no record has any
    size: int  # bytes of the keys and values
    acknowledge: Acknowledge | None


def write_batches(
    conn: sqlite3.Connection, path: Path, queued: list[Pending], settings: LogSettings, topics: TopicCache
) -> None:
    """Write, commit, then acknowledge; retry a locked file until `delivery_timeout_ms`."""
    groups: defaultdict[tuple[str, int], list[Pending]] = defaultdict(list)
    for entry in queued:
        groups[entry.topic, entry.partition].append(entry)
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
            _log.error("log write of %d entries failed: %s", len(queued), err)
            outcomes = dict.fromkeys(groups, err)
            break
        except Exception as err:  # a bug: the entries must still be answered, or producers wait forever
            _log.exception("log write of %d entries failed", len(queued))
            outcomes = dict.fromkeys(groups, LogError(f"the log could not write the records: {err!r}"))
            break
    for (topic, _), outcome in outcomes.items():
        if isinstance(outcome, UnknownTopicError):
            topics.forget(topic)
    for tp, group in groups.items():
        _acknowledge(group, outcomes[tp])


def _append(
    conn: sqlite3.Connection, tp: tuple[str, int], group: list[Pending], settings: LogSettings
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
    values, keys, times, headers = _joined(group)
    next_offset = first_offset
    for start, end in _chunks(group, values, keys, settings.max_batch_bytes):
        count = end - start
        stored = zip(
            range(count),
            times[start:end],
            keys[start:end],
            values[start:end],
            headers[start:end],
            strict=True,
        )
        payload = encode_batch(list(stored))
        conn.execute(
            "INSERT INTO batches (topic_id, partition, last_offset, base_offset, record_count,"
            " max_timestamp_ms, size_bytes, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                topic_id,
                partition,
                next_offset + count - 1,
                next_offset,
                count,
                max(times[start:end]),
                len(payload),
                payload,
            ),
        )
        next_offset += count
    conn.execute(
        "UPDATE partitions SET next_offset = ? WHERE topic_id = ? AND partition = ?",
        (next_offset, topic_id, partition),
    )
    return int(first_offset)


def _joined(group: list[Pending]) -> tuple[list[bytes | None], list[bytes | None], list[int], list[Headers]]:
    """The group's records as one set of columns, in the order they were queued."""
    values: list[bytes | None] = []
    keys: list[bytes | None] = []
    times: list[int] = []
    headers: list[Headers] = []
    for entry in group:
        values += entry.values
        keys += entry.keys
        times += entry.timestamps_ms
        headers += entry.headers if entry.headers is not None else repeat((), len(entry.values))
    return values, keys, times, headers


def _chunks(
    group: list[Pending], values: list[bytes | None], keys: list[bytes | None], max_bytes: int
) -> list[tuple[int, int]]:
    """Split a partition's records, as (start, end) ranges, so no batch row grows past
    `max_batch_bytes`: between entries where they fit, record by record only in an entry that does not
    (a record larger than that gets a row of its own)."""
    ranges, start, end, size = [], 0, 0, 0
    for entry in group:
        count = len(entry.values)
        if entry.size > max_bytes:
            if end > start:
                ranges.append((start, end))
            ranges += _split(values[end : end + count], keys[end : end + count], max_bytes, end)
            start, size = end + count, 0
        elif size + entry.size > max_bytes and end > start:
            ranges.append((start, end))
            start, size = end, entry.size
        else:
            size += entry.size
        end += count
    if end > start:
        ranges.append((start, end))
    return ranges


def _split(
    values: list[bytes | None], keys: list[bytes | None], max_bytes: int, offset: int
) -> list[tuple[int, int]]:
    ends = list(accumulate(map(add, lengths(values), lengths(keys))))
    ranges, start, base = [], 0, 0
    while start < len(values):
        end = max(bisect_right(ends, base + max_bytes, lo=start), start + 1)
        ranges.append((offset + start, offset + end))
        start, base = end, ends[end - 1]
    return ranges


def lengths(items: Sequence[bytes | None]) -> list[int]:
    """Each item's length, None's 0; in C when there is no None."""
    if None in items:
        return [len(item or b"") for item in items]
    return list(map(len, items))  # type: ignore[arg-type]


def _acknowledge(group: list[Pending], outcome: int | LogError) -> None:
    offset = outcome
    for entry in group:
        if entry.acknowledge is not None:
            try:
                if isinstance(offset, LogError):
                    entry.acknowledge(offset, -1)
                else:
                    entry.acknowledge(None, offset)
            except Exception:  # a failing user callback must not stop the others
                _log.exception("delivery callback failed for %s[%d]", entry.topic, entry.partition)
        if not isinstance(offset, LogError):
            offset += len(entry.values)

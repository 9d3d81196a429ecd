"""A device's store-and-forward buffer: readings kept in a SQLite file until the platform takes them.

Readings are appended in the order they were sent and read back oldest first; a batch is deleted only
once the platform has acknowledged it (202), so a reading survives a crash, a reboot or a long outage,
and is delivered in order. If the process dies between the acknowledgement and the delete, the batch
is sent again after the restart: harmless, as each reading keeps its time and so its message id, and
the platform stores it once.

The buffer is bounded by a number of readings and a number of bytes (of the readings' JSON; the file
itself is about a third larger). When a new reading does not fit, `on_full` decides:

- `"drop_oldest"` (the default): the oldest buffered readings make room; the drop is counted in
  `dropped` and logged as a warning once per full spell. A device keeps its most recent data.
- `"error"`: `BufferFullError` is raised and nothing of the new readings is kept.

One buffer file belongs to one client at a time.
"""

import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal, NamedTuple

from iotstream.client.exceptions import BufferFullError

__all__ = ["DEFAULT_FILE_NAME", "BufferedReading", "DiskBuffer", "OnFull"]

DEFAULT_FILE_NAME = "iotstream-buffer.sqlite3"
OnFull = Literal["drop_oldest", "error"]
_log = logging.getLogger(__name__)
_SCHEMA = "CREATE TABLE IF NOT EXISTS readings (seq INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB NOT NULL)"


class BufferedReading(NamedTuple):
    seq: int  # the buffer's order: increasing, never reused (AUTOINCREMENT)
    body: bytes  # the reading's JSON


class DiskBuffer:
    """Readings waiting for the platform, in a SQLite file (WAL, synchronous=FULL: a power cut loses
    nothing that `append` returned for)."""

    def __init__(
        self,
        path: str | Path,
        *,
        max_readings: int = 1_000_000,
        max_bytes: int = 256 * 1024**2,
        on_full: OnFull = "drop_oldest",
    ) -> None:
        """`path`: a file, or a directory (existing, or named without a suffix) to hold
        `iotstream-buffer.sqlite3`."""
        if max_readings < 1 or max_bytes < 1:
            raise ValueError("a buffer must hold at least one reading and one byte")
        if on_full not in ("drop_oldest", "error"):
            raise ValueError(f"on_full must be 'drop_oldest' or 'error', got {on_full!r}")
        self.path = _file_of(Path(path))
        self.max_readings, self.max_bytes, self.on_full = max_readings, max_bytes, on_full
        self.dropped = 0  # readings dropped to make room, since this buffer was opened
        self._full = False  # within a spell of dropping: logged once
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=10000"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.execute(_SCHEMA)
        self._count, self._bytes = self._totals("SELECT count(*), total(length(body)) FROM readings")

    def __len__(self) -> int:
        return self._count

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def append(self, bodies: Sequence[bytes]) -> None:
        """Keep these readings (JSON each) after the others, making room as `on_full` says."""
        with self._lock, self._transaction():
            bodies = self._make_room(list(bodies))
            self._db.executemany("INSERT INTO readings (body) VALUES (?)", [(body,) for body in bodies])
            self._count += len(bodies)
            self._bytes += sum(map(len, bodies))

    def oldest(self, limit: int) -> list[BufferedReading]:
        with self._lock:
            rows = self._db.execute("SELECT seq, body FROM readings ORDER BY seq LIMIT ?", (limit,))
            return [BufferedReading(seq, bytes(body)) for seq, body in rows]

    def ack(self, last_seq: int) -> None:
        """The platform has every reading up to `last_seq`: forget them."""
        with self._lock, self._transaction():
            count, size = self._totals(
                "SELECT count(*), total(length(body)) FROM readings WHERE seq <= ?", last_seq
            )
            self._db.execute("DELETE FROM readings WHERE seq <= ?", (last_seq,))
            self._count -= count
            self._bytes -= size
        if self._full and not self._over(1, 0):
            _log.info("disk buffer %s has room again (%d readings dropped in all)", self.path, self.dropped)
            self._full = False

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _make_room(self, bodies: list[bytes]) -> list[bytes]:
        """The part of `bodies` to insert, after dropping what must go; or BufferFullError."""
        incoming = sum(map(len, bodies))
        if not self._over(len(bodies), incoming):
            return bodies
        if self.on_full == "error":
            raise BufferFullError(
                f"disk buffer {self.path} is full ({self._count} readings, {self._bytes} bytes; at most"
                f" {self.max_readings} readings, {self.max_bytes} bytes): {len(bodies)} readings refused"
            )
        kept = _newest_that_fit(bodies, self.max_readings, self.max_bytes)
        lost = len(bodies) - len(kept) + self._drop_oldest(len(kept), sum(map(len, kept)))
        self.dropped += lost
        if not self._full:
            _log.warning(
                "disk buffer %s is full (at most %d readings, %d bytes): dropped the oldest %d readings;"
                " more will go while the platform stays away",
                self.path,
                self.max_readings,
                self.max_bytes,
                lost,
            )
            self._full = True
        return kept

    def _drop_oldest(self, count: int, size: int) -> int:
        """Delete the oldest readings until `count` more readings of `size` bytes fit; how many went."""
        need_readings = self._count + count - self.max_readings
        need_bytes = self._bytes + size - self.max_bytes
        dropped = freed = last_seq = 0
        for seq, length in self._db.execute("SELECT seq, length(body) FROM readings ORDER BY seq"):
            if dropped >= need_readings and freed >= need_bytes:
                break
            dropped, freed, last_seq = dropped + 1, freed + length, seq
        self._db.execute("DELETE FROM readings WHERE seq <= ?", (last_seq,))
        self._count -= dropped
        self._bytes -= freed
        return dropped

    def _over(self, count: int, size: int) -> bool:
        return self._count + count > self.max_readings or self._bytes + size > self.max_bytes

    def _totals(self, query: str, *params: int) -> tuple[int, int]:
        count, size = self._db.execute(query, params).fetchone()
        return int(count), int(size)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")


def _newest_that_fit(bodies: list[bytes], max_readings: int, max_bytes: int) -> list[bytes]:
    """The longest tail of `bodies` that fits an empty buffer."""
    kept: list[bytes] = []
    size = 0
    for body in reversed(bodies):
        if len(kept) == max_readings or size + len(body) > max_bytes:
            break
        kept.append(body)
        size += len(body)
    kept.reverse()
    return kept


def _file_of(path: Path) -> Path:
    """A directory (an existing one, or a new name without a suffix) gets the default file name."""
    if path.is_dir() or (not path.exists() and not path.suffix):
        path.mkdir(parents=True, exist_ok=True)
        path = path / DEFAULT_FILE_NAME
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    return path

"""Connections, schema and error translation for the SQLite log file.

Records are stored as *batches*: one row per group-committed run of records of one partition, its
records packed with msgpack (see `_codec`). Like Kafka's record batches, this keeps SQLite's per-row
cost off the per-record path, which is what makes >100k durable records/s possible from Python.
"""

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from iotstream._sqlite import enable_wal
from iotstream.log.exceptions import LogClosedError, LogCorruptError, LogError, LogLockedError

__all__ = ["CommitSignal", "commit_signal", "connect", "now_ms", "sqlite_path", "write_txn"]

APPLICATION_ID = 0x696F7473  # "iots": tells our log files apart from any other SQLite database
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    partitions INTEGER NOT NULL,
    retention_ms INTEGER,
    retention_bytes INTEGER,
    cleanup_policy TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS partitions (
    topic_id INTEGER NOT NULL,
    partition INTEGER NOT NULL,
    start_offset INTEGER NOT NULL DEFAULT 0,
    next_offset INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (topic_id, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS batches (
    topic_id INTEGER NOT NULL,
    partition INTEGER NOT NULL,
    last_offset INTEGER NOT NULL,
    base_offset INTEGER NOT NULL,
    record_count INTEGER NOT NULL,
    max_timestamp_ms INTEGER NOT NULL,
    size_bytes INTEGER NOT NULL,
    payload BLOB NOT NULL,
    PRIMARY KEY (topic_id, partition, last_offset)
);
CREATE TABLE IF NOT EXISTS group_members (
    group_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    topics TEXT NOT NULL,
    heartbeat_ms INTEGER NOT NULL,
    PRIMARY KEY (group_id, member_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_owners (
    group_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    member_id TEXT NOT NULL,
    PRIMARY KEY (group_id, topic, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_offsets (
    group_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    committed_ms INTEGER NOT NULL,
    PRIMARY KEY (group_id, topic, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_generations (
    group_id TEXT PRIMARY KEY,
    generation INTEGER NOT NULL
) WITHOUT ROWID;
"""


def sqlite_path(url: str) -> Path:
    """`sqlite:///rel/log.db` → `rel/log.db`; `sqlite:////abs/log.db` → `/abs/log.db`."""
    return Path(url.removeprefix("sqlite:///"))


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def connect(path: Path, *, busy_timeout_ms: int, fsync: bool) -> sqlite3.Connection:
    """Open the log file (creating it and its schema on first use) with WAL and group-commit pragmas."""
    with translate_errors(path):
        conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000
        )
        try:
            _configure(conn, path, fsync=fsync)
        except BaseException:
            conn.close()
            raise
    return conn


def _configure(conn: sqlite3.Connection, path: Path, *, fsync: bool) -> None:
    app_id, has_tables = _identify(conn)
    if app_id != APPLICATION_ID and (app_id != 0 or has_tables):
        raise _not_a_log(path)
    enable_wal(conn, timeout_s=conn.execute("PRAGMA busy_timeout").fetchone()[0] / 1000)
    # FULL fsyncs the WAL at every commit, so an acknowledged record survives power loss;
    # NORMAL fsyncs only at checkpoints, which still survives any crash of the process itself.
    conn.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
    if app_id == 0:
        with write_txn(conn):
            app_id, has_tables = _identify(conn)  # another process may have created it meanwhile
            if app_id == APPLICATION_ID:
                return
            if has_tables:
                raise _not_a_log(path)
            for statement in _SCHEMA.split(";"):
                conn.execute(statement)
            conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


def _identify(conn: sqlite3.Connection) -> tuple[int, bool]:
    """The file's application id and whether it has tables, read in one statement (one snapshot).

    Two separate reads can straddle another process's schema-creating commit and see "no id, but
    tables", which looks like a foreign database.
    """
    app_id, tables = conn.execute(
        "SELECT (SELECT application_id FROM pragma_application_id), (SELECT count(*) FROM sqlite_master)"
    ).fetchone()
    return int(app_id), tables > 0


def _not_a_log(path: Path) -> LogCorruptError:
    return LogCorruptError(
        f"{path} is a SQLite database but not an iotstream log; point [log] url at another file"
    )


@contextmanager
def translate_errors(path: Path) -> Iterator[None]:
    """Turn sqlite3 errors into log errors that name the file and say what to do."""
    try:
        yield
    except sqlite3.OperationalError as err:
        code = getattr(err, "sqlite_errorname", "")
        if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            raise LogLockedError(
                f"log file {path} is locked by another process; it stayed locked longer than "
                "[log] busy_timeout_ms"
            ) from err
        if code.startswith("SQLITE_CANTOPEN"):
            raise LogError(f"cannot open log file {path}: {err}") from err
        raise LogError(f"log file {path}: {err}") from err
    except sqlite3.ProgrammingError as err:
        if "closed" not in str(err):
            raise
        raise LogClosedError(f"log {path} is closed") from err
    except sqlite3.DatabaseError as err:
        raise LogCorruptError(
            f"log file {path} is corrupt or not a database ({err}); restore it from a backup or "
            "move it away to start an empty log"
        ) from err


@contextmanager
def write_txn(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction; BEGIN IMMEDIATE takes the write lock up front so it cannot deadlock."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class CommitSignal:
    """Wakes consumers of this process the moment a producer of this process commits.

    Consumers in other processes notice new data by `PRAGMA data_version` within `poll_interval_ms`.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._version = 0

    def notify(self) -> None:
        with self._cond:
            self._version += 1
            self._cond.notify_all()

    @property
    def version(self) -> int:
        return self._version

    def wait(self, seen_version: int, timeout_s: float) -> None:
        with self._cond:
            if self._version == seen_version:
                self._cond.wait(timeout_s)


_signals: dict[Path, CommitSignal] = {}
_signals_lock = threading.Lock()


def commit_signal(path: Path) -> CommitSignal:
    with _signals_lock:
        return _signals.setdefault(path.resolve(), CommitSignal())

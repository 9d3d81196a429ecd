"""SQLite set-up shared by the embedded log and the job checkpoints."""

import sqlite3
import time

__all__ = ["enable_wal"]


def enable_wal(conn: sqlite3.Connection, timeout_s: float) -> None:
    """Switch a database to WAL, even while another process is creating or switching it too.

    Changing the journal mode needs an exclusive lock, and SQLite answers "locked" at once instead of
    waiting out the busy timeout, so two processes opening a new file together would otherwise fail.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
        else:
            return

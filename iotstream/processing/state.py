"""Checkpoints of a job's tasks in one SQLite file per job, next to the job.

A checkpoint holds a task's whole state together with the input offsets it includes, written in one
transaction: after a crash the task restores it and continues right after those offsets.
"""

import sqlite3
import time
from pathlib import Path
from typing import Any

import msgspec

from iotstream._sqlite import enable_wal

__all__ = ["CheckpointStore"]

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()


class CheckpointStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        enable_wal(self._conn, timeout_s=30)  # both job processes may create the file at once
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS checkpoints (task INTEGER PRIMARY KEY, state BLOB NOT NULL,"
            " written_ms INTEGER NOT NULL)"
        )

    def load(self, task: int) -> dict[str, Any] | None:
        row = self._conn.execute("SELECT state FROM checkpoints WHERE task = ?", (task,)).fetchone()
        return None if row is None else dict(_decoder.decode(row[0]))

    def save(self, states: dict[int, dict[str, Any]]) -> None:
        now = time.time_ns() // 1_000_000
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            for task, state in states.items():
                self._conn.execute(
                    "INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?)", (task, _encoder.encode(state), now)
                )
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def close(self) -> None:
        self._conn.close()

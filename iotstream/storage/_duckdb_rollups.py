"""DuckDB's rollups and latest values, maintained on their own thread so writes never wait for them.

Recomputing touched buckets costs about 25 ms per transaction whatever the batch size, which would
put a floor under every write's latency. So a write only notes the minutes it touched in
`rollup_pending` (same transaction: a crash loses nothing), and this refresher catches up every
`delay_s`, on its own connection: DuckDB's MVCC lets it run next to the writes, which only insert.
Whoever reads rollups or latest values first calls `current()`, so readers never see the lag.
"""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from iotstream.storage.exceptions import StorageError
from iotstream.storage.rollups import DUCKDB, refresh, time_ranges

__all__ = ["DeferredRollups"]

_log = logging.getLogger(__name__)
_READING = ["datastream", "phenomenon_time", "result_time", "value", "value_json", "id"]
# The newest reading of every datastream with pending minutes can only lie in those minutes.
_UPSERT_LATEST = (
    f"INSERT INTO latest SELECT {', '.join('o.' + c for c in _READING)} FROM observations o"  # noqa: S608
    " JOIN touched t ON o.datastream = t.datastream AND o.phenomenon_time >= t.bucket"
    " AND o.phenomenon_time < t.bucket + 60000 WHERE o.phenomenon_time >= ? AND o.phenomenon_time < ?"
    " QUALIFY row_number() OVER (PARTITION BY o.datastream ORDER BY o.phenomenon_time DESC) = 1"
    " ON CONFLICT (datastream) DO UPDATE SET phenomenon_time = excluded.phenomenon_time,"
    " result_time = excluded.result_time, value = excluded.value, value_json = excluded.value_json,"
    " id = excluded.id WHERE excluded.phenomenon_time >= latest.phenomenon_time"
)


class DeferredRollups:
    """`write_lock` is the store's: holding it while the refresh takes its snapshot tells exactly which
    writes the refresh covers (writes count themselves in `noted()` under that same lock)."""

    def __init__(self, db: duckdb.DuckDBPyConnection, write_lock: threading.Lock, delay_s: float, where: str):
        self._db = db
        self._write_lock = write_lock
        self._refresh_lock = threading.Lock()
        self._where = where
        pending = db.execute("SELECT count(*) FROM rollup_pending").fetchone()
        self._written = 1 if pending and pending[0] else 0  # writes noted so far
        self._covered = 0  # writes whose minutes the rollups include
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(delay_s,), name="iotstream-duckdb-rollups")
        self._thread.daemon = True  # a store the program forgot to close must not keep it alive

    def start(self) -> "DeferredRollups":
        self._thread.start()
        return self

    def noted(self) -> None:
        """A write that added rows to `rollup_pending` committed; call with the write lock held."""
        self._written += 1

    def current(self) -> None:
        """Catch up now if any write is not yet rolled up."""
        if self._covered < self._written:
            self.refresh()

    def _run(self, delay_s: float) -> None:
        while not self._stop.wait(delay_s):
            try:
                self.current()
            except StorageError as err:
                _log.warning("rollup refresh failed, retrying in %.1f s: %s", delay_s, err)

    @contextmanager
    def caught_up(self) -> Iterator[None]:
        """Rollups current, and no refresh running, for the duration (rebuilds and retention)."""
        with self._refresh_lock:
            self._refresh_now()
            yield

    def refresh(self) -> None:
        with self._refresh_lock:
            self._refresh_now()

    def _refresh_now(self) -> None:
        cursor = self._db.cursor()
        try:
            self._refresh(cursor)
        except duckdb.Error as err:
            cursor.rollback()
            raise StorageError(f"refreshing rollups in {self._where} failed: {err}") from err
        finally:
            cursor.close()

    def _refresh(self, db: duckdb.DuckDBPyConnection) -> None:
        with self._write_lock:  # the snapshot is taken by the first statement, between two writes
            covered = self._written
            db.begin()
            touched = db.sql("SELECT DISTINCT datastream, bucket FROM rollup_pending").to_arrow_table()
        if touched.num_rows:
            db.register("touched", touched)
            for low, high in time_ranges(touched.column("bucket").to_pylist()):
                db.execute(_UPSERT_LATEST, [low, high])
                for statement in refresh(DUCKDB, low, high):
                    db.execute(statement)
            db.unregister("touched")
            db.execute("DELETE FROM rollup_pending")  # only the rows this snapshot saw
        db.commit()
        self._covered = max(self._covered, covered)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.current()

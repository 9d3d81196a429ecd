"""DuckDB's rollups and latest values, maintained on their own thread so writes never wait for them.

Recomputing touched buckets costs about 25 ms per transaction whatever the batch size, which would
put a floor under every write's latency. So a write only notes its minutes in `rollup_pending_minutes`
(same transaction: a crash loses nothing), and this refresher catches up every `delay_s`, on its own
connection: DuckDB's MVCC lets it run next to the writes, which only insert. A minute is noted once
between two refreshes, by the first write to touch it: the refresh recomputes it from the readings,
which covers every later write the refresh's snapshot includes, so those need not add a statement
to their transactions. Pending rows with a batch's own partials (`exact`, written by earlier
versions) merge into the stored minutes, unless the same minute is also to be recomputed. Whoever
reads rollups or latest values first calls `current()`, so readers never see the lag.
"""

import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress

import duckdb
import pyarrow as pa

from iotstream.storage.exceptions import StorageError, storage_failure
from iotstream.storage.rollups import COLUMNS, DUCKDB, refresh, time_ranges

__all__ = ["NOTE_MINUTES", "NOTE_RECOMPUTE", "PENDING", "PENDING_COLUMNS", "DeferredRollups"]

PENDING = "rollup_pending_minutes"
PENDING_COLUMNS = (
    "datastream VARCHAR NOT NULL, bucket BIGINT NOT NULL, count BIGINT, sum DOUBLE, min DOUBLE, max DOUBLE,"
    " first DOUBLE, last DOUBLE, first_time BIGINT, last_time BIGINT, exact BOOLEAN NOT NULL"
)
# Minutes to recompute from the readings: datastreams and minutes, as two lists of the same length.
NOTE_MINUTES = f"INSERT INTO {PENDING} (datastream, bucket, exact) SELECT unnest(?), unnest(?), false"
# One datastream's minutes (a list parameter) to recompute from the readings, e.g. after a deletion.
NOTE_RECOMPUTE = f"INSERT INTO {PENDING} (datastream, bucket, exact) SELECT ?, unnest(?), false"
_LAST_MINUTES = "SELECT datastream, max(bucket) AS bucket FROM pending GROUP BY datastream"
_RECOMPUTE = "SELECT DISTINCT datastream, bucket FROM pending WHERE NOT exact"
_MERGEABLE = (
    "SELECT datastream, bucket, sum(count) AS count, sum(sum) AS sum, min(min) AS min, max(max) AS max,"  # noqa: S608
    " arg_min(first, first_time) AS first, arg_max(last, last_time) AS last,"
    " min(first_time) AS first_time, max(last_time) AS last_time FROM pending p"
    f" WHERE exact AND count > 0 AND NOT EXISTS ({_RECOMPUTE} AND datastream = p.datastream"
    " AND bucket = p.bucket) GROUP BY datastream, bucket"
)
_MERGED = (
    "SELECT s.datastream, s.bucket, s.count + coalesce(r.count, 0), coalesce(s.sum + r.sum, s.sum),"
    " least(s.min, r.min), greatest(s.max, r.max),"
    " CASE WHEN r.first_time IS NULL OR s.first_time < r.first_time THEN s.first ELSE r.first END,"
    " CASE WHEN r.last_time IS NULL OR s.last_time > r.last_time THEN s.last ELSE r.last END,"
    " least(s.first_time, r.first_time), greatest(s.last_time, r.last_time)"
    " FROM stage s LEFT JOIN rollup_1m r ON r.datastream = s.datastream AND r.bucket = s.bucket"
    " AND r.bucket >= $1 AND r.bucket < $2 WHERE s.bucket >= $1 AND s.bucket < $2"
)
_DELETE_MERGED = (
    "DELETE FROM rollup_1m r USING stage s WHERE r.datastream = s.datastream AND r.bucket = s.bucket"
    " AND r.bucket >= ? AND r.bucket < ?"
)

_log = logging.getLogger(__name__)
_READING = ["datastream", "phenomenon_time", "result_time", "value", "value_json", "id"]
# A datastream's newest new reading lies in the last of its pending minutes, so only that minute is
# searched: searching them all made this the refresh's largest cost when history is imported.
_UPSERT_LATEST = (
    f"INSERT INTO latest SELECT {', '.join('o.' + c for c in _READING)} FROM observations o"  # noqa: S608
    " JOIN touched t ON o.datastream = t.datastream"
    " AND o.phenomenon_time - o.phenomenon_time % 60000 = t.bucket"
    " WHERE o.phenomenon_time >= ? AND o.phenomenon_time < ?"
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
        pending = db.execute(f"SELECT count(*) FROM {PENDING}").fetchone()  # noqa: S608
        self._written = 1 if pending and pending[0] else 0  # writes noted so far
        self._covered = 0  # writes whose minutes the rollups include
        self._noted: set[tuple[str, int]] = set()  # minutes pending that the next refresh will see
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(delay_s,), name="iotstream-duckdb-rollups")
        self._thread.daemon = True  # a store the program forgot to close must not keep it alive

    def start(self) -> "DeferredRollups":
        self._thread.start()
        return self

    def unnoted(self, touched: list[tuple[str, int]]) -> list[tuple[str, int]]:
        """The (datastream, minute) buckets a write must note: those not noted since the last snapshot.
        Call with the write lock held."""
        noted = self._noted
        return [minute for minute in touched if minute not in noted]

    def noted(self, minutes: Iterable[tuple[str, int]] = ()) -> None:
        """A write committed, noting `minutes` in `rollup_pending_minutes` (the others it touched
        were noted before); call with the write lock held."""
        self._written += 1
        self._noted.update(minutes)

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
            with suppress(duckdb.Error):  # none is open if COMMIT itself failed
                cursor.rollback()
            raise storage_failure(f"refreshing rollups in {self._where} failed: {err}") from err
        finally:
            cursor.close()

    def _refresh(self, db: duckdb.DuckDBPyConnection) -> None:
        with self._write_lock:  # the snapshot is taken by the first statement, between two writes
            covered = self._written
            db.begin()
            pending = db.sql(f"SELECT * FROM {PENDING}").to_arrow_table()  # noqa: S608
            self._noted.clear()  # writes from now on are not in the snapshot: they note their minutes
        if pending.num_rows:
            db.register("pending", pending)
            self._latest(db, db.sql("SELECT DISTINCT datastream, bucket FROM pending").to_arrow_table())
            self._merge(db, db.sql(_MERGEABLE).to_arrow_table())
            self._recompute(db, db.sql(_RECOMPUTE).to_arrow_table())
            db.unregister("pending")
            db.execute(f"DELETE FROM {PENDING}")  # noqa: S608 - only the rows this snapshot saw
        db.commit()
        self._covered = max(self._covered, covered)

    @staticmethod
    def _latest(db: duckdb.DuckDBPyConnection, touched: pa.Table) -> None:
        db.register("touched", touched)
        for low, high in time_ranges(touched.column("bucket").to_pylist()):
            db.execute(_UPSERT_LATEST, [low, high])
        db.unregister("touched")

    @staticmethod
    def _merge(db: duckdb.DuckDBPyConnection, stage: pa.Table) -> None:
        """Minutes that only gained new readings: stored ⊕ new, then their hours and days recomputed."""
        if not stage.num_rows:
            return
        db.register("stage", stage)
        ranges = time_ranges(stage.column("bucket").to_pylist())
        for low, high in ranges:
            merged = db.sql(_MERGED, params=[low, high]).to_arrow_table()
            db.execute(_DELETE_MERGED, [low, high])
            db.register("merged", merged)
            db.execute(f"INSERT INTO rollup_1m ({COLUMNS}) SELECT * FROM merged")  # noqa: S608
            db.unregister("merged")
        db.unregister("stage")
        DeferredRollups._recompute(db, stage.select(["datastream", "bucket"]), minutes=False)

    @staticmethod
    def _recompute(db: duckdb.DuckDBPyConnection, touched: pa.Table, *, minutes: bool = True) -> None:
        """The touched buckets' tiers from the tier below (`minutes=False`: hours and days only)."""
        if not touched.num_rows:
            return
        db.register("touched", touched)
        for low, high in time_ranges(touched.column("bucket").to_pylist()):
            for statement in refresh(DUCKDB, low, high, minutes=minutes):
                db.execute(statement)
        db.unregister("touched")

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.current()

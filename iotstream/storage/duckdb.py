"""The embedded time-series store: one DuckDB file, `[storage] url = "duckdb:///path/store.duckdb"`.

Times are BIGINT epoch milliseconds: DuckDB buckets integers many times faster than TIMESTAMPTZ.
Batches arrive as one Arrow table each (never row by row). Raw readings have no index: a batch first
deletes the rows it replaces, then appends, in one transaction — about twice as fast as an ART-indexed
upsert, and the time bounds let zone maps skip all but the newest row groups.

Rollups and latest values are maintained behind the writes (`_duckdb_rollups`), and a batch none of
whose readings can be stored yet (`_recent`) skips looking for rows to replace, so a write is an
insert and a commit, in one call (`_duckdb_write`). Readings are queryable as soon as their batch
commits.
"""

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from iotstream.models import Alert, LateObservation, Observation, WindowAggregate
from iotstream.storage import _arrow
from iotstream.storage._duckdb_rollups import (
    NOTE_RECOMPUTE,
    PENDING,
    PENDING_COLUMNS,
    DeferredRollups,
)
from iotstream.storage._duckdb_write import NO_READINGS, IncomingReadings, write_script
from iotstream.storage._recent import RecentTimes
from iotstream.storage.base import (
    BaseStorage,
    PreparedReadings,
    Rejected,
    check_alert,
    check_observation,
    latest_episodes,
    split_valid,
)
from iotstream.storage.exceptions import StorageError, storage_failure
from iotstream.storage.retention import TIERS, RetentionPolicy
from iotstream.storage.rollups import DUCKDB, ROLLUPS, rebuild, time_ranges

__all__ = ["DuckDBStorage"]

_OBS = "datastream, phenomenon_time, result_time, value, value_json, id"
_READING = "datastream VARCHAR NOT NULL, phenomenon_time BIGINT NOT NULL, result_time BIGINT NOT NULL,"
_READING += " value DOUBLE, value_json VARCHAR, id VARCHAR NOT NULL"
_ROLLUP = "datastream VARCHAR NOT NULL, bucket BIGINT NOT NULL, count BIGINT NOT NULL, sum DOUBLE,"
_ROLLUP += " min DOUBLE, max DOUBLE, first DOUBLE, last DOUBLE, first_time BIGINT, last_time BIGINT"
_SCHEMA = [
    f"CREATE TABLE IF NOT EXISTS observations ({_READING})",
    f"CREATE TABLE IF NOT EXISTS latest ({_READING}, PRIMARY KEY (datastream))",
    """CREATE TABLE IF NOT EXISTS aggregates (
        datastream VARCHAR NOT NULL, window_name VARCHAR NOT NULL,
        start_time BIGINT NOT NULL, end_time BIGINT NOT NULL, count BIGINT NOT NULL,
        sum DOUBLE, min DOUBLE, max DOUBLE, avg DOUBLE, first DOUBLE, last DOUBLE,
        revision INTEGER NOT NULL, updated_time BIGINT NOT NULL,
        PRIMARY KEY (datastream, window_name, start_time))""",
    f"""CREATE TABLE IF NOT EXISTS late_observations ({_READING},
        late_by_ms BIGINT NOT NULL, job VARCHAR NOT NULL, PRIMARY KEY (datastream, phenomenon_time, job))""",
    """CREATE TABLE IF NOT EXISTS alerts (
        rule VARCHAR NOT NULL, datastream VARCHAR NOT NULL, start_time BIGINT NOT NULL,
        last_time BIGINT NOT NULL, max DOUBLE, avg DOUBLE, threshold DOUBLE, state VARCHAR NOT NULL,
        closed_time BIGINT, updated_time BIGINT NOT NULL, PRIMARY KEY (rule, datastream, start_time))""",
    *(f"CREATE TABLE IF NOT EXISTS {r.table} ({_ROLLUP})" for r in ROLLUPS),
    f"CREATE TABLE IF NOT EXISTS {PENDING} ({PENDING_COLUMNS})",
]
_AGG = "datastream, window_name, start_time, end_time, count, sum, min, max, avg, first, last, revision"
_AGG += ", updated_time"
_DELETE_READINGS = (
    "DELETE FROM observations o USING doomed d WHERE o.datastream = ? AND o.phenomenon_time >= ?"
    " AND o.phenomenon_time < ? AND o.phenomenon_time = d.phenomenon_time RETURNING o.phenomenon_time"
)

_DELETE_ALERTS = (
    "DELETE FROM alerts a USING doomed d"
    " WHERE a.rule = d.rule AND a.datastream = d.datastream AND a.start_time = d.start_time"
)


class DuckDBStorage(BaseStorage):
    dialect = DUCKDB

    def __init__(
        self,
        path: Path,
        retention: RetentionPolicy | None = None,
        *,
        rollup_delay_ms: int = 5_000,
        threads: int | None = None,
        checkpoint_bytes: int = 64 * 1024**2,
        memory_bytes: int = 1024**3,
    ) -> None:
        """`threads`: DuckDB's; by default one fewer than the cores. `checkpoint_bytes`: the WAL's size
        at a checkpoint; `memory_bytes`: DuckDB's memory limit (see `StorageSettings`)."""
        super().__init__(retention)
        self.path = path
        # A checkpoint stalls every write while it runs; DuckDB's default (a 16 MB WAL) made one
        # every few seconds at 20,000 readings/s. What the WAL holds is in memory too, so the
        # threshold also bounds that (benchmarks/soak.py), and a restart replays at most that much.
        threads = threads or max((os.cpu_count() or 1) - 1, 1)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            config: dict[str, str | bool | int | float | list[str]] = {
                "checkpoint_threshold": f"{checkpoint_bytes}B",
                "memory_limit": f"{memory_bytes}B",
                "threads": threads,
            }
            self._db = duckdb.connect(str(path), config=config)
        except (duckdb.Error, OSError) as err:
            damaged = "not a valid DuckDB database" in str(err) or "Corrupt" in str(err)
            advice = "; restore it from a backup, or move it away to start an empty store" if damaged else ""
            raise StorageError(f"cannot open DuckDB store {path}: {err}{advice}") from err
        self._lock = threading.Lock()
        for statement in _SCHEMA:
            self._db.execute(statement)
        self._rollups = DeferredRollups(self._db, self._lock, rollup_delay_ms / 1000, str(path))
        self._rollups.current()  # what a crash left pending: `latest` must hold every newest time
        self._rollups.start()
        newest = self._db.execute("SELECT datastream, phenomenon_time FROM latest").fetchall()
        self._recent = RecentTimes(dict(newest))
        self._incoming = IncomingReadings()
        self._db.register("incoming", self._incoming)

    @contextmanager
    def _transaction(self, what: str) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock:
            self._db.begin()
            try:
                yield self._db
            except duckdb.Error as err:
                with suppress(duckdb.Error):  # none is open if COMMIT itself failed
                    self._db.rollback()
                raise storage_failure(f"{what} in {self.path} failed: {err}") from err
            except BaseException:
                with suppress(duckdb.Error):
                    self._db.rollback()
                raise
            self._db.commit()

    def write_prepared(self, prepared: PreparedReadings) -> list[Rejected]:
        if not prepared.size:
            return prepared.rejected
        shape = prepared.shape
        with self._lock:
            replaces = not self._recent.all_new(shape.times)
            notes = self._rollups.unnoted(shape.touched)
            script = write_script(prepared.ranges if replaces else [], shape.unique, bool(notes))
            params = [[datastream for datastream, _ in notes], [minute for _, minute in notes]]
            self._incoming.table = prepared.table
            try:
                self._run_script(script, params if notes else None, f"writing {prepared.size} readings")
            finally:
                self._incoming.table = NO_READINGS
            self._rollups.noted(notes)
        return prepared.rejected

    def _run_script(self, script: str, params: list[Any] | None, what: str) -> None:
        """One transaction in one call; `params` go to its last statement, after which it commits."""
        try:
            self._db.execute(script, params)
            if params is not None:
                self._db.commit()
        except BaseException as err:
            with suppress(duckdb.Error):  # none is open if BEGIN or COMMIT itself failed
                self._db.rollback()
            if isinstance(err, duckdb.Error):
                raise storage_failure(f"{what} in {self.path} failed: {err}") from err
            raise

    def catch_up(self) -> None:
        self._rollups.current()

    def _delete_observations(self, datastream: str, times_ms: list[int]) -> int:
        """The minutes are noted for the refresher to recompute, like a batch that replaced readings.

        No refresh may run meanwhile: it writes `latest` too, and DuckDB fails one of two transactions
        that change the same row. `_recent` still counts the readings as stored, which is safe (see
        `RecentTimes`).
        """
        doomed = pa.table({"phenomenon_time": pa.array(times_ms, pa.int64())})
        ranges = time_ranges(t - t % 60_000 for t in times_ms)  # bounds that let zone maps skip row groups
        with (
            self._rollups.caught_up(),
            self._transaction(f"deleting readings of {datastream!r}") as db,
            _registered(db, doomed=doomed),
        ):
            deleted = [
                time_ms
                for low, high in ranges
                for (time_ms,) in db.execute(_DELETE_READINGS, [datastream, low, high]).fetchall()
            ]
            if deleted:
                db.execute(NOTE_RECOMPUTE, [datastream, sorted({t - t % 60_000 for t in deleted})])
                self._rollups.noted()
                self._replace_deleted_latest(
                    lambda sql, params: db.execute(sql, params).fetchall(), datastream, set(deleted)
                )
        return len(deleted)

    def write_aggregates(self, rows: Sequence[WindowAggregate]) -> list[Rejected]:
        if rows:
            self._upsert("aggregates", _arrow.aggregates(rows), "datastream, window_name, start_time")
        return []

    def write_late(self, rows: Sequence[LateObservation]) -> list[Rejected]:
        good, rejected = split_valid(rows, lambda late: check_observation(late.observation))
        if good:
            self._upsert("late_observations", _arrow.late(good), "datastream, phenomenon_time, job")
        return rejected

    def write_alerts(self, rows: Sequence[Alert]) -> list[Rejected]:
        good, rejected = split_valid(rows, check_alert)
        kept, retracted = latest_episodes(good)
        if kept:
            self._upsert("alerts", _arrow.alerts(kept), "rule, datastream, start_time")
        if retracted:
            with (
                self._transaction(f"deleting {len(retracted)} retracted alerts") as db,
                _registered(db, doomed=_arrow.alerts(retracted)),
            ):
                db.execute(_DELETE_ALERTS)
        return rejected

    def _upsert(self, table: str, batch: pa.Table, key: str) -> None:
        """One statement per batch; within the batch the last row per key wins."""
        columns = [c for c in batch.column_names if c != "seq"]
        keys = key.split(", ")
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in keys)
        names = ", ".join(columns)
        with (
            self._transaction(f"writing {batch.num_rows} rows to {table}") as db,
            _registered(db, batch=batch),
        ):
            db.execute(
                f"INSERT INTO {table} ({names}) SELECT {names} FROM batch"  # noqa: S608 - names are ours
                f" QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY seq DESC) = 1"
                f" ON CONFLICT ({key}) DO UPDATE SET {updates}"
            )

    def raw(
        self, datastream: str, start_ms: int, end_ms: int, *, limit: int = 10_000, after_ms: int | None = None
    ) -> list[Observation]:
        low = start_ms if after_ms is None else max(start_ms, after_ms + 1)
        rows = self._query(
            f"SELECT {_OBS} FROM observations WHERE datastream = ? AND phenomenon_time >= ?"  # noqa: S608
            " AND phenomenon_time < ? ORDER BY phenomenon_time LIMIT ?",
            [datastream, low, end_ms, limit],
        )
        return [_arrow.observation(row) for row in rows]

    def aggregates(self, datastream: str, window: str, start_ms: int, end_ms: int) -> list[WindowAggregate]:
        rows = self._query(
            f"SELECT {_AGG} FROM aggregates WHERE datastream = ? AND window_name = ?"  # noqa: S608
            " AND start_time >= ? AND start_time < ? ORDER BY start_time",
            [datastream, window, start_ms, end_ms],
        )
        return [WindowAggregate(*row) for row in rows]

    def latest(self, datastreams: Sequence[str] | None = None) -> dict[str, Observation]:
        self.catch_up()
        where, params = (
            ("", []) if datastreams is None else (" WHERE list_contains(?, datastream)", [list(datastreams)])
        )
        rows = self._query(f"SELECT {_OBS} FROM latest{where}", params)  # noqa: S608
        return {row[0]: _arrow.observation(row) for row in rows}

    def late(self, datastream: str, start_ms: int, end_ms: int) -> list[LateObservation]:
        rows = self._query(
            f"SELECT {_OBS}, late_by_ms, job FROM late_observations WHERE datastream = ?"  # noqa: S608
            " AND phenomenon_time >= ? AND phenomenon_time < ? ORDER BY phenomenon_time",
            [datastream, start_ms, end_ms],
        )
        return [LateObservation(_arrow.observation(row[:6]), row[6], row[7]) for row in rows]

    def _rebuild_rollups(self, start_ms: int, end_ms: int) -> None:
        with self._rollups.caught_up(), self._transaction("rebuilding rollups") as db:
            for statement in rebuild(DUCKDB, start_ms, end_ms):
                db.execute(statement)

    def apply_retention(self) -> dict[str, int]:
        deleted = dict.fromkeys(TIERS, 0)
        deletes = self.retention_deletes(list(self.latest()))
        # Caught up first: recomputing a minute whose readings were deleted would lose it.
        with self._rollups.caught_up(), self._transaction("applying retention") as db:
            for tier, sql, params in deletes:
                result = db.execute(sql, params).fetchone()
                deleted[tier] += result[0] if result else 0
        return deleted

    def memory_bytes(self) -> int | None:
        """What DuckDB's buffer manager holds."""
        return self._total("SELECT sum(memory_usage_bytes) FROM duckdb_memory()")

    def eviction_queue_entries(self) -> int | None:
        """DuckDB queues an entry each time a block becomes evictable, and purges the stale ones only
        once a queue holds more than 32,768 (2.0); each keeps about 100 bytes of native memory that
        `memory_bytes` does not count. Nearly every query adds some, so a busy store's queues grow for
        a while, then level off (docs/benchmarks/soak.md): the soak watches them to tell that growth
        from a leak."""
        return self._total("SELECT sum(approximate_size) FROM duckdb_eviction_queues()")

    def _total(self, sql: str) -> int | None:
        """A sum over one of DuckDB's own tables, from a cursor of its own so that a write in progress
        does not hold it up; None once the store is closed (a stats request during shutdown)."""
        try:
            with self._db.cursor() as cursor:
                row = cursor.execute(sql).fetchone()
        except duckdb.Error:
            return None
        return int(row[0] or 0) if row else 0

    def _query(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except duckdb.Error as err:
                raise StorageError(f"query on {self.path} failed: {err}") from err

    def close(self) -> None:
        try:
            self._rollups.close()
        finally:
            self._db.close()


@contextmanager
def _registered(db: duckdb.DuckDBPyConnection, **tables: pa.Table) -> Iterator[None]:
    """The Arrow tables queryable by name for the duration of the block."""
    for name, table in tables.items():
        db.register(name, table)
    try:
        yield
    finally:
        for name in tables:
            db.unregister(name)

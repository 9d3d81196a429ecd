"""The distributed time-series store: PostgreSQL, `[storage] url = "postgresql://user@host/db"`.

Every batch is COPYed into a temporary staging table, then merged with one INSERT … ON CONFLICT
(last row per key wins), so a replayed batch changes nothing and no row goes through executemany.
Raw readings are partitioned by month of phenomenon time (partitions made on demand), so retention
drops whole months and time-range scans touch only the months asked for.
"""

import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

from iotstream._urls import without_password
from iotstream.models import Alert, LateObservation, Observation, WindowAggregate
from iotstream.storage import _arrow, pgcopy
from iotstream.storage.base import (
    ALERT_COLUMNS,
    BaseStorage,
    PreparedReadings,
    Rejected,
    check_alert,
    check_observation,
    latest_episodes,
    split_valid,
)
from iotstream.storage.exceptions import StorageError, StorageUnavailableError
from iotstream.storage.retention import TIERS, RetentionPolicy
from iotstream.storage.rollups import POSTGRES, ROLLUPS, rebuild, time_ranges, touched_minutes

try:
    import psycopg
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "the PostgreSQL store needs psycopg: run pip install 'iotstream[postgres]' to fix it"
    ) from exc

__all__ = ["PostgresStorage"]

_OBS = "datastream, phenomenon_time, result_time, value, value_json, id"
_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS observations (
        datastream text COLLATE "C" NOT NULL, phenomenon_time bigint NOT NULL, result_time bigint NOT NULL,
        value double precision, value_json jsonb, id text NOT NULL,
        PRIMARY KEY (datastream, phenomenon_time)) PARTITION BY RANGE (phenomenon_time)""",
    """CREATE TABLE IF NOT EXISTS latest (
        datastream text COLLATE "C" PRIMARY KEY, phenomenon_time bigint NOT NULL, result_time bigint NOT NULL,
        value double precision, value_json jsonb, id text NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS aggregates (
        datastream text COLLATE "C" NOT NULL, window_name text NOT NULL,
        start_time bigint NOT NULL, end_time bigint NOT NULL,
        count bigint NOT NULL, sum double precision, min double precision, max double precision,
        avg double precision, first double precision, last double precision, revision integer NOT NULL,
        updated_time bigint NOT NULL, PRIMARY KEY (datastream, window_name, start_time))""",
    """CREATE TABLE IF NOT EXISTS late_observations (
        datastream text COLLATE "C" NOT NULL, phenomenon_time bigint NOT NULL, result_time bigint NOT NULL,
        value double precision, value_json jsonb, id text NOT NULL,
        late_by_ms bigint NOT NULL, job text NOT NULL,
        PRIMARY KEY (datastream, phenomenon_time, job))""",
    """CREATE TABLE IF NOT EXISTS alerts (
        rule text NOT NULL, datastream text COLLATE "C" NOT NULL,
        start_time bigint NOT NULL, last_time bigint NOT NULL,
        max double precision, avg double precision, threshold double precision, state text NOT NULL,
        closed_time bigint, updated_time bigint NOT NULL, PRIMARY KEY (rule, datastream, start_time))""",
    *(
        f"""CREATE TABLE IF NOT EXISTS {r.table} (
        datastream text COLLATE "C" NOT NULL, bucket bigint NOT NULL, count bigint NOT NULL,
        sum double precision,
        min double precision, max double precision, first double precision, last double precision,
        first_time bigint, last_time bigint, PRIMARY KEY (datastream, bucket))"""
        for r in ROLLUPS
    ),
]
_AGG_COLUMNS = ("datastream", "window_name", "start_time", "end_time", "count", "sum", "min", "max", "avg")
_AGG = ", ".join((*_AGG_COLUMNS, "first", "last", "revision", "updated_time"))
_UPSERT_LATEST = (
    f"INSERT INTO latest ({_OBS}) SELECT {_OBS} FROM stage_observations"  # noqa: S608
    " WHERE seq IN (SELECT unnest(%s::bigint[])) ON CONFLICT (datastream) DO UPDATE SET"
    " phenomenon_time = excluded.phenomenon_time, result_time = excluded.result_time,"
    " value = excluded.value, value_json = excluded.value_json, id = excluded.id"
    " WHERE excluded.phenomenon_time >= latest.phenomenon_time"
)

_DELETE_ALERTS = (
    "DELETE FROM alerts a USING unnest(%s::text[], %s::text[], %s::bigint[]) AS d(rule, datastream, start)"
    " WHERE a.rule = d.rule AND a.datastream = d.datastream AND a.start_time = d.start"
)
# The bounds let the planner skip the months outside them; a month with no partition holds nothing.
_DELETE_READINGS = (
    "DELETE FROM observations WHERE datastream = %s AND phenomenon_time >= %s AND phenomenon_time <= %s"
    " AND phenomenon_time = ANY(%s::bigint[]) RETURNING phenomenon_time"
)


class PostgresStorage(BaseStorage):
    dialect = POSTGRES

    def __init__(
        self, url: str, retention: RetentionPolicy | None = None, *, connect_timeout_s: float = 10
    ) -> None:
        super().__init__(retention)
        self.url = url
        self._lock = threading.Lock()
        self._partitions: set[int] = set()  # months (as YYYYMM) whose partition exists
        self._conn = self._connect(connect_timeout_s)
        with self._transaction() as cur:
            for statement in _SCHEMA:
                cur.execute(statement)

    def _connect(self, timeout_s: float) -> "psycopg.Connection[Any]":
        try:
            return psycopg.connect(self.url, connect_timeout=max(int(timeout_s), 1))
        except psycopg.OperationalError as err:
            raise StorageUnavailableError(
                f"cannot reach PostgreSQL at {without_password(self.url)}: {err}".strip()
            ) from err

    def _transaction(self) -> "_Transaction":
        return _Transaction(self)

    def write_prepared(self, prepared: PreparedReadings) -> list[Rejected]:
        if prepared.size:
            shape = prepared.shape
            with self._lock, self._transaction() as cur:
                self._ensure_partitions(cur, {minute - minute % 86_400_000 for _, minute in shape.touched})
                new = shape.unique and pgcopy.copy_new(cur, "observations", prepared.table.drop(["seq"]))
                if new:  # every reading is new, so the batch's own minutes add to the stored ones
                    pgcopy.stage(cur, "observations", prepared.table.take(shape.newest))
                    pgcopy.merge_minutes(cur, _arrow.minute_rollups(prepared.table))
                else:  # a replay, or a batch correcting itself: stage everything, merge, recompute
                    pgcopy.stage(cur, "observations", prepared.table)
                    pgcopy.merge(cur, "observations", _OBS, "datastream, phenomenon_time")
                cur.execute(_UPSERT_LATEST, (shape.newest,))
                pgcopy.refresh_rollups(cur, shape.touched, prepared.ranges, not new)
        return prepared.rejected

    def _delete_observations(self, datastream: str, times_ms: list[int]) -> int:
        """Rollups are recomputed in the same transaction, as after a batch that replaced readings."""
        with self._lock, self._transaction() as cur:
            cur.execute(_DELETE_READINGS, (datastream, times_ms[0], times_ms[-1], times_ms))
            deleted = {time_ms for (time_ms,) in cur.fetchall()}
            if deleted:
                touched = touched_minutes((datastream, time_ms) for time_ms in deleted)
                pgcopy.refresh_rollups(cur, touched, time_ranges(minute for _, minute in touched), True)
                self._replace_deleted_latest(partial(_run, cur), datastream, deleted)
        return len(deleted)

    def write_aggregates(self, rows: Sequence[WindowAggregate]) -> list[Rejected]:
        if rows:
            data = (
                (
                    r.datastream,
                    r.window,
                    r.start_ms,
                    r.end_ms,
                    r.count,
                    r.sum,
                    r.min,
                    r.max,
                    r.avg,
                    r.first,
                    r.last,
                    r.revision,
                    r.updated_ms,
                )
                for r in rows
            )
            with self._lock, self._transaction() as cur:
                self._stage(cur, "aggregates", _AGG, data)
                pgcopy.merge(cur, "aggregates", _AGG, "datastream, window_name, start_time")
        return []

    def write_late(self, rows: Sequence[LateObservation]) -> list[Rejected]:
        good, rejected = split_valid(rows, lambda late: check_observation(late.observation))
        if good:
            columns = f"{_OBS}, late_by_ms, job"
            data = ((*pgcopy.observation_row(late.observation), late.late_by_ms, late.job) for late in good)
            with self._lock, self._transaction() as cur:
                self._stage(cur, "late_observations", columns, data)
                pgcopy.merge(cur, "late_observations", columns, "datastream, phenomenon_time, job")
        return rejected

    def write_alerts(self, rows: Sequence[Alert]) -> list[Rejected]:
        """Upserts and retractions of one batch in one transaction."""
        good, rejected = split_valid(rows, check_alert)
        kept, retracted = latest_episodes(good)
        if not kept and not retracted:
            return rejected
        data = (
            (a.rule, a.datastream, a.start_ms, a.last_ms, a.max, a.avg, a.threshold, a.state, a.closed_ms,
             a.updated_ms)
            for a in kept
        )  # fmt: skip
        with self._lock, self._transaction() as cur:
            if retracted:
                doomed = ([a.rule for a in retracted], [a.datastream for a in retracted])
                cur.execute(_DELETE_ALERTS, (*doomed, [a.start_ms for a in retracted]))
            if kept:
                self._stage(cur, "alerts", ALERT_COLUMNS, data)
                pgcopy.merge(cur, "alerts", ALERT_COLUMNS, "rule, datastream, start_time")
        return rejected

    def _stage(
        self, cur: "psycopg.Cursor[Any]", table: str, columns: str, rows: Iterable[tuple[Any, ...]]
    ) -> None:
        stage = pgcopy.stage_table(cur, table)
        with cur.copy(f"COPY {stage} ({columns}, seq) FROM STDIN") as copy:
            for position, row in enumerate(rows):
                copy.write_row((*row, position))

    def _ensure_partitions(self, cur: "psycopg.Cursor[Any]", times_ms: set[int]) -> None:
        for year, month in {_month(t) for t in times_ms}:
            key = year * 100 + month
            if key in self._partitions:
                continue
            start = int(datetime(year, month, 1, tzinfo=UTC).timestamp() * 1000)
            end = _month_end_ms(year, month)
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS observations_{key} PARTITION OF observations"
                f" FOR VALUES FROM ({start}) TO ({end})"
            )
            self._partitions.add(key)

    def raw(
        self, datastream: str, start_ms: int, end_ms: int, *, limit: int = 10_000, after_ms: int | None = None
    ) -> list[Observation]:
        low = start_ms if after_ms is None else max(start_ms, after_ms + 1)
        rows = self._query(
            f"SELECT {_OBS} FROM observations WHERE datastream = %s AND phenomenon_time >= %s"  # noqa: S608
            " AND phenomenon_time < %s ORDER BY phenomenon_time LIMIT %s",
            (datastream, low, end_ms, limit),
        )
        return [_observation(row) for row in rows]

    def aggregates(self, datastream: str, window: str, start_ms: int, end_ms: int) -> list[WindowAggregate]:
        rows = self._query(
            f"SELECT {_AGG} FROM aggregates WHERE datastream = %s AND window_name = %s AND start_time >= %s"  # noqa: S608
            " AND start_time < %s ORDER BY start_time",
            (datastream, window, start_ms, end_ms),
        )
        return [WindowAggregate(*row) for row in rows]

    def latest(self, datastreams: Sequence[str] | None = None) -> dict[str, Observation]:
        if datastreams is None:
            rows = self._query(f"SELECT {_OBS} FROM latest", ())  # noqa: S608
        else:
            rows = self._query(f"SELECT {_OBS} FROM latest WHERE datastream = ANY(%s)", (list(datastreams),))  # noqa: S608
        return {row[0]: _observation(row) for row in rows}

    def late(self, datastream: str, start_ms: int, end_ms: int) -> list[LateObservation]:
        rows = self._query(
            f"SELECT {_OBS}, late_by_ms, job FROM late_observations WHERE datastream = %s"  # noqa: S608
            " AND phenomenon_time >= %s AND phenomenon_time < %s ORDER BY phenomenon_time",
            (datastream, start_ms, end_ms),
        )
        return [LateObservation(_observation(row[:6]), row[6], row[7]) for row in rows]

    def _rebuild_rollups(self, start_ms: int, end_ms: int) -> None:
        with self._lock, self._transaction() as cur:
            for statement in rebuild(POSTGRES, start_ms, end_ms):
                cur.execute(statement)

    def apply_retention(self) -> dict[str, int]:
        names = list(self.latest())
        deleted = dict.fromkeys(TIERS, 0)
        deletes = self.retention_deletes(names)
        with self._lock, self._transaction() as cur:
            deleted["raw"] += self._drop_partitions(cur, self.retention.cutoff_for_all_ms("raw", names))
            for tier, sql, params in deletes:
                cur.execute(sql, params)
                deleted[tier] += cur.rowcount
        return deleted

    def _drop_partitions(self, cur: "psycopg.Cursor[Any]", cutoff_ms: int | None) -> int:
        """Drop the months wholly below the cutoff: instant, and no vacuum debt. Returns rows dropped."""
        if cutoff_ms is None:
            return 0
        cur.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'observations'"
        )
        dropped = 0
        for (name,) in cur.fetchall():
            key = int(name.rsplit("_", 1)[1])
            if _month_end_ms(key // 100, key % 100) <= cutoff_ms:
                cur.execute(f"SELECT count(*) FROM {name}")  # noqa: S608 - a partition name we made
                row = cur.fetchone()
                dropped += row[0] if row else 0
                cur.execute(f"DROP TABLE {name}")
                self._partitions.discard(key)
        return dropped

    def _query(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._lock, self._transaction() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def close(self) -> None:
        self._conn.close()


class _Transaction:
    """One transaction; database errors become storage errors that say whether to retry."""

    def __init__(self, store: PostgresStorage) -> None:
        self._store = store

    def __enter__(self) -> "psycopg.Cursor[Any]":
        if self._store._conn.closed:
            self._store._conn = self._store._connect(10)
        self._cursor = self._store._conn.cursor()
        return self._cursor

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        conn = self._store._conn
        try:
            if exc is None:
                conn.commit()
                return
            if not conn.closed:
                conn.rollback()
        except psycopg.OperationalError as err:
            raise StorageUnavailableError(
                f"PostgreSQL at {without_password(self._store.url)} went away: {err}"
            ) from err
        if isinstance(exc, psycopg.OperationalError):
            raise StorageUnavailableError(
                f"PostgreSQL at {without_password(self._store.url)} went away: {exc}"
            ) from exc
        if isinstance(exc, psycopg.Error):
            raise StorageError(f"PostgreSQL request failed: {exc}") from exc


def _run(cur: "psycopg.Cursor[Any]", sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """One statement on the cursor, and the rows it returned (none for a plain write)."""
    cur.execute(sql, params)
    return cur.fetchall() if cur.description else []


def _observation(row: tuple[Any, ...]) -> Observation:
    datastream, phenomenon_time, result_time, value, value_json, message_id = row
    result = value if value is not None else value_json  # psycopg already decoded jsonb
    return Observation(datastream, phenomenon_time, result, result_time, message_id)


def _month(time_ms: int) -> tuple[int, int]:
    moment = datetime.fromtimestamp(time_ms / 1000, UTC)
    return moment.year, moment.month


def _month_end_ms(year: int, month: int) -> int:
    return int(datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC).timestamp() * 1000)

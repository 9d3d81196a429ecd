"""The embedded time-series store: one DuckDB file, `[storage] url = "duckdb:///path/store.duckdb"`.

Times are BIGINT epoch milliseconds: DuckDB buckets integers many times faster than TIMESTAMPTZ.
Batches arrive as one Arrow table each (never row by row), are de-duplicated in SQL (last wins) and
upserted, so a replayed batch changes nothing.
"""

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import msgspec
import pyarrow as pa

from iotstream.models import LateObservation, Observation, WindowAggregate
from iotstream.storage.base import BaseStorage, Rejected, check_observation, split_valid
from iotstream.storage.exceptions import StorageError

__all__ = ["DuckDBStorage"]

_json = msgspec.json.Encoder()
_from_json = msgspec.json.Decoder()

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS observations (
        datastream VARCHAR NOT NULL, phenomenon_time BIGINT NOT NULL, result_time BIGINT NOT NULL,
        value DOUBLE, value_json VARCHAR, id VARCHAR NOT NULL, PRIMARY KEY (datastream, phenomenon_time))""",
    """CREATE TABLE IF NOT EXISTS latest (
        datastream VARCHAR PRIMARY KEY, phenomenon_time BIGINT NOT NULL, result_time BIGINT NOT NULL,
        value DOUBLE, value_json VARCHAR, id VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS aggregates (
        datastream VARCHAR NOT NULL, window_name VARCHAR NOT NULL,
        start_time BIGINT NOT NULL, end_time BIGINT NOT NULL, count BIGINT NOT NULL,
        sum DOUBLE, min DOUBLE, max DOUBLE, avg DOUBLE, first DOUBLE, last DOUBLE,
        revision INTEGER NOT NULL, updated_time BIGINT NOT NULL,
        PRIMARY KEY (datastream, window_name, start_time))""",
    """CREATE TABLE IF NOT EXISTS late_observations (
        datastream VARCHAR NOT NULL, phenomenon_time BIGINT NOT NULL, result_time BIGINT NOT NULL,
        value DOUBLE, value_json VARCHAR, id VARCHAR NOT NULL,
        late_by_ms BIGINT NOT NULL, job VARCHAR NOT NULL,
        PRIMARY KEY (datastream, phenomenon_time, job))""",
]
_OBSERVATION_COLUMNS = "datastream, phenomenon_time, result_time, value, value_json, id"
_STAT_COLUMNS = ("count", "sum", "min", "max", "avg", "first", "last", "revision")


class DuckDBStorage(BaseStorage):
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = duckdb.connect(str(path))
        except (duckdb.Error, OSError) as err:
            raise StorageError(f"cannot open DuckDB store {path}: {err}") from err
        self._lock = threading.Lock()
        for statement in _SCHEMA:
            self._db.execute(statement)

    def write_observations(self, rows: Sequence[Observation]) -> list[Rejected]:
        good, rejected = split_valid(rows, check_observation)
        if good:
            batch = _observation_table(good)
            with self._lock:
                self._upsert("observations", batch, "datastream, phenomenon_time")
                self._upsert_latest(batch)
        return rejected

    def _upsert(self, table: str, batch: pa.Table, key: str) -> None:
        """One statement per batch; within the batch the last row per key wins."""
        columns = ", ".join(c for c in batch.column_names if c != "seq")
        updates = ", ".join(
            f"{c} = excluded.{c}" for c in batch.column_names if c not in (*key.split(", "), "seq")
        )
        self._db.register("batch", batch)
        try:
            self._db.execute(
                f"INSERT INTO {table} ({columns}) SELECT {columns} FROM batch"  # noqa: S608 - names are ours
                f" QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY seq DESC) = 1"
                f" ON CONFLICT ({key}) DO UPDATE SET {updates}"
            )
        except duckdb.Error as err:
            raise StorageError(f"writing {batch.num_rows} rows to {table} failed: {err}") from err
        finally:
            self._db.unregister("batch")

    def _upsert_latest(self, batch: pa.Table) -> None:
        self._db.register("batch", batch)
        try:
            self._db.execute(
                f"INSERT INTO latest ({_OBSERVATION_COLUMNS}) SELECT {_OBSERVATION_COLUMNS} FROM batch"  # noqa: S608
                " QUALIFY row_number() OVER"
                " (PARTITION BY datastream ORDER BY phenomenon_time DESC, seq DESC) = 1"
                " ON CONFLICT (datastream) DO UPDATE SET phenomenon_time = excluded.phenomenon_time,"
                " result_time = excluded.result_time, value = excluded.value,"
                " value_json = excluded.value_json,"
                " id = excluded.id WHERE excluded.phenomenon_time >= latest.phenomenon_time"
            )
        finally:
            self._db.unregister("batch")

    def write_aggregates(self, rows: Sequence[WindowAggregate]) -> list[Rejected]:
        if rows:
            columns = {
                "datastream": [r.datastream for r in rows],
                "window_name": [r.window for r in rows],
                "start_time": [r.start_ms for r in rows],
                "end_time": [r.end_ms for r in rows],
                **{
                    name: [getattr(r, name) for r in rows]
                    for name in ("count", "sum", "min", "max", "avg", "first", "last", "revision")
                },
                "updated_time": [r.updated_ms for r in rows],
                "seq": list(range(len(rows))),
            }
            with self._lock:
                self._upsert("aggregates", pa.table(columns), "datastream, window_name, start_time")
        return []

    def write_late(self, rows: Sequence[LateObservation]) -> list[Rejected]:
        good, rejected = split_valid(rows, lambda late: check_observation(late.observation))
        if good:
            batch = _observation_table([late.observation for late in good])
            batch = batch.append_column(
                "late_by_ms", pa.array([late.late_by_ms for late in good], pa.int64())
            )
            batch = batch.append_column("job", pa.array([late.job for late in good], pa.string()))
            with self._lock:
                self._upsert("late_observations", batch, "datastream, phenomenon_time, job")
        return rejected

    def raw(
        self, datastream: str, start_ms: int, end_ms: int, *, limit: int = 10_000, after_ms: int | None = None
    ) -> list[Observation]:
        low = start_ms if after_ms is None else max(start_ms, after_ms + 1)
        rows = self._query(
            f"SELECT {_OBSERVATION_COLUMNS} FROM observations WHERE datastream = ? AND phenomenon_time >= ?"  # noqa: S608
            " AND phenomenon_time < ? ORDER BY phenomenon_time LIMIT ?",
            [datastream, low, end_ms, limit],
        )
        return [_observation(row) for row in rows]

    def aggregates(self, datastream: str, window: str, start_ms: int, end_ms: int) -> list[WindowAggregate]:
        rows = self._query(
            "SELECT datastream, window_name, start_time, end_time, count, sum, min, max, avg, first, last,"
            " revision,"
            " updated_time FROM aggregates WHERE datastream = ? AND window_name = ? AND start_time >= ?"
            " AND start_time < ? ORDER BY start_time",
            [datastream, window, start_ms, end_ms],
        )
        return [WindowAggregate(*row) for row in rows]

    def latest(self, datastreams: Sequence[str] | None = None) -> dict[str, Observation]:
        where, params = (
            ("", []) if datastreams is None else (" WHERE list_contains(?, datastream)", [list(datastreams)])
        )
        rows = self._query(f"SELECT {_OBSERVATION_COLUMNS} FROM latest{where}", params)  # noqa: S608
        return {row[0]: _observation(row) for row in rows}

    def late(self, datastream: str, start_ms: int, end_ms: int) -> list[LateObservation]:
        rows = self._query(
            f"SELECT {_OBSERVATION_COLUMNS}, late_by_ms, job FROM late_observations WHERE datastream = ?"  # noqa: S608
            " AND phenomenon_time >= ? AND phenomenon_time < ? ORDER BY phenomenon_time",
            [datastream, start_ms, end_ms],
        )
        return [LateObservation(_observation(row[:6]), row[6], row[7]) for row in rows]

    def _query(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except duckdb.Error as err:
                raise StorageError(f"query on {self.path} failed: {err}") from err

    def close(self) -> None:
        self._db.close()


def _observation_table(rows: list[Observation]) -> pa.Table:
    numeric = [type(o.result) in (int, float) for o in rows]
    return pa.table(
        {
            "datastream": pa.array([o.datastream for o in rows], pa.string()),
            "phenomenon_time": pa.array([o.phenomenon_time_ms for o in rows], pa.int64()),
            "result_time": pa.array([o.result_time_ms for o in rows], pa.int64()),
            "value": pa.array(
                [o.result if n else None for o, n in zip(rows, numeric, strict=True)], pa.float64()
            ),
            "value_json": pa.array(
                [None if n else _json.encode(o.result).decode() for o, n in zip(rows, numeric, strict=True)],
                pa.string(),
            ),
            "id": pa.array([o.id for o in rows], pa.string()),
            "seq": pa.array(range(len(rows)), pa.int64()),
        }
    )


def _observation(row: tuple[Any, ...]) -> Observation:
    datastream, phenomenon_time, result_time, value, value_json, message_id = row
    result = value if value_json is None else _from_json.decode(value_json)
    return Observation(datastream, phenomenon_time, result, result_time, message_id)

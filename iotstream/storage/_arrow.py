"""Batches as Arrow tables (DuckDB reads them in place; PostgreSQL COPYs them as CSV), and DuckDB rows
back as model objects.

Each table carries a `seq` column (position in the batch), so SQL can keep the last row per key.
"""

from collections.abc import Sequence
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from iotstream.models import Alert, LateObservation, Observation, WindowAggregate

_json = msgspec.json.Encoder()
_from_json = msgspec.json.Decoder()


def readings(rows: Sequence[Observation]) -> pa.Table:
    values, texts = _results([o.result for o in rows])
    return pa.table(
        {
            "datastream": pa.array([o.datastream for o in rows], pa.string()),
            "phenomenon_time": pa.array([o.phenomenon_time_ms for o in rows], pa.int64()),
            "result_time": pa.array([o.result_time_ms for o in rows], pa.int64()),
            "value": values,
            "value_json": texts,
            "id": pa.array([o.id for o in rows], pa.string()),
            "seq": pa.array(range(len(rows)), pa.int64()),
        }
    )


def _results(results: list[Any]) -> tuple[pa.Array, pa.Array]:
    """Numbers as `value`, anything else (text, booleans, objects) as JSON text in `value_json`."""
    kinds = set(map(type, results))
    if kinds <= {float, int}:  # the usual batch: numbers only (a boolean is not one)
        numbers = results if kinds == {float} else [float(r) for r in results]
        return pa.array(numbers, pa.float64()), pa.nulls(len(results), pa.string())
    numeric = [type(r) in (int, float) for r in results]
    pairs = list(zip(results, numeric, strict=True))
    values = pa.array([float(r) if n else None for r, n in pairs], pa.float64())
    return values, pa.array([None if n else _json.encode(r).decode() for r, n in pairs], pa.string())


def minute_rollups(readings: pa.Table) -> pa.Table:
    """The batch's own 1-minute rollups (rollup table columns), computed in Arrow's C++ kernels
    (PostgreSQL merges them into the stored minutes when every reading of the batch is new).

    Sorted by time first, so each bucket's first and last are the earliest and latest readings.
    """
    numeric = readings.filter(pc.is_valid(readings["value"])).sort_by("phenomenon_time")
    time = numeric["phenomenon_time"]
    minutes = pa.table(
        {
            "datastream": numeric["datastream"],
            "bucket": pc.multiply(pc.divide(time, 60_000), 60_000),
            "value": numeric["value"],
            "time": time,
        }
    )
    stats = ("count", "sum", "min", "max", "first", "last")
    grouped = minutes.group_by(["datastream", "bucket"], use_threads=False).aggregate(
        [*(("value", stat) for stat in stats), ("time", "min"), ("time", "max")]
    )
    columns = ["datastream", "bucket", *(f"value_{stat}" for stat in stats), "time_min", "time_max"]
    return grouped.select(columns).rename_columns(["datastream", "bucket", *stats, "first_time", "last_time"])


def late(rows: Sequence[LateObservation]) -> pa.Table:
    table = readings([row.observation for row in rows])
    table = table.append_column("late_by_ms", pa.array([row.late_by_ms for row in rows], pa.int64()))
    return table.append_column("job", pa.array([row.job for row in rows], pa.string()))


def aggregates(rows: Sequence[WindowAggregate]) -> pa.Table:
    return pa.table(
        {
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
    )


def alerts(rows: Sequence[Alert]) -> pa.Table:
    return pa.table(
        {
            "rule": pa.array([a.rule for a in rows], pa.string()),
            "datastream": pa.array([a.datastream for a in rows], pa.string()),
            "start_time": pa.array([a.start_ms for a in rows], pa.int64()),
            "last_time": pa.array([a.last_ms for a in rows], pa.int64()),
            "max": pa.array([a.max for a in rows], pa.float64()),
            "avg": pa.array([a.avg for a in rows], pa.float64()),
            "threshold": pa.array([a.threshold for a in rows], pa.float64()),
            "state": pa.array([a.state for a in rows], pa.string()),
            "closed_time": pa.array([a.closed_ms for a in rows], pa.int64()),
            "updated_time": pa.array([a.updated_ms for a in rows], pa.int64()),
            "seq": pa.array(range(len(rows)), pa.int64()),
        }
    )


def observation(row: tuple[Any, ...]) -> Observation:
    datastream, phenomenon_time, result_time, value, value_json, message_id = row
    result = value if value_json is None else _from_json.decode(value_json)
    return Observation(datastream, phenomenon_time, result, result_time, message_id)

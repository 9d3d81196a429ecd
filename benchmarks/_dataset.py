"""A month of readings for the query benchmarks, made by the database itself: loading tens of millions
of rows through Python would be the ingest benchmark again, for an hour."""

import time

import psycopg

from iotstream.models import Observation
from iotstream.storage import BaseStorage

DAY_MS = 86_400_000


def sensor_name(index: int, datastreams: int) -> str:
    return f"sensor-{index:0{_digits(datastreams)}d}"


def _digits(datastreams: int) -> int:
    return max(3, len(str(datastreams - 1)))


def generate_month(store: BaseStorage, days: int, datastreams: int, interval_s: int) -> tuple[int, int]:
    """`days` of readings every `interval_s` for `datastreams` sensors ending now, rolled up by the
    store's own rebuild. Returns (rows, end time in ms)."""
    end = int(time.time()) // 60 * 60_000
    start = end - days * DAY_MS
    # The first and last reading of each datastream through the normal path: partitions, latest values.
    store.write_observations(
        [
            Observation(sensor_name(i, datastreams), t, 0.0, t, f"edge{t}")
            for i in range(datastreams)
            for t in (start, end)
        ]
    )
    width = _digits(datastreams)
    sql = (
        f"INSERT INTO observations SELECT 'sensor-' || lpad(CAST(d AS VARCHAR), {width}, '0'), t, t,"  # noqa: S608
        " 20 + 10 * sin(t / 3600000.0 + d), NULL, CAST(d AS VARCHAR) || '@' || CAST(t AS VARCHAR)"
        f" FROM {{d_range}}, {{t_range}} WHERE t > {start} AND t < {end}"
    )
    began = time.perf_counter()
    step = interval_s * 1000
    if hasattr(store, "_db"):  # DuckDB
        store._db.execute(
            sql.format(
                d_range=f"range(0, {datastreams}) r1(d)", t_range=f"range({start}, {end}, {step}) r2(t)"
            )
        )
    else:
        with psycopg.connect(store.url) as conn:  # type: ignore[attr-defined]
            conn.execute(
                sql.replace("VARCHAR", "text").format(  # type: ignore[arg-type]
                    d_range=f"generate_series(0, {datastreams - 1}) d",
                    t_range=f"generate_series({start}::bigint, {end}, {step}) t",
                )
            )
            conn.execute("ANALYZE")
    print(f"generated {days} days in {time.perf_counter() - began:.1f} s", flush=True)
    began = time.perf_counter()
    store.rebuild_rollups(start, end + 1)
    print(f"rolled up in {time.perf_counter() - began:.1f} s", flush=True)
    return datastreams * (days * DAY_MS // step), end

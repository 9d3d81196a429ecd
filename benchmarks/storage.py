"""Time-series storage: ingest rate per backend, and chart query latencies on a month of data.

    python benchmarks/storage.py [--quick] [--postgres URL] [--days 30] [--datastreams 100]

Ingest: DuckDB through `write_observations` in batches (until its rollups have caught up), and both
backends through the storage sink role (log → decode → store → commit). Queries: a generated data set
of `--days` x `--datastreams` at one reading per `--interval` seconds (1 s full, 300 s with --quick),
bulk-generated inside the database and rolled up with `rebuild_rollups`, then the four chart queries,
each repeated, reported as p95. PostgreSQL is started from its binaries with fsync on unless --postgres
is given. Prints progress and one final JSON line; writes benchmarks/results/storage.json.
"""

import argparse
import json
import os
import platform
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import msgspec
import psycopg
from _dataset import generate_month, sensor_name
from _versions import library_versions  # benchmarks/ is the script's directory

from iotstream.log import TopicSpec, open_log
from iotstream.models import Observation
from iotstream.storage import BaseStorage, open_storage
from iotstream.storage.sink import SinkTopics, StorageSink

RESULTS = Path(__file__).with_name("results")
DAY_MS = 86_400_000


def main() -> None:
    args = _arguments()
    load_before = os.getloadavg()
    server = None
    if args.postgres is None:
        from tests.servers import start_postgres

        server, args.postgres = start_postgres(durable=True, settings=("max_wal_size=4GB",))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            result = _run(args, Path(tmp))
    finally:
        if server is not None:
            server.cleanup()
    result["machine"] = {
        "cpus": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "python": platform.python_version(),
        "libraries": library_versions(),
        "duckdb": duckdb.__version__,
        "postgres_fsync": server is not None or "unknown",
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "storage.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


def _run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    ingest_rows = args.rows or (500_000 if args.quick else 5_000_000)
    sink_rows = args.rows or (200_000 if args.quick else 1_000_000)
    interval_s = args.interval or (300 if args.quick else 1)
    with open_storage(f"duckdb:///{tmp}/ingest.duckdb") as store:
        duckdb_rate = _ingest(store, ingest_rows, args.datastreams)
    _progress(f"DuckDB write_observations: {duckdb_rate:,.0f} rows/s ({ingest_rows:,} rows)")
    sink_rates = {}
    for name, url in (
        ("duckdb", f"duckdb:///{tmp}/sink.duckdb"),
        ("postgres", _fresh_database(args.postgres)),
    ):
        with open_storage(url) as store:
            sink_rates[name] = _through_sink(store, tmp / f"{name}-log.db", sink_rows, args.datastreams)
        _progress(f"{name} through the sink: {sink_rates[name]:,.0f} rows/s ({sink_rows:,} rows)")
    queries = {}
    for name, url in (
        ("duckdb", f"duckdb:///{tmp}/month.duckdb"),
        ("postgres", _fresh_database(args.postgres)),
    ):
        with open_storage(url, retention={"raw": f"{args.days + 1}d"}) as store:  # all raw kept
            rows, end = generate_month(store, args.days, args.datastreams, interval_s)
            queries[name] = _query_latencies(store, args, interval_s, end, 50 if args.quick else 200)
        _progress(f"{name} queries on {rows:,} rows: {queries[name]}")
    return {
        "benchmark": "storage",
        "duckdb_rows_per_s": round(duckdb_rate),
        "postgres_rows_per_s": round(sink_rates["postgres"]),
        "duckdb_sink_rows_per_s": round(sink_rates["duckdb"]),
        "query_ms": {q: ms for q, ms in queries["duckdb"].items() if q != "latest"},
        "latest_ms": queries["duckdb"]["latest"],
        "postgres_query_ms": {q: ms for q, ms in queries["postgres"].items() if q != "latest"},
        "postgres_latest_ms": queries["postgres"]["latest"],
        "data_set": {"days": args.days, "datastreams": args.datastreams, "interval_s": interval_s},
        "ingest_rows": ingest_rows,
        "sink_rows": sink_rows,
    }


def _batches(rows: int, datastreams: int, per_batch: int = 50_000) -> list[list[Observation]]:
    """Readings of every datastream once a second, ending now, as a device fleet would send them."""
    seconds = rows // datastreams
    start = (int(time.time()) - seconds) * 1000
    names = [sensor_name(i, datastreams) for i in range(datastreams)]
    readings = [
        Observation(name, start + s * 1000, float(s % 97) + i / 10, start + s * 1000, f"{name}@{s}")
        for s in range(seconds)
        for i, name in enumerate(names)
    ]
    return [readings[i : i + per_batch] for i in range(0, len(readings), per_batch)]


def _ingest(store: BaseStorage, rows: int, datastreams: int) -> float:
    batches = _batches(rows, datastreams)
    began = time.perf_counter()
    for batch in batches:
        refused = store.write_observations(batch)
        _check(not refused, f"refused: {refused[:3]}")
    store.catch_up()  # rollups included: DuckDB maintains them behind the writes
    return sum(map(len, batches)) / (time.perf_counter() - began)


def _through_sink(store: BaseStorage, log_path: Path, rows: int, datastreams: int) -> float:
    """Rows/s from records already in the log to committed rows in the store (decode included).

    The records are what ingestion writes: each carries its message id, assigned at the edge.
    """
    encode = msgspec.json.encode
    with open_log(f"sqlite:///{log_path}", maintenance_interval_ms=0, fsync=False) as log:
        log.create_topic(TopicSpec("observations", partitions=4))
        with log.producer() as producer:
            for batch in _batches(rows, datastreams):
                for o in batch:
                    document = {
                        "datastream": o.datastream,
                        "time": o.phenomenon_time_ms,
                        "value": o.result,
                        "id": o.id,
                    }
                    producer.produce("observations", encode(document), o.datastream.encode())
        sink = StorageSink(log, store, SinkTopics(late=(), alerts=()))
        stop = threading.Event()
        role = threading.Thread(target=sink.run, args=(stop,))
        began = time.perf_counter()
        role.start()
        while sink.stored + sink.rejected < rows and role.is_alive():
            time.sleep(0.001)
        store.catch_up()
        elapsed = time.perf_counter() - began
        stop.set()
        role.join()
    _check(sink.rejected == 0, f"{sink.rejected} rows rejected")
    return rows / elapsed


def _query_latencies(
    store: BaseStorage, args: argparse.Namespace, interval_s: int, end: int, repeats: int
) -> dict[str, float]:
    """Latencies of the chart queries over the data set, which ends at `end`."""
    days, datastreams = args.days, args.datastreams
    minutes = 1_440 // max(1, interval_s // 60)  # minutes of the last day that have a reading
    end += 1
    names = [sensor_name(i, datastreams) for i in range(datastreams)]

    def last_day(i: int) -> object:
        series = store.series(names[i % datastreams], end - DAY_MS, end, points=1_440)
        _check(series.resolution == "1m", f"24 h at 1,440 points used {series.resolution}")
        _check(len(series.buckets) >= minutes - 1, f"24 h gave {len(series.buckets)} minutes")
        return series

    def month_hourly(i: int) -> object:
        series = store.series(names[i % datastreams], end - days * DAY_MS, end, points=days * 24)
        _check(series.resolution == "1h", f"{days} days at {days * 24} points used {series.resolution}")
        _check(len(series.buckets) >= days * 24 - 1, f"{days} days gave {len(series.buckets)} hours")
        return series

    def all_daily(i: int) -> object:
        daily = store.buckets("1d", end - days * DAY_MS - DAY_MS, end)
        _check(len(daily) == datastreams, f"{len(daily)} datastreams have daily rollups")
        _check(all(len(b) >= days for b in daily.values()), "a datastream lacks days")
        return daily

    def latest(i: int) -> object:
        values = store.latest()
        _check(len(values) == datastreams, f"{len(values)} latest values")
        return values

    queries: dict[str, Callable[[int], object]] = {
        "one_datastream_24h_1m": last_day,
        "one_datastream_30d_hourly": month_hourly,
        "all_datastreams_30d_daily": all_daily,
        "latest": latest,
    }
    return {name: _p95(query, repeats) for name, query in queries.items()}


def _p95(query: Callable[[int], object], repeats: int) -> float:
    query(0)  # warm up
    timings = []
    for i in range(repeats):
        began = time.perf_counter()
        query(i)
        timings.append((time.perf_counter() - began) * 1000)
    return round(statistics.quantiles(timings, n=20)[-1], 2)


def _check(condition: bool, problem: str) -> None:
    """The benchmark measures only queries that return the right data."""
    if not condition:
        raise RuntimeError(problem)


def _fresh_database(server_url: str) -> str:
    name = f"bench_{int(time.time() * 1000)}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def _progress(message: str) -> None:
    print(message, flush=True)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller run, under 60 s")
    parser.add_argument("--postgres", help="postgresql:// URL of a server to use (default: start one)")
    parser.add_argument("--rows", type=int, help="rows for the ingest phases")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--datastreams", type=int, default=100)
    parser.add_argument("--interval", type=int, help="seconds between readings in the query data set")
    return parser.parse_args()


if __name__ == "__main__":
    main()

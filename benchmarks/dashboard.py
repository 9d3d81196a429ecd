"""Dashboard responsiveness: the server time of each page's initial data on a large store.

    python benchmarks/dashboard.py [--quick] [--datastreams 1000] [--days 30]

Builds `--datastreams` x `--days` of readings at one per minute (1,000 x 30 days = 43.2 million rows in
the full run; 100 x 7 days with --quick) in the embedded DuckDB store, starts the platform on it, and
requests what each dashboard page loads first: the overview (every datastream's latest value and last
day), a datastream's chart (a day at 1-minute points, its daily values and late readings) and a month of
it, plus a Grafana panel's month. Server time is the response's Server-Timing header; the round trip
over loopback is reported too. Target: ≤ 300 ms server time. Prints one final JSON line and writes
benchmarks/results/dashboard.json.
"""

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import httpx
from _dataset import DAY_MS, generate_month, sensor_name
from _timing import checked_get, percentiles, server_ms
from _versions import library_versions  # benchmarks/ is the script's directory

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform
from iotstream.storage import open_storage

RESULTS = Path(__file__).with_name("results")
TARGET_MS = 300
CHART = {"points": 600, "max_points": 1_500}  # what the chart page asks for


def main() -> None:
    args = _arguments()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        result = _run(args, Path(tmp))
    result["machine"] = {
        "cpus": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "python": platform.python_version(),
        "libraries": library_versions(),
        "duckdb": duckdb.__version__,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "dashboard.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


def _run(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    datastreams, days = (
        args.datastreams or (100 if args.quick else 1_000),
        args.days or (7 if args.quick else 30),
    )
    keep = {"raw": "36500d", "1m": "36500d", "1h": "36500d"}  # retention must not run into the measurement
    with open_storage(f"duckdb:///{data_dir}/store.duckdb", retention=keep) as store:
        rows, _ = generate_month(store, days, datastreams, 60)
    settings = load_settings(
        data_dir=data_dir, api={"port": 0}, mqtt={"enabled": False}, storage={"retention": keep}
    )
    with EmbeddedPlatform(settings) as running, httpx.Client(timeout=60) as client:
        assert running.api is not None  # noqa: S101
        requests = _requests(client, running.api.url, datastreams, days)
        timings = {name: percentiles(request, args.repeats) for name, request in requests.items()}
    for name, timing in timings.items():
        print(f"{name}: server p50 {timing['server_p50']} ms, p95 {timing['server_p95']} ms", flush=True)
    return {
        "benchmark": "dashboard",
        "datastreams": datastreams,
        "days": days,
        "rows": rows,
        "target_ms": TARGET_MS,
        "initial_page_server_ms_p95": {name: t["server_p95"] for name, t in timings.items()},
        "timings_ms": timings,
    }


def _requests(
    client: httpx.Client, url: str, datastreams: int, days: int
) -> dict[str, Callable[[int], float]]:
    """Each page's first requests, checked for the right data; each returns its server time in ms."""

    def timed(path: str, check: Callable[[Any], bool], **params: Any) -> float:
        return checked_get(client, url + path, check, params)

    def name(i: int) -> str:
        return sensor_name(i % datastreams, datastreams)

    def overview(i: int) -> float:
        return timed("/api/v1/overview", lambda body: len(body["datastreams"]) == datastreams)

    def chart_day(i: int) -> float:
        """The chart page's three requests, which the browser sends together: their sum, to be safe."""
        return (
            timed("/api/v1/series", lambda body: len(body["points"]) >= 1_400, datastream=name(i), **CHART)
            + timed("/api/v1/aggregates", lambda body: body == [], datastream=name(i), window="1d")
            + timed("/api/v1/late", lambda body: body == [], datastream=name(i))
        )

    def chart_month(i: int) -> float:
        return timed(
            "/api/v1/series",
            lambda body: len(body["points"]) >= days * 24 - 1,
            datastream=name(i),
            span=f"{days}d",
            **CHART,
        )

    def grafana_month(i: int) -> float:
        end = int(time.time() * 1000)
        body = {
            "range": {"from": end - days * DAY_MS, "to": end},
            "maxDataPoints": 1_000,
            "targets": [{"target": name(i)}],
        }
        response = client.post(url + "/grafana/query", json=body)
        response.raise_for_status()
        if not min(500, days * 24 - 1) <= len(response.json()[0]["datapoints"]) <= 1_000:  # hours at least
            raise RuntimeError("the Grafana panel got the wrong number of points")
        return server_ms(response)

    return {
        "overview": overview,
        "datastream_chart_1d": chart_day,
        "datastream_chart_month": chart_month,
        "grafana_panel_month": grafana_month,
    }


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="100 datastreams x 7 days, under 60 s")
    parser.add_argument("--datastreams", type=int)
    parser.add_argument("--days", type=int)
    parser.add_argument("--repeats", type=int, default=40)
    return parser.parse_args()


if __name__ == "__main__":
    main()

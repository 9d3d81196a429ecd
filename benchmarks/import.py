"""Backfill: readings/s imported from CSV and Parquet into `iotstream up`, and the client's send rate.

    python benchmarks/import.py [--quick] [--readings N]

The platform runs as in end_to_end.py (`iotstream up`: SQLite log with fsync, DuckDB store, no jobs);
`iotstream import FILE` runs as its own process, as a user runs it, with its default batches of 5,000.
- import_csv_readings_per_s / import_parquet_readings_per_s: a long file of N readings of 100
  datastreams (one a minute each), from the start of the command until the last reading is stored.
- import_csv_direct_* / import_parquet_direct_*: the same files imported without `--url`, straight
  into the log the configuration names (the running platform's SQLite log, shared between processes):
  `_readings_per_s` until the command ends (every reading durable in the log), `_stored_readings_per_s`
  until the platform has stored the last one. The platform stores them meanwhile, on the same CPUs.
- import_csv_alone_readings_per_s / import_parquet_alone_readings_per_s: the same, into the log of a
  platform that is not running (it stores them when it starts): what the import itself does with the
  machine to itself.
- client_send_readings_per_s: the same readings already in memory, sent by `iotstream.client.sending`
  (batches of 5,000) from this process, until the last is stored: the cost of reading a file aside.
- stop_s: how long `iotstream up` then takes to stop (SIGTERM until it exits).
Prints progress and one final JSON line; writes benchmarks/results/import.json.
"""

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from iotstream.client.sending import Sender

sys.path.insert(0, str(Path(__file__).parent))
from _stored import wait_stored
from _versions import library_versions
from end_to_end import _settle, _start_platform

RESULTS = Path(__file__).with_name("results") / "import.json"
T0 = 1_767_225_600_000  # 2026-01-01
DATASTREAMS = 100


def _readings(count: int, prefix: str) -> list[dict[str, Any]]:
    return [
        {
            "datastream": f"{prefix}-{i % DATASTREAMS}",
            "time": T0 + (i // DATASTREAMS) * 60_000,
            "value": i * 0.5,
        }
        for i in range(count)
    ]


def _last_times(readings: list[dict[str, Any]]) -> dict[str, int]:
    return {reading["datastream"]: reading["time"] for reading in readings[-DATASTREAMS:]}


def _write_csv(path: Path, readings: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, ["datastream", "time", "value"])
        writer.writeheader()
        writer.writerows(readings)


def _write_parquet(path: Path, readings: list[dict[str, Any]]) -> None:
    columns = {name: [r[name] for r in readings] for name in ("datastream", "time", "value")}
    table = pa.table(columns | {"time": pa.array(columns["time"], type=pa.timestamp("ms", tz="UTC"))})
    pq.write_table(table, path)


def imported(url: str, file: Path, readings: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    command = [sys.executable, "-m", "iotstream", "import", str(file), "--url", url]
    subprocess.run(command, check=True, capture_output=True)  # noqa: S603 - our own CLI
    done = wait_stored(url, _last_times(readings), timeout_s=600)
    return len(readings) / (done - started)


def _direct_import(config: Path, file: Path) -> list[str]:
    return [sys.executable, "-m", "iotstream", "--config", str(config), "import", str(file)]


def _timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)  # noqa: S603 - our own CLI
    return time.perf_counter() - started


def imported_directly(
    url: str, config: Path, file: Path, readings: list[dict[str, Any]]
) -> tuple[float, float]:
    started = time.perf_counter()
    subprocess.run(_direct_import(config, file), check=True, capture_output=True)  # noqa: S603
    in_log = time.perf_counter()
    stored = wait_stored(url, _last_times(readings), timeout_s=600)
    return len(readings) / (in_log - started), len(readings) / (stored - started)


def sent(url: str, readings: list[dict[str, Any]]) -> float:
    sender = Sender(url)
    started = time.perf_counter()
    try:
        for start in range(0, len(readings), 5_000):
            sender.send(readings[start : start + 5_000])
    finally:
        sender.close()
    done = wait_stored(url, _last_times(readings), timeout_s=600)
    return len(readings) / (done - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="100,000 readings per measurement")
    parser.add_argument("--readings", type=int)
    args = parser.parse_args()
    count = args.readings or (100_000 if args.quick else 1_000_000)
    load_before = os.getloadavg()
    result: dict[str, Any] = {"benchmark": "import", "readings": count, "datastreams": DATASTREAMS}
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "iotstream.toml"
        config.write_text(
            f'data_dir = "{Path(tmp) / "data"}"\n[log]\nfsync = true\n'
            '[storage.retention]\nraw = "36500d"\n"1m" = "36500d"\n"1h" = "36500d"\n'
        )
        alone = Path(tmp) / "alone.toml"
        alone.write_text(config.read_text().replace(str(Path(tmp) / "data"), str(Path(tmp) / "alone")))
        for name, write in (("csv", _write_csv), ("parquet", _write_parquet)):
            file = Path(tmp) / f"alone.{name}"
            write(file, _readings(count, f"{name}-alone"))
            rate = count / _timed(_direct_import(alone, file))
            result[f"import_{name}_alone_readings_per_s"] = round(rate)
            print(f"import {name} into the log of a stopped platform: {rate:,.0f} readings/s")
        process, url = _start_platform(config, Path(tmp) / "data")
        try:
            for name, write in (("csv", _write_csv), ("parquet", _write_parquet)):
                readings = _readings(count, name)
                file = Path(tmp) / f"readings.{name}"
                write(file, readings)
                rate = imported(url, file, readings)
                result[f"import_{name}_readings_per_s"] = round(rate)
                print(f"import {name}: {rate:,.0f} readings/s")
                _settle(process.pid)
                readings = _readings(count, f"{name}-direct")
                write(file, readings)
                into_log, stored = imported_directly(url, config, file, readings)
                result[f"import_{name}_direct_readings_per_s"] = round(into_log)
                result[f"import_{name}_direct_stored_readings_per_s"] = round(stored)
                print(f"import {name} into the log: {into_log:,.0f} readings/s ({stored:,.0f} until stored)")
                _settle(process.pid)
            rate = sent(url, _readings(count, "client"))
            result["client_send_readings_per_s"] = round(rate)
            print(f"client send: {rate:,.0f} readings/s")
        finally:
            stopping = time.perf_counter()
            process.terminate()
            process.communicate(timeout=900)
            result["stop_s"] = round(time.perf_counter() - stopping, 1)  # what is left to do at SIGTERM
    result["machine"] = {
        "cpus": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "python": platform.python_version(),
        "libraries": library_versions() | {"httpx": metadata.version("httpx")},
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

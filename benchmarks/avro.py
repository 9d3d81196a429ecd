"""Avro next to JSON: readings/s decoded, and ingested over HTTP into storage, through `iotstream up`.

    python benchmarks/avro.py [--quick] [--seconds 20]

- decode_*_readings_per_s: one thread turning bodies of 100 readings into the platform's readings
  (`parse_readings` for JSON; `AvroReadings` + `parse_items` for 100 Confluent frames back to back),
  the schema already known — the decoding alone, without the log.
- http_*_readings_per_s: `iotstream up` as end_to_end.py runs it (SQLite log with fsync, DuckDB store,
  no jobs), 8 keep-alive connections POSTing batches of 100 readings as JSON or as Avro frames
  (`Content-Type: application/vnd.iotstream.avro`, the schema registered first in the platform's
  registry), counted until the last reading is in storage; with the platform process's CPU per reading.
- http_json_avro_log_readings_per_s: the JSON batches again, with `[log] format = "avro"`: what writing
  `observations` as Avro (and reading it back in the sink) costs.
Prints progress and one final JSON line; writes benchmarks/results/avro.json.
"""

import argparse
import io
import json
import os
import platform
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import fastavro
import httpx
import msgspec

from iotstream.ingest.avro import MEDIA_TYPE, AvroReadings
from iotstream.ingest.readings import parse_items, parse_readings

sys.path.insert(0, str(Path(__file__).parent))
from _versions import library_versions
from end_to_end import T0, _cpu_s, _post_until_stored, _settle, _start_platform

RESULTS = Path(__file__).with_name("results") / "avro.json"
SCHEMA = {
    "type": "record",
    "name": "BenchReading",
    "namespace": "bench",
    "fields": [
        {"name": "datastream", "type": "string"},
        {"name": "time", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "value", "type": "double"},
    ],
}
PARSED = fastavro.parse_schema(SCHEMA)


def _batch(name: str, first_ms: int) -> list[dict[str, Any]]:
    return [{"datastream": name, "time": first_ms + i * 10, "value": float(i)} for i in range(100)]


def _frames(readings: list[dict[str, Any]], header: bytes) -> bytes:
    out = io.BytesIO()
    for reading in readings:
        out.write(header)
        fastavro.schemaless_writer(out, PARSED, reading)
    return out.getvalue()


def decoding(bodies: int) -> dict[str, float]:
    """Readings/s of the two decoders on the same readings, one thread."""
    batches = [_batch(f"d-{n % 10}", T0 + n * 1_000) for n in range(bodies)]
    json_bodies = [msgspec.json.encode(batch) for batch in batches]
    header = b"\x00" + (1).to_bytes(4, "big")
    avro_bodies = [_frames(batch, header) for batch in batches]
    decoder = AvroReadings({1: json.dumps(SCHEMA)}.__getitem__)
    started = time.perf_counter()
    for body in json_bodies:
        parse_readings(body, T0)
    json_s = time.perf_counter() - started
    started = time.perf_counter()
    for body in avro_bodies:
        parse_items(list(decoder.readings(body)), T0)
    avro_s = time.perf_counter() - started
    readings = bodies * 100
    return {"decode_json_readings_per_s": readings / json_s, "decode_avro_readings_per_s": readings / avro_s}


def over_http(tmp: Path, seconds: float, log_format: str, bodies: str) -> dict[str, float]:
    config = tmp / f"{log_format}-{bodies}.toml"
    retention = '[storage.retention]\nraw = "36500d"\n"1m" = "36500d"\n"1h" = "36500d"\n'
    config.write_text(f'[log]\nfsync = true\nformat = "{log_format}"\n{retention}')
    process, url = _start_platform(config, tmp / f"data-{log_format}-{bodies}")
    try:
        headers, body = _bodies(url, bodies)
        cpu_before = _cpu_s(process.pid)
        rate = _post_until_stored(
            url, body, 8, seconds, "batch", lambda last: T0 + last * 1_000 + 990, 100, headers
        )
        cpu_us = (_cpu_s(process.pid) - cpu_before) / rate["readings"] * 1e6
        _settle(process.pid)
    finally:
        process.terminate()
        process.communicate(timeout=60)
    return {"per_s": rate["per_s"], "cpu_us_per_reading": cpu_us}


def _bodies(url: str, kind: str) -> tuple[dict[str, str], Any]:
    if kind == "json":
        return {}, lambda connection, sequence: msgspec.json.encode(
            _batch(f"batch-{connection}", T0 + sequence * 1_000)
        )
    registered = httpx.post(
        f"{url}/schema-registry/subjects/bench-value/versions", json={"schema": json.dumps(SCHEMA)}
    )
    header = b"\x00" + int(registered.json()["id"]).to_bytes(4, "big")
    return {"Content-Type": MEDIA_TYPE}, lambda connection, sequence: _frames(
        _batch(f"batch-{connection}", T0 + sequence * 1_000), header
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="5 s per measurement")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    seconds = 5.0 if args.quick else args.seconds
    load_before = os.getloadavg()
    result: dict[str, Any] = {"benchmark": "avro", "seconds_per_measurement": seconds, "batch": 100}
    result |= {name: round(rate) for name, rate in decoding(2_000 if args.quick else 10_000).items()}
    json_rate, avro_rate = result["decode_json_readings_per_s"], result["decode_avro_readings_per_s"]
    print(f"decoding: {json_rate:,} JSON, {avro_rate:,} Avro readings/s")
    with tempfile.TemporaryDirectory() as tmp:
        for log_format, bodies, name in (
            ("json", "json", "http_json"),
            ("json", "avro", "http_avro"),
            ("avro", "json", "http_json_avro_log"),
        ):
            measured = over_http(Path(tmp), seconds, log_format, bodies)
            result[f"{name}_readings_per_s"] = round(measured["per_s"])
            result[f"{name}_cpu_us_per_reading"] = round(measured["cpu_us_per_reading"], 1)
            rate, cpu = measured["per_s"], measured["cpu_us_per_reading"]
            print(f"{name}: {rate:,.0f} readings/s, {cpu:.1f} µs CPU/reading")
    result["machine"] = {
        "cpus": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "python": platform.python_version(),
        "libraries": library_versions() | {name: metadata.version(name) for name in ("fastavro", "avro")},
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

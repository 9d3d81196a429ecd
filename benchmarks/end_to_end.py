"""End to end: readings over HTTP and MQTT into storage, through `iotstream up` as users run it.

    python benchmarks/end_to_end.py [--quick] [--seconds 20]

The platform runs as its own process (`iotstream up`, embedded mode: SQLite log with fsync, DuckDB
store, the storage sink; no jobs), so its CPU time can be read from /proc and the load generators
do not share its interpreter. They do share the machine's cores, as on a laptop.

- http_batch_readings_per_s: 8 keep-alive connections POSTing batches of 100 as fast as they are
  answered, counted from the first POST until the last reading is in storage.
- http_single_readings_per_s: 32 keep-alive connections POSTing one reading per request.
- mqtt_readings_per_s: one reading per message, QoS 1, from a lean asyncio publisher through mosquitto
  (amqtt when mosquitto is absent): seconds x 40,000 messages, counted until the last one is stored.
- latency_p50_ms / latency_p99_ms: while batches of 100 flow at a steady 20,000 readings/s, the time
  from a reading's acceptance (its result time, stamped when its request is parsed) until the DuckDB
  transaction holding it has committed, for every reading, from the storage sink's histogram
  (`GET /api/v1/stats`, 1 ms buckets).
- cpu_us_per_reading: the platform process's user+system CPU during the batch run, per reading.

With `--auth`, `[auth] enabled = true`: every HTTP request carries a bearer token of tenant `bench`
(writer), whose readings go to its own namespace; the stats are read with an operator's token. The MQTT
run goes through the same anonymous broker (access control on MQTT is the broker's).

Prints progress and one final JSON line; writes benchmarks/results/end_to_end.json.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import msgspec

from iotstream._latency import quantile_ms

sys.path.insert(0, str(Path(__file__).parent))
from _http_load import Body, post_many
from _mqtt_load import publish_many
from _stored import wait_stored
from _versions import library_versions

RESULTS = Path(__file__).with_name("results")
ROOT = Path(__file__).resolve().parent.parent
T0 = 1_767_225_600_000  # 2026-01-01: every run writes new times into a fresh store
TICKS = os.sysconf("SC_CLK_TCK")


def main() -> None:
    args = _arguments()
    load_before = os.getloadavg()
    sys.path.insert(0, str(ROOT))
    from tests.servers import start_mqtt_broker

    with tempfile.TemporaryDirectory() as tmp:
        broker = start_mqtt_broker(Path(tmp))
        try:
            result = _run(args, Path(tmp), broker.port, Path(broker.argv[0]).name)
        finally:
            broker.stop()
    result["machine"] = {
        "cpus": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "python": platform.python_version(),
        "libraries": library_versions(),
    }
    RESULTS.mkdir(exist_ok=True)
    name = "end_to_end_no_fsync.json" if args.no_fsync else "end_to_end.json"
    if args.auth:
        name = name.replace(".json", "_auth.json")
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a few seconds per measurement (< 60 s)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each measurement")
    parser.add_argument(
        "--no-fsync",
        action="store_true",
        help="[log] fsync = false: survives process crashes, not power loss",
    )
    parser.add_argument("--auth", action="store_true", help="[auth] enabled, every request with a token")
    args = parser.parse_args()
    if args.quick:
        args.seconds = 4.0
    return args


def _run(args: argparse.Namespace, tmp: Path, mqtt_port: int, broker: str) -> dict[str, Any]:
    config = tmp / "iotstream.toml"
    retention = '[storage.retention]\nraw = "36500d"\n"1m" = "36500d"\n"1h" = "36500d"\n'
    log = f"[log]\nfsync = {'false' if args.no_fsync else 'true'}\n"
    auth = "[auth]\nenabled = true\n" if args.auth else ""
    mqtt_table = f'[mqtt]\nenabled = true\nurl = "mqtt://127.0.0.1:{mqtt_port}"\n'
    config.write_text(f"{log}{retention}\n{auth}{mqtt_table}")
    tokens = _tokens(config, tmp / "data") if args.auth else Tokens({}, {})
    process, url = _start_platform(config, tmp / "data")
    try:
        cpu_before = _cpu_s(process.pid)
        batch = _http_batches(url, args.seconds, "batch", tokens.device)
        cpu_per_reading = (_cpu_s(process.pid) - cpu_before) / batch["readings"] * 1e6
        print(f"HTTP batches of 100: {batch['per_s']:,.0f} readings/s, {cpu_per_reading:.1f} µs CPU/reading")
        _settle(process.pid)
        single = _http_singles(url, args.seconds, tokens.device)
        print(f"HTTP single readings: {single['per_s']:,.0f} readings/s")
        _settle(process.pid)
        mqtt = _mqtt(url, mqtt_port, args.seconds, tokens.operator)
        print(f"MQTT ({broker}): {mqtt['per_s']:,.0f} readings/s")
        _settle(process.pid)
        latency = _latency(url, args.seconds, tokens)
        print(
            f"ingest → stored at 20,000 readings/s: p50 {latency['p50']:.1f} ms, p99 {latency['p99']:.1f} ms"
        )
        print(f"  of which in the log: p50 {latency['log_p50']:.1f}, p99 {latency['log_p99']:.1f} ms")
    finally:
        process.terminate()
        process.communicate(timeout=60)
    return {
        "benchmark": "end_to_end",
        "seconds_per_measurement": args.seconds,
        "log_fsync": not args.no_fsync,
        "auth": args.auth,
        "mqtt_broker": broker,
        "http_batch_readings_per_s": round(batch["per_s"]),
        "http_single_readings_per_s": round(single["per_s"]),
        "mqtt_readings_per_s": round(mqtt["per_s"]),
        "latency_p50_ms": round(latency["p50"], 2),
        "latency_p99_ms": round(latency["p99"], 2),
        "latency_background_readings_per_s": round(latency["background_per_s"]),
        "log_ack_latency_p50_ms": latency["log_p50"],
        "log_ack_latency_p99_ms": latency["log_p99"],
        "sink_write_p50_ms": latency["write_p50"],
        "sink_write_p99_ms": latency["write_p99"],
        "sink_writes": latency["writes"],
        "cpu_us_per_reading": round(cpu_per_reading, 1),
    }


class Tokens(NamedTuple):
    device: dict[str, str]  # headers of a writer of tenant `bench`
    operator: dict[str, str]  # of an admin of the default tenant


def _tokens(config: Path, data_dir: Path) -> Tokens:
    """Made with the CLI, as a user would."""
    base = [sys.executable, "-m", "iotstream", "--config", str(config)]

    def cli(*args: str) -> str:
        done = subprocess.run(  # noqa: S603 - our own CLI
            [*base, *args, "--data-dir", str(data_dir)], capture_output=True, text=True, check=True
        )
        return done.stdout.strip().splitlines()[-1]

    cli("tenants", "create", "bench")
    device = cli("tokens", "create", "--tenant", "bench", "--role", "writer")
    operator = cli("tokens", "create", "--tenant", "default", "--role", "admin")
    return Tokens({"Authorization": f"Bearer {device}"}, {"Authorization": f"Bearer {operator}"})


def _start_platform(config: Path, data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    argv = [sys.executable, "-m", "iotstream", "up", "--config", str(config), "--data-dir", str(data_dir)]
    process = subprocess.Popen([*argv, "--port", "0"], stdout=subprocess.PIPE, text=True)  # noqa: S603
    assert process.stdout is not None  # noqa: S101
    for line in process.stdout:
        if line.startswith("iotstream is serving "):
            threading.Thread(target=process.stdout.read, daemon=True).start()  # keep the pipe drained
            return process, line.removeprefix("iotstream is serving ").split()[0]
    raise RuntimeError("iotstream up did not start")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime of the whole process


def _settle(pid: int, timeout_s: float = 60) -> None:
    """Wait until the platform is quiet (under 5% of a core for half a second): a measurement must not
    pay for the previous one's tail (notifications, rollups catching up after a burst)."""
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        before = _cpu_s(pid)
        time.sleep(0.5)
        if _cpu_s(pid) - before < 0.025:
            return


def _http_batches(
    url: str, seconds: float, name: str, headers: dict[str, str], connections: int = 8
) -> dict[str, float]:
    """Batches of 100 readings on 8 keep-alive connections, each sent when the last is answered."""

    def body(connection: int, sequence: int) -> bytes:
        first = T0 + sequence * 1_000
        batch = [
            {"datastream": f"{name}-{connection}", "time": first + i * 10, "value": i} for i in range(100)
        ]
        return msgspec.json.encode(batch)

    return _post_until_stored(
        url, body, connections, seconds, name, lambda last: T0 + last * 1_000 + 990, 100, headers
    )


def _http_singles(
    url: str, seconds: float, headers: dict[str, str], connections: int = 32
) -> dict[str, float]:
    """One reading per POST on 32 keep-alive connections."""

    def body(connection: int, sequence: int) -> bytes:
        reading = {"datastream": f"single-{connection}", "time": T0 + sequence, "value": 1.0}
        return msgspec.json.encode(reading)

    return _post_until_stored(url, body, connections, seconds, "single", lambda last: T0 + last, 1, headers)


def _post_until_stored(
    url: str,
    body: Body,
    connections: int,
    seconds: float,
    name: str,
    last_time: Callable[[int], int],
    per_request: int,
    headers: dict[str, str],
) -> dict[str, float]:
    """POSTs from one lean asyncio client (httpx would need more CPU than the platform), counted from
    the first until the last accepted reading of every connection (`name-N`) is in storage."""
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    started = time.perf_counter()
    answers = post_many(
        host, int(port), "/api/v1/readings", body, connections=connections, seconds=seconds, headers=headers
    )
    refused = [other for _, _, other in answers if other]
    if refused:
        print(f"  answers other than 202: {refused}")
    done = wait_stored(
        url,
        {f"{name}-{i}": last_time(last) for i, (_, last, _) in enumerate(answers) if last >= 0},
        headers=headers,
    )
    total = sum(accepted for accepted, _, _ in answers) * per_request
    return {"readings": total, "per_s": total / (done - started)}


def _mqtt(url: str, port: int, seconds: float, headers: dict[str, str]) -> dict[str, float]:
    """One reading per message at QoS 1 from a lean asyncio publisher (paho would need more CPU than
    the platform), up to 1,000 messages in flight, as many devices would have: `seconds` x 40,000
    messages as fast as the broker takes them. The broker takes them faster than anyone stores them,
    so the count is fixed: a timed run would queue more than mosquitto keeps for a subscriber
    (`max_queued_messages`), and it would drop the rest."""

    def message(number: int) -> tuple[str, bytes]:
        return "iotstream/mqtt/readings", msgspec.json.encode({"time": T0 + number, "value": 1.0})

    started = time.perf_counter()
    published = publish_many("127.0.0.1", port, message, count=int(seconds * 40_000))
    done = wait_stored(url, {"mqtt": T0 + published.last}, headers=headers)  # the default tenant's
    return {"readings": published.sent, "per_s": published.sent / (done - started)}


def _latency(
    url: str, seconds: float, tokens: Tokens, rate: int = 20_000, warm_up_s: float = 2.0
) -> dict[str, float]:
    """Batches of 100 at a steady `rate` from 4 clients (one waits for each answer, so alone it could
    not keep the rate); the platform's own ingest → stored histogram, diffed over the measurement,
    after `warm_up_s` at the same rate, so it is the steady state that is measured."""
    clients = 4
    sent = [0] * clients
    started = time.perf_counter()

    def client(index: int) -> None:
        share = rate / clients
        with httpx.Client(base_url=url, timeout=60, headers=tokens.device) as api:
            while (elapsed := time.perf_counter() - started) < seconds + warm_up_s:
                if sent[index] / share > elapsed:
                    time.sleep(sent[index] / share - elapsed)
                first = T0 + sent[index] * clients + index
                body = [{"datastream": "steady", "time": first + i * clients, "value": 1} for i in range(100)]
                api.post("/api/v1/readings", content=msgspec.json.encode(body))
                sent[index] += 100

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(warm_up_s)
    stats = httpx.get(f"{url}/api/v1/stats", headers=tokens.operator).json()
    before = stats["sink"]["latency_ms"]["counts"]
    log_before = stats["ingest"]["log_latency_ms"]["counts"]
    writes_before = stats["sink"]["write_ms"]["counts"]
    for thread in threads:
        thread.join()
    background_rate = sum(sent) / (time.perf_counter() - started)
    wait_stored(url, {"steady": T0 + (sent[0] - 1) * clients}, headers=tokens.device)
    stats = httpx.get(f"{url}/api/v1/stats", headers=tokens.operator).json()
    counts = [a - b for a, b in zip(stats["sink"]["latency_ms"]["counts"], before, strict=True)]
    log = [a - b for a, b in zip(stats["ingest"]["log_latency_ms"]["counts"], log_before, strict=True)]
    writes = [a - b for a, b in zip(stats["sink"]["write_ms"]["counts"], writes_before, strict=True)]
    return {
        "p50": quantile_ms(counts, 0.5) or 0.0,
        "p99": quantile_ms(counts, 0.99) or 0.0,
        "log_p50": quantile_ms(log, 0.5) or 0.0,
        "log_p99": quantile_ms(log, 0.99) or 0.0,
        "write_p50": quantile_ms(writes, 0.5) or 0.0,
        "write_p99": quantile_ms(writes, 0.99) or 0.0,
        "writes": sum(writes),
        "background_per_s": background_rate,
    }


if __name__ == "__main__":
    main()

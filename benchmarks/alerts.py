"""Alert rules and notifications: how fast rules run, how fast notifications go out, and whether a
notification receiver that is down slows the pipeline.

    python benchmarks/alerts.py [--quick]

threshold_events_per_s / staleness_events_per_s: readings of 1,000 datastreams (one every second each,
crossing the threshold now and then) already in memory as log records, through one task of each rule
on one thread. notifications_per_s: open/close events from the SQLite log delivered one by one to a
local webhook receiver. pipeline_readings_per_s_*: the whole platform (HTTP ingestion, SQLite log,
threshold rule, DuckDB storage) from the first POST until the rule read and the store holds every
reading — once without notification sinks and once with a webhook whose receiver is down (retrying).
Prints one final JSON line and writes benchmarks/results/alerts.json.
"""

import argparse
import json
import math
import os
import platform
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import msgspec
from _versions import library_versions  # benchmarks/ is the script's directory

from iotstream.alerts.config import NotifySettings, WebhookSettings
from iotstream.alerts.delivery import Delivery
from iotstream.alerts.sinks.webhook import WebhookSink
from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform
from iotstream.log import open_log
from iotstream.log.topics import ALERTS, platform_topics
from iotstream.log.types import Record
from iotstream.processing.jobs import StalenessSettings, ThresholdSettings
from iotstream.processing.jobs.staleness import staleness_job
from iotstream.processing.jobs.threshold import threshold_job
from iotstream.processing.task import Task
from iotstream.registry.publisher import registry_topics

RESULTS = Path(__file__).with_name("results") / "alerts.json"
KEYS = [f"sensor-{i:04d}" for i in range(1_000)]
T0 = 1_790_000_000_000
RULE = {"type": "threshold", "name": "hot", "datastreams": ["sensor-*"], "above": 29.0, "hysteresis": 0.5}


def _reading(i: int) -> dict[str, Any]:
    """A 15 to 30 wave per sensor with a period of 10 minutes: each spends ~1 minute of 10 above 29."""
    key, second = KEYS[i % len(KEYS)], i // len(KEYS)
    value = 22.5 + 7.5 * math.sin(2 * math.pi * (second + i % 600) / 600)
    return {"datastream": key, "time": T0 + second * 1_000, "value": round(value, 2)}


def _records(count: int) -> list[Record]:
    records = []
    for i in range(count):
        reading = _reading(i)
        key = reading["datastream"].encode()
        records.append(Record("observations", 0, i, reading["time"], key, msgspec.json.encode(reading)))
    return records


def rule_alone(name: str, task: Task, records: list[Record], batch: int = 10_000) -> float:
    alerts = 0
    started = time.perf_counter()
    for i in range(0, len(records), batch):
        out, _ = task.process(records[i : i + batch])
        alerts += len(out.to_topics)
    elapsed = time.perf_counter() - started
    rate = len(records) / elapsed
    print(f"{name}: {len(records):,} readings in {elapsed:.2f} s = {rate:,.0f}/s, {alerts:,} alert events")
    return rate


class _Receiver(BaseHTTPRequestHandler):
    received = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        _Receiver.received += 1
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def notifications(count: int) -> float:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    with (
        tempfile.TemporaryDirectory() as tmp,
        open_log(f"sqlite:///{tmp}/log.db", maintenance_interval_ms=0) as log,
    ):
        for spec in [*platform_topics(1), *registry_topics()]:
            log.create_topic(spec)
        sink = WebhookSink(WebhookSettings(type="webhook", url=url))
        # first: a new sink hears of the alerts raised from its start on
        delivery = Delivery(sink, log, NotifySettings(template="{summary}"))
        with log.producer() as producer:
            for i in range(count):
                event = "open" if i % 2 == 0 else "close"
                alert = {"rule": "hot", "datastream": KEYS[i // 2 % 1000], "event": event, "state": event}
                alert |= {"start": T0 + i // 2 * 1000, "last": T0 + i // 2 * 1000, "max": 30.0, "avg": 30.0}
                producer.produce(ALERTS, msgspec.json.encode({"value": alert}), alert["datastream"].encode())
        stop = threading.Event()
        started = time.perf_counter()
        while delivery.counts["sent"] < count:
            delivery.step(stop)
        elapsed = time.perf_counter() - started
        delivery.close()
    server.shutdown()
    rate = count / elapsed
    print(f"notifications: {count:,} webhook POSTs in {elapsed:.2f} s = {rate:,.0f}/s")
    return rate


def pipeline(count: int, notify: dict[str, Any]) -> float:
    """Readings/s through the platform, POSTed in batches of 5,000 from one client."""
    with tempfile.TemporaryDirectory() as tmp:
        keep = {"raw": "36500d", "1m": "36500d", "1h": "36500d"}
        settings = load_settings(
            data_dir=Path(tmp), api={"port": 0}, storage={"retention": keep}, jobs=[RULE], notify=notify
        )
        readings = [_reading(i) for i in range(count)]
        with EmbeddedPlatform(settings) as running, httpx.Client(timeout=60) as client:
            if running.api is None:
                raise RuntimeError("the platform started without its API")
            started = time.perf_counter()
            for i in range(0, count, 5_000):
                answer = client.post(f"{running.api.url}/api/v1/readings", json=readings[i : i + 5_000])
                answer.raise_for_status()
            while not _caught_up(running, count):
                time.sleep(0.01)
            elapsed = time.perf_counter() - started
            counts = running.stats()["notify"]
    rate = count / elapsed
    print(f"pipeline with {notify.get('sinks') or 'no sinks'}: {count:,} readings = {rate:,.0f}/s; {counts}")
    return rate


def _caught_up(running: EmbeddedPlatform, count: int) -> bool:
    stats = running.stats()
    return stats["jobs"]["hot"]["events_in"] >= count and stats["sink"]["stored"] >= count


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller run, well under a minute")
    args = parser.parse_args()
    events = 200_000 if args.quick else 2_000_000
    sent = 2_000 if args.quick else 10_000
    readings = 50_000 if args.quick else 300_000
    load_before = os.getloadavg()
    records = _records(events)
    threshold = Task(threshold_job(ThresholdSettings(**RULE)), 0, {}, clock=time.monotonic)
    silent = StalenessSettings(type="staleness", name="quiet", datastreams=["sensor-*"], after="5m")
    staleness = Task(staleness_job(silent), 0, {}, clock=time.monotonic)
    down = {"sinks": [{"type": "webhook", "url": "http://127.0.0.1:9/down"}], "retry_initial": "100ms"}
    result = {
        "benchmark": "alerts",
        "readings": events,
        "threshold_events_per_s": round(rule_alone("threshold rule", threshold, records)),
        "staleness_events_per_s": round(rule_alone("staleness rule", staleness, records)),
        "notifications": sent,
        "notifications_per_s": round(notifications(sent)),
        "pipeline_readings": readings,
        "pipeline_readings_per_s_no_sinks": round(pipeline(readings, {})),
        "pipeline_readings_per_s_receiver_down": round(pipeline(readings, down)),
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "python": platform.python_version(),
            "libraries": library_versions(),
        },
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

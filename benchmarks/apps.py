"""Stream apps next to the built-in job: events/s of a filter app and a windowed app.

    python benchmarks/apps.py [--quick] [--events N]

Input: 1,000 datastreams reporting every second, as ingestion writes them (JSON records, 4 partitions).
- builtin_window: the built-in 1-minute tumbling statistics (`Job.window(Tumbling(60 s))`).
- filter_app: `SELECT * FROM readings WHERE value < 16` (about half the readings pass).
- windowed_app: `SELECT datastream, count(*) AS n, avg(value) AS value, max(value) AS peak FROM
  readings GROUP BY datastream, TUMBLE(time, INTERVAL '1' MINUTE)`.
Each is measured twice: `engine_events_per_s`, the records already in memory, decoded and processed by
the engine's tasks on one thread; `end_to_end_events_per_s`, through JobRunner from and to the SQLite
log until every output is acknowledged (an app's output goes to a topic of its own here, so its input
is exactly the records; in the platform it goes back to `observations`).
Prints one final JSON line and writes benchmarks/results/apps.json.
"""

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

from iotstream.log import TopicSpec, open_log
from iotstream.log.types import Record
from iotstream.processing.apps import AppSpec, app_job
from iotstream.processing.job import Job, To
from iotstream.processing.runner import JobRunner
from iotstream.processing.task import Task
from iotstream.processing.windows import Tumbling

sys.path.insert(0, str(Path(__file__).parent))
from _versions import library_versions
from engine_throughput import PARTITIONS, _records

RESULTS = Path(__file__).with_name("results") / "apps.json"
FILTER = "SELECT * FROM readings WHERE value < 16"
WINDOWED = (
    "SELECT datastream, count(*) AS n, avg(value) AS value, max(value) AS peak FROM readings"
    " GROUP BY datastream, TUMBLE(time, INTERVAL '1' MINUTE)"
)


def _jobs(source: str, sink: str) -> dict[str, Job]:
    builtin = Job("builtin", sources=[source], out_of_orderness_ms=5_000).window(Tumbling(60_000)).to(sink)
    jobs = {"builtin_window": builtin}
    for name, sql in (("filter_app", FILTER), ("windowed_app", WINDOWED)):
        job = app_job(AppSpec("default", name.replace("_", "-"), sql, out_of_orderness_ms=5_000))
        jobs[name] = dataclasses.replace(job, sources=(source,), steps=(*job.steps[:-1], To(sink)))
    return jobs


def engine_alone(name: str, records: list[Record], batch: int = 10_000) -> float:
    job = _jobs("readings", "out")[name]  # the topic of engine_throughput's records
    tasks = {p: Task(job, p, {}, clock=time.monotonic) for p in range(PARTITIONS)}
    outputs = 0
    started = time.perf_counter()
    for p, task in tasks.items():
        part = [r for r in records if r.partition == p]
        for i in range(0, len(part), batch):
            out, _ = task.process(part[i : i + batch])
            outputs += len(out.to_topics)
    rate = len(records) / (time.perf_counter() - started)
    print(f"{name}, engine alone: {rate:,.0f} events/s ({outputs:,} outputs)", flush=True)
    return rate


def end_to_end(name: str, records: list[Record]) -> float:
    with (
        tempfile.TemporaryDirectory() as tmp,
        open_log(f"sqlite:///{tmp}/log.db", maintenance_interval_ms=0) as log,
    ):
        source, sink = f"observations-{uuid.uuid4().hex[:6]}", f"out-{uuid.uuid4().hex[:6]}"
        log.create_topic(TopicSpec(source, partitions=PARTITIONS))
        log.create_topic(TopicSpec(sink, partitions=PARTITIONS))
        with log.producer() as producer:
            for r in records:
                producer.produce(source, r.value, r.key, partition=r.partition, timestamp_ms=r.timestamp_ms)
        runner = JobRunner(_jobs(source, sink)[name], log, Path(tmp) / "state", max_batch=20_000)
        elapsed = 0.0  # steps spent joining the group do not count
        while runner.events_in < len(records):
            started = time.perf_counter()
            if runner.step(timeout_s=1):
                elapsed += time.perf_counter() - started
        started = time.perf_counter()
        runner.checkpoint()
        elapsed += time.perf_counter() - started
        runner.close()
    rate = len(records) / elapsed
    print(f"{name}, end to end (SQLite log): {rate:,.0f} events/s", flush=True)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller run, well under a minute")
    parser.add_argument("--events", type=int)
    args = parser.parse_args()
    count = args.events or (200_000 if args.quick else 1_000_000)
    load_before = os.getloadavg()
    records = _records(count)  # the same input as engine_throughput.py
    result: dict[str, object] = {
        "benchmark": "apps",
        "events": count,
        "filter_sql": FILTER,
        "windowed_sql": WINDOWED,
    }
    for name in ("builtin_window", "filter_app", "windowed_app"):
        result[f"{name}_engine_events_per_s"] = round(engine_alone(name, records))
        result[f"{name}_end_to_end_events_per_s"] = round(end_to_end(name, records))
    result["machine"] = {
        "cpus": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "python": platform.python_version(),
        "libraries": library_versions() | {"sqlglot": _version("sqlglot")},
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


def _version(name: str) -> str:
    from importlib import metadata

    return metadata.version(name)


if __name__ == "__main__":
    main()

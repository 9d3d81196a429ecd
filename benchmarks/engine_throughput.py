"""Stream engine throughput: a keyed 1-minute tumbling mean over 1,000 keys.

    python benchmarks/engine_throughput.py [--quick] [--events N]

engine_events_per_s: readings already in memory as log records (JSON values, as ingestion writes
them), decoded and aggregated by the engine's tasks on one thread, so it is also events/s per core.
end_to_end_events_per_s: the same job through JobRunner, reading from and writing to the SQLite log,
from the first poll until every input is processed and every output acknowledged.
Prints one final JSON line and writes benchmarks/results/engine_throughput.json.
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

import msgspec

from iotstream.log import TopicSpec, open_log
from iotstream.log.partitioner import partition_for
from iotstream.log.types import Record
from iotstream.models import message_id
from iotstream.processing.job import Job
from iotstream.processing.runner import JobRunner
from iotstream.processing.task import Task
from iotstream.processing.windows import Tumbling

sys.path.insert(0, str(Path(__file__).parent))
from _versions import library_versions

RESULTS = Path(__file__).with_name("results") / "engine_throughput.json"
KEYS = [f"sensor-{i:04d}" for i in range(1_000)]
PARTITIONS = 4


def _job() -> Job:
    return Job("bench", sources=["readings"], out_of_orderness_ms=5_000).window(Tumbling(60_000)).to("means")


def _records(count: int) -> list[Record]:
    """1,000 sensors reporting every second (so 60 readings per key and window), in time order, each
    with its message id, as ingestion writes them (so the job checks every id against those it counted)."""
    offsets = [0] * PARTITIONS
    records = []
    for i in range(count):
        key = KEYS[i % 1_000]
        time_ms = 1_700_000_000_000 + (i // 1_000) * 1_000
        partition = partition_for(key.encode(), PARTITIONS)
        value = (i % 97) / 3
        reading = {"datastream": key, "time": time_ms, "value": value, "id": message_id(key, time_ms, value)}
        body = msgspec.json.encode(reading | {"resultTime": time_ms})
        records.append(Record("readings", partition, offsets[partition], time_ms, key.encode(), body))
        offsets[partition] += 1
    return records


def engine_alone(records: list[Record], batch: int = 10_000) -> float:
    tasks = {p: Task(_job(), p, {}, clock=time.monotonic) for p in range(PARTITIONS)}
    by_partition = {p: [r for r in records if r.partition == p] for p in range(PARTITIONS)}
    outputs = 0
    started = time.perf_counter()
    for p, task in tasks.items():
        part = by_partition[p]
        for i in range(0, len(part), batch):
            out, _ = task.process(part[i : i + batch])
            outputs += len(out.to_topics)
    elapsed = time.perf_counter() - started
    print(
        f"engine alone: {len(records):,} events in {elapsed:.2f} s = {len(records) / elapsed:,.0f} events/s, "
        f"{outputs:,} window results",
        flush=True,
    )
    return len(records) / elapsed


def end_to_end(records: list[Record], url: str | None = None) -> float:
    """Time spent reading, processing and acknowledging every output (group start-up excluded)."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        open_log(url or f"sqlite:///{tmp}/log.db", maintenance_interval_ms=0) as log,
    ):
        source, sink = f"readings-{uuid.uuid4().hex[:6]}", f"means-{uuid.uuid4().hex[:6]}"
        log.create_topic(TopicSpec(source, partitions=PARTITIONS))
        log.create_topic(TopicSpec(sink, partitions=PARTITIONS))
        with log.producer() as producer:
            for r in records:
                producer.produce(source, r.value, r.key, partition=r.partition, timestamp_ms=r.timestamp_ms)
        job = Job("bench", sources=[source], out_of_orderness_ms=5_000).window(Tumbling(60_000)).to(sink)
        runner = JobRunner(job, log, Path(tmp) / "state", checkpoint_interval_ms=1_000, max_batch=20_000)
        elapsed = 0.0  # time of the steps that read input; steps spent joining the group do not count
        while runner.events_in < len(records):
            started = time.perf_counter()
            if runner.step(timeout_s=1):
                elapsed += time.perf_counter() - started
        started = time.perf_counter()
        runner.checkpoint()  # every output acknowledged and the state saved
        elapsed += time.perf_counter() - started
        runner.close()
    where = "SQLite log" if url is None else url
    rate = len(records) / elapsed
    print(
        f"end to end ({where}): {len(records):,} events in {elapsed:.2f} s = {rate:,.0f} events/s", flush=True
    )
    return rate


def _quixstreams(url: str | None, records: list[Record]) -> dict[str, int]:
    if url is None:
        return {}
    from _quixstreams_job import quixstreams_events_per_s

    sample = records[:100_000]  # ~5 s at quixstreams' rate
    rate = quixstreams_events_per_s(url, sample)
    print(f"quixstreams on {url}: {len(sample):,} events = {rate:,.0f} events/s", flush=True)
    ours = end_to_end(sample, url)
    return {
        "quixstreams_events": len(sample),
        "quixstreams_events_per_s": round(rate),
        "end_to_end_kafka_events_per_s": round(ours),
        "end_to_end_kafka_to_quixstreams_ratio": round(ours / rate, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller run, well under 30 s")
    parser.add_argument("--events", type=int)
    parser.add_argument(
        "--quixstreams", metavar="KAFKA_URL", help="also run the job in quixstreams on this broker"
    )
    args = parser.parse_args()
    count = args.events or (300_000 if args.quick else 2_000_000)
    load_before = os.getloadavg()
    records = _records(count)
    result = {
        "benchmark": "engine_throughput",
        "job": "keyed 1-minute tumbling mean (Stats), 1,000 keys, 4 partitions",
        "events": count,
        "engine_events_per_s": round(engine_alone(records)),
        "end_to_end_events_per_s": round(end_to_end(records)),
        **_quixstreams(args.quixstreams, records),
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "python": platform.python_version(),
            "libraries": library_versions(),
        },
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    if "quixstreams_events_per_s" in result:
        result["engine_to_quixstreams_ratio"] = round(
            result["engine_events_per_s"] / result["quixstreams_events_per_s"], 1
        )
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Log throughput and latency: produce rate, consume rate, produce→consume latency for 100-byte records.

    python benchmarks/log_throughput.py [--quick] [--log URL] [--records N]

Prints progress, then one final JSON line with produce_msgs_per_s, consume_msgs_per_s,
latency_p50_ms and latency_p99_ms, and writes the same to benchmarks/results/log_throughput_<log>.json.
Durability is the configured default (fsync on every group commit) unless --no-fsync is given.
"""

import argparse
import json
import os
import platform
import sqlite3
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

from _versions import library_versions  # benchmarks/ is the script's directory

from iotstream.log import BaseLog, TopicPartition, TopicSpec, open_log

RESULTS = Path(__file__).with_name("results")


def main() -> None:
    args = _arguments()
    records = args.records or (200_000 if args.quick else 1_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.log or f"sqlite:///{tmp}/bench.db"
        extra = {} if url.startswith("kafka") else {"fsync": not args.no_fsync, "maintenance_interval_ms": 0}
        load_before = os.getloadavg()
        with open_log(url, **extra) as log:
            topic = f"bench-{uuid.uuid4().hex[:8]}"
            log.create_topic(TopicSpec(topic, partitions=args.partitions))
            produce_rate = _produce(log, topic, records, args.size)
            consume_rate = _consume(log, topic, records, args.partitions)
            p50, p99 = _latency(log, f"{topic}-lat", args.size, 3.0 if args.quick else 10.0, args.rate)
    result = {
        "benchmark": "log_throughput",
        "log": url.split("://")[0],
        "fsync": None if url.startswith("kafka") else not args.no_fsync,
        "records": records,
        "record_bytes": args.size,
        "partitions": args.partitions,
        "produce_msgs_per_s": round(produce_rate),
        "consume_msgs_per_s": round(consume_rate),
        "latency_p50_ms": round(p50, 3),
        "latency_p99_ms": round(p99, 3),
        "latency_rate_msgs_per_s": args.rate,
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "python": platform.python_version(),
            "libraries": library_versions(),
            "sqlite": sqlite3.sqlite_version,
        },
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"log_throughput_{result['log']}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--log", help="log URL (default: a fresh SQLite file in a temp dir)")
    parser.add_argument("--quick", action="store_true", help="smaller run, well under 30 s")
    parser.add_argument("--records", type=int, help="records for the throughput phases")
    parser.add_argument("--size", type=int, default=100, help="value size in bytes")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--rate", type=int, default=10_000, help="records/s during the latency phase")
    parser.add_argument("--no-fsync", action="store_true", help="acknowledge before fsync (SQLite only)")
    return parser.parse_args()


def _produce(log: BaseLog, topic: str, records: int, size: int) -> float:
    value = b"x" * size
    keys = [f"sensor-{i}".encode() for i in range(1_000)]
    with log.producer() as producer:
        started = time.perf_counter()
        for i in range(records):
            producer.produce(topic, value, key=keys[i % 1_000])
        if producer.flush(300):
            raise SystemExit("records left unacknowledged after 300 s")
        elapsed = time.perf_counter() - started
    print(f"produce: {records} records in {elapsed:.2f} s = {records / elapsed:,.0f} msgs/s", flush=True)
    return records / elapsed


def _consume(log: BaseLog, topic: str, records: int, partitions: int) -> float:
    consumer = log.consumer(f"bench-{uuid.uuid4().hex[:6]}")
    consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
    consumer.seek_to_beginning()
    read = 0
    started = time.perf_counter()
    while read < records:
        batch = consumer.poll(max_records=10_000, timeout_s=5)
        if not batch:
            raise SystemExit(f"consumer stalled after {read} records")
        read += len(batch)
    elapsed = time.perf_counter() - started
    consumer.close()
    print(f"consume: {read} records in {elapsed:.2f} s = {read / elapsed:,.0f} msgs/s", flush=True)
    return read / elapsed


def _latency(log: BaseLog, topic: str, size: int, duration_s: float, rate: int) -> tuple[float, float]:
    """Produce at a steady rate while a consumer thread measures produce→consume time per record."""
    log.create_topic(TopicSpec(topic))
    consumer = log.consumer()
    consumer.assign([TopicPartition(topic, 0)])
    consumer.seek_to_end()
    latencies_ms: list[float] = []
    total = int(duration_s * rate)
    warm = threading.Event()

    def read() -> None:
        while len(latencies_ms) < total:
            for record in consumer.poll(max_records=1_000, timeout_s=1):
                if record.value == b"warm-up":
                    warm.set()
                    continue
                sent_ns = int.from_bytes((record.value or b"")[:8], "big")
                latencies_ms.append((time.perf_counter_ns() - sent_ns) / 1e6)

    reader = threading.Thread(target=read)
    reader.start()
    padding = b"x" * (size - 8)
    with log.producer() as producer:
        # Measure the steady state: the consumer's first fetch and the producer's first
        # connection are set-up costs, not per-record latency.
        producer.produce(topic, b"warm-up")
        if not warm.wait(60):
            raise SystemExit("the latency consumer never received the warm-up record")
        started = time.perf_counter()
        for i in range(total):
            while time.perf_counter() < started + i / rate:
                time.sleep(0.0002)
            producer.produce(topic, time.perf_counter_ns().to_bytes(8, "big") + padding)
    reader.join(timeout=60)
    consumer.close()
    quantiles = statistics.quantiles(latencies_ms, n=100)
    print(f"latency at {rate} msgs/s: p50 {quantiles[49]:.2f} ms, p99 {quantiles[98]:.2f} ms", flush=True)
    return quantiles[49], quantiles[98]


if __name__ == "__main__":
    main()

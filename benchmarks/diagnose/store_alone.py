"""The DuckDB store alone under the soak's load, one part at a time: to find which of its uses grows
the process's native memory without the rest of the platform around it.

    python benchmarks/diagnose/store_alone.py PARTS [--rate R] [--minutes M] [--store-memory-mb S]

PARTS is a comma-separated choice of
- `writes`: batches of 500 readings of 100 datastreams at R readings/s (default 5,000), event time
  20 ms apart per datastream as in the soak (it runs ahead of the clock when R is higher);
- `alerts`: the soak's threshold rule's episodes, 45 opened and closed per second of event time;
- `queries`: what an open dashboard asks every second (overview, latest values, a day's chart);
- `reads`: the same queries' SQL without first catching the rollups up;
- `refresh`: a rollup catch-up three times a second from a thread of its own, as API requests do.

Every 30 s it prints a JSON line: RSS, DuckDB's buffer memory, RSS without it, and RSS by kind of
mapping (glibc's main heap, its thread arenas, other anonymous memory).
"""

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
from soak import memory_by_kind, rss_mb

from iotstream.models import Alert, Observation
from iotstream.storage.duckdb import DuckDBStorage

DATASTREAMS, BATCH, SPACING_MS, DAY_MS = 100, 500, 20, 86_400_000
_SPARKS = (
    "SELECT r.datastream, r.bucket, r.sum / r.count FROM rollup_1h r JOIN latest l"
    " ON l.datastream = r.datastream WHERE r.bucket > l.phenomenon_time - ? AND r.count > 0"
)
_CHART = "SELECT bucket, count, sum FROM rollup_1m WHERE datastream = ? AND bucket >= ? AND bucket < ?"


class Load:
    def __init__(self, store: DuckDBStorage, rate: int) -> None:
        self.store, self.rate = store, rate
        self.first_ms = int(time.time() * 1000)
        self.written = self.calls = 0
        self.stop = threading.Event()

    def now_ms(self) -> int:
        """Event time: how far the writes have got."""
        return self.first_ms + self.written // DATASTREAMS * SPACING_MS

    def writes(self) -> None:
        started = time.perf_counter()
        while not self.stop.is_set():
            if (wait := started + self.written / self.rate - time.perf_counter()) > 0:
                self.stop.wait(wait)
            self.store.write_observations(
                [self.reading(k) for k in range(self.written, self.written + BATCH)]
            )
            self.written += BATCH

    def reading(self, k: int) -> Observation:
        """The soak's k-th reading: datastreams in turn, each one's 20 ms after its last."""
        at = self.first_ms + k // DATASTREAMS * SPACING_MS
        return Observation(f"soak-{k % DATASTREAMS}", at, float(k % 1000), at, f"soak-{k}")

    def alerts(self) -> None:
        while not self.stop.wait(0.2 * 5_000 / self.rate):
            now = self.now_ms()
            for state, closed in (("open", None), ("closed", now)):
                episodes = [
                    Alert("high", f"soak-{n}", now - 200, now - 100, 995.0, 995.0, 990.0, state, closed, now)
                    for n in range(91, 100)
                ]
                self.store.write_alerts(episodes)

    def queries(self) -> None:
        while not self.stop.wait(1.0):
            now = self.now_ms()
            self.store.recent_averages("1h", DAY_MS)
            self.store.latest()
            self.store.series(f"soak-{self.calls % DATASTREAMS}", now - DAY_MS, now)
            self.calls += 1

    def reads(self) -> None:
        while not self.stop.wait(1.0):
            now = self.now_ms()
            self.store._query(_SPARKS, [DAY_MS])
            self.store._query("SELECT * FROM latest", [])
            self.store._query(_CHART, [f"soak-{self.calls % DATASTREAMS}", now - DAY_MS, now])
            self.calls += 1

    def refresh(self) -> None:
        while not self.stop.wait(0.33):
            self.store.catch_up()


def sample(store: DuckDBStorage, load: Load, started: float) -> dict[str, object]:
    pid = os.getpid()
    rss, store_mb = rss_mb(pid), round((store.memory_bytes() or 0) / 2**20, 1)
    return {
        "minute": round((time.perf_counter() - started) / 60, 1),
        "rss_mb": rss,
        "store_memory_mb": store_mb,
        "without_store_memory_mb": round(rss - store_mb, 1),
        **memory_by_kind(pid),
        "written": load.written,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("parts", help="comma-separated: writes, alerts, queries, reads, refresh")
    parser.add_argument("--rate", type=int, default=5_000)
    parser.add_argument("--minutes", type=float, default=7.0)
    parser.add_argument("--store-memory-mb", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        store = DuckDBStorage(Path(scratch, "store.duckdb"), memory_bytes=args.store_memory_mb * 2**20)
        load = Load(store, args.rate)
        parts: list[Callable[[], None]] = [getattr(load, part) for part in args.parts.split(",")]
        workers = [threading.Thread(target=part) for part in parts]
        for worker in workers:
            worker.start()
        started = time.perf_counter()
        try:
            while time.perf_counter() - started < args.minutes * 60:
                time.sleep(30)
                print(json.dumps(sample(store, load, started)), flush=True)
        finally:
            load.stop.set()
            for worker in workers:
                worker.join()
            store.close()


if __name__ == "__main__":
    main()

"""Soak: the platform under steady load for a long time, watched for growth.

    python benchmarks/soak.py [--quick] [--minutes M] [--rate R] [--live N] [--store-memory-mb S]

`iotstream up` (SQLite log with fsync, DuckDB store, a daily meter job and a threshold rule) takes R
readings/s (default 5,000: batches of 500 over HTTP, 100 datastreams, event time keeping pace with the
clock) for M minutes (default 60; 10 with `--quick`), while the dashboard's queries run (the overview
and a chart series every second) and N live WebSocket clients (default 5) follow every reading.
`--store-memory-mb` sets `[storage] duckdb_memory_bytes`: 256 by default, not the platform's 1 GiB,
so that DuckDB's cache of the growing store is full after about 40 minutes and the hour shows what
follows. Every 10 s it samples the platform process's RSS (also by kind of mapping) and open files,
the log and store file sizes, the consumer lag and the p99 of acceptance → stored over the interval
(from the sink's histogram).

The verdict looks at what follows the warm-up: the first fifth, or until DuckDB's memory first
reaches 95 % of `[storage] duckdb_memory_bytes` if that comes later (its cache of the growing store is
meant to fill to that bound; growth while it fills says nothing about what the platform keeps, so
the verdict gives the growth after the first fifth as well). It gives memory growth (the lowest RSS
of the last third over the lowest of the first third: DuckDB's memory rises to each checkpoint and
falls back, so retained memory shows in the lows; target < 5 %), the same without the store's
memory (DuckDB's buffers, as reported in the stats), DuckDB's eviction-queue entries (native memory
outside those buffers that grows to a bound, see the stats), the readings the jobs remember to drop
their copies (until their windows close: a day for the meter job; 8 bytes each, a byte or less once
packed), and the largest lag (bounded: it does not grow with time).

Prints a line per sample and one final JSON line; writes benchmarks/results/soak.json.
"""

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import websockets

sys.path.insert(0, str(Path(__file__).parent))
from _versions import library_versions
from end_to_end import _start_platform

from iotstream._latency import quantile_ms

RESULTS = Path(__file__).with_name("results") / "soak.json"
DATASTREAMS = 100
BATCH = 500
CONFIG = """
[storage.retention]
raw = "36500d"
"1m" = "36500d"
"1h" = "36500d"

[[jobs]]
type = "daily_meters"
name = "daily"
aggregate = {{ {aggregates} }}

[[jobs]]
type = "threshold"
name = "high"
datastreams = ["soak-*"]
above = 990.0
hysteresis = 5.0
"""
# the meter job takes datastream names, not patterns: every one of them
CONFIG = CONFIG.format(aggregates=", ".join(f'"soak-{n}" = "avg"' for n in range(DATASTREAMS)))


class Load:
    """Readings at a steady rate from one thread: each batch is sent when its time comes."""

    def __init__(self, url: str, rate: int) -> None:
        self.url, self.rate = url, rate
        self.sent = self.refused = 0
        self.stop = threading.Event()

    def run(self) -> None:
        """Each datastream's readings are spaced as the rate spaces them, from the wall-clock time the
        load starts: event time keeps pace with the clock, as with devices that report as they measure,
        so windows and rollup minutes close as they would, and the dashboard's queries (up to now)
        find them."""
        started, batches = time.perf_counter(), 0
        first_ms, spacing_ms = time.time() * 1000, DATASTREAMS * 1000 / self.rate
        with httpx.Client(base_url=self.url, timeout=60) as api:
            while not self.stop.is_set():
                due = started + batches * BATCH / self.rate
                if (wait := due - time.perf_counter()) > 0:
                    self.stop.wait(wait)
                first = batches * BATCH
                body = [
                    {
                        "datastream": f"soak-{n % DATASTREAMS}",
                        "time": int(first_ms + n // DATASTREAMS * spacing_ms),
                        "value": n % 1000,
                    }
                    for n in range(first, first + BATCH)
                ]
                answer = api.post("/api/v1/readings", content=msgspec.json.encode(body))
                self.sent += BATCH if answer.status_code == 202 else 0
                self.refused += BATCH if answer.status_code != 202 else 0
                batches += 1


def dashboard(url: str, stop: threading.Event) -> None:
    """What an open dashboard asks every second."""
    with httpx.Client(base_url=url, timeout=60) as api:
        n = 0
        while not stop.wait(1.0):
            api.get("/api/v1/overview")
            api.get("/api/v1/series", params={"datastream": f"soak-{n % DATASTREAMS}", "span": "1d"})
            n += 1


async def _follow(url: str, counts: list[int], index: int, stop: threading.Event) -> None:
    async with websockets.connect(f"{url}/api/v1/live?datastream=soak-*", max_size=None) as socket:
        while not stop.is_set():
            try:
                message = await asyncio.wait_for(socket.recv(), 1.0)
            except TimeoutError:
                continue
            counts[index] += len(json.loads(message))


def live_clients(url: str, clients: int, counts: list[int], stop: threading.Event) -> None:
    ws = url.replace("http://", "ws://")

    async def all_of_them() -> None:
        await asyncio.gather(*(_follow(ws, counts, i, stop) for i in range(clients)))

    asyncio.run(all_of_them())


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return round(kb / 1024, 1)


ARENA_ALIGN = 64 * 2**20  # glibc's thread arenas are heaps of 64 MiB, each mapped at a multiple of it


def mappings_rss_kb(pid: int | str) -> Iterator[tuple[int, str, int]]:
    """(start address, name, RSS in kB) of each mapping in `/proc/PID/smaps`."""
    start, name = 0, ""
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if "-" in fields[0] and not fields[0].endswith(":"):
            start, name = int(fields[0].split("-")[0], 16), fields[5] if len(fields) > 5 else ""
        elif fields[0] == "Rss:":
            yield start, name, int(fields[1])


def memory_by_kind(pid: int) -> dict[str, float]:
    """RSS by kind of mapping, to tell whose memory grows: glibc's main heap (`[heap]`), its thread
    arenas (anonymous, at a multiple of 64 MiB), other anonymous memory (Python's arenas, DuckDB's
    jemalloc, pyarrow's pool, thread stacks) and files (libraries)."""
    kinds = dict.fromkeys(("heap_mb", "thread_arenas_mb", "anon_other_mb", "file_mb"), 0.0)
    for start, name, kb in mappings_rss_kb(pid):
        if name == "[heap]":
            kind = "heap_mb"
        elif name.startswith("/"):
            kind = "file_mb"
        else:
            kind = "thread_arenas_mb" if not name and start % ARENA_ALIGN == 0 else "anon_other_mb"
        kinds[kind] += kb / 1024
    return {name: round(mb, 1) for name, mb in kinds.items()}


def sample(url: str, pid: int, data_dir: Path, previous: list[int] | None) -> dict[str, Any]:
    stats = httpx.get(f"{url}/api/v1/stats", timeout=30).json()
    histogram = stats["sink"]["latency_ms"]["counts"]
    interval = [now - before for now, before in zip(histogram, previous or [0] * len(histogram), strict=True)]
    files = {p.name: p.stat().st_size for p in data_dir.glob("*") if p.is_file()}
    return {
        "rss_mb": rss_mb(pid),
        **memory_by_kind(pid),
        "store_memory_mb": round((stats["sink"].get("store_memory_bytes") or 0) / 2**20, 1),
        "store_queue_entries": stats["sink"].get("store_eviction_queue_entries") or 0,
        "counted_kept": sum(job.get("counted_readings_kept", 0) for job in stats.get("jobs", {}).values()),
        "counted_mb": round(
            sum(job.get("counted_readings_bytes", 0) for job in stats.get("jobs", {}).values()) / 2**20, 2
        ),
        "open_files": len(os.listdir(f"/proc/{pid}/fd")),
        "log_mb": round(sum(size for name, size in files.items() if name.startswith("log.db")) / 2**20, 1),
        "store_mb": round(sum(size for name, size in files.items() if name.startswith("store")) / 2**20, 1),
        "lag": sum(entry["lag"] for entry in stats["lag"]),
        "stored_p99_ms": quantile_ms(interval, 0.99) or 0.0,
        "stored": stats["sink"]["stored"],
        "_histogram": histogram,
    }


def store_full_at(samples: list[dict[str, Any]], store_bound_mb: float) -> int | None:
    """The first sample at which DuckDB's cache is full: it evicts just before its limit, so 95 %."""
    return next((i for i, s in enumerate(samples) if s["store_memory_mb"] >= 0.95 * store_bound_mb), None)


def lows(values: list[float]) -> tuple[float, float]:
    """The lowest value of the first third and of the last: DuckDB's memory rises until each
    checkpoint and falls back, so what is kept shows in the lows."""
    third = max(len(values) // 3, 1)
    return min(values[:third]), min(values[-third:])


def growth_pct(values: list[float]) -> float:
    first, last = lows(values)
    return round((last - first) / first * 100, 1)


def verdict(samples: list[dict[str, Any]], store_bound_mb: float) -> dict[str, Any]:
    """Memory after the warm-up: a fifth of the run, or longer if DuckDB's cache fills later."""
    fifth = max(len(samples) // 5, 3)
    full = store_full_at(samples, store_bound_mb)
    after = samples[max(fifth, full or 0) :]
    rss = [s["rss_mb"] for s in after]
    own = [round(s["rss_mb"] - s["store_memory_mb"], 1) for s in after]
    (rss_first, rss_last), (own_first, own_last) = lows(rss), lows(own)
    return {
        "warmup_minutes": after[0]["minute"],
        "samples_after_warmup": len(after),
        "store_full_minute": None if full is None else samples[full]["minute"],
        "memory_growth_after_first_fifth_pct": growth_pct([s["rss_mb"] for s in samples[fifth:]]),
        "rss_low_first_third_mb": rss_first,
        "rss_low_last_third_mb": rss_last,
        "memory_growth_pct": growth_pct(rss),
        "without_store_memory_low_first_third_mb": own_first,
        "without_store_memory_low_last_third_mb": own_last,
        "memory_growth_without_store_pct": growth_pct(own),
        "store_memory_mb_max": max(s["store_memory_mb"] for s in after),
        "store_queue_entries_first_last": [after[0]["store_queue_entries"], after[-1]["store_queue_entries"]],
        "by_kind_low_first_last_third_mb": {
            kind: list(lows([s[kind] for s in after]))
            for kind in ("heap_mb", "thread_arenas_mb", "anon_other_mb", "file_mb")
        },
        "counted_kept_first_last": [after[0]["counted_kept"], after[-1]["counted_kept"]],
        "counted_mb_first_last": [after[0]["counted_mb"], after[-1]["counted_mb"]],
        "rss_max_mb": max(s["rss_mb"] for s in after),
        "max_lag_after_warmup": max(s["lag"] for s in after),
        "lag_at_end": samples[-1]["lag"],
        "open_files": [min(s["open_files"] for s in after), max(s["open_files"] for s in after)],
        "stored_p99_ms_max": max(s["stored_p99_ms"] for s in after),
    }


def soak(minutes: float, rate: int, clients: int, every_s: float, store_mb: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        config = Path(scratch, "iotstream.toml")
        config.write_text(f"[storage]\nduckdb_memory_bytes = {store_mb * 2**20}\n" + CONFIG)
        data_dir = Path(scratch, "data")
        process, url = _start_platform(config, data_dir)
        stop = threading.Event()
        load, live_counts = Load(url, rate), [0] * clients
        workers = [
            threading.Thread(target=load.run),
            threading.Thread(target=dashboard, args=(url, stop)),
            threading.Thread(target=live_clients, args=(url, clients, live_counts, stop)),
        ]
        for worker in workers:
            worker.start()
        samples: list[dict[str, Any]] = []
        started = time.perf_counter()
        try:
            while (elapsed := time.perf_counter() - started) < minutes * 60:
                time.sleep(every_s - (elapsed % every_s))
                previous = samples[-1]["_histogram"] if samples else None
                samples.append({"minute": round((time.perf_counter() - started) / 60, 2)})
                samples[-1] |= sample(url, process.pid, data_dir, previous)
                shown = {k: v for k, v in samples[-1].items() if not k.startswith("_")}
                print(json.dumps(shown | {"sent": load.sent, "live": sum(live_counts)}), flush=True)
        finally:
            load.stop.set()
            stop.set()
            for worker in workers:
                worker.join(timeout=120)
            process.terminate()
            process.wait(timeout=120)
    for entry in samples:
        del entry["_histogram"]
    seconds = minutes * 60
    return {
        "sent_per_s": round(load.sent / seconds),
        "refused": load.refused,
        "live_readings_per_client_per_s": round(min(live_counts, default=0) / seconds),
        "verdict": verdict(samples, store_bound_mb=store_mb),
        "samples": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="10 minutes")
    parser.add_argument("--minutes", type=float)
    parser.add_argument("--rate", type=int, default=5_000, help="readings per second")
    parser.add_argument("--live", type=int, default=5, help="live WebSocket clients")
    parser.add_argument(
        "--store-memory-mb",
        type=int,
        default=256,
        help="DuckDB's memory limit (default 256; the platform's: 1024)",
    )
    args = parser.parse_args()
    minutes = args.minutes or (10.0 if args.quick else 60.0)
    load_before = os.getloadavg()
    result: dict[str, Any] = {"benchmark": "soak", "minutes": minutes, "rate": args.rate, "live": args.live}
    result["store_memory_mb"] = args.store_memory_mb
    result |= soak(minutes, args.rate, args.live, every_s=10.0, store_mb=args.store_memory_mb)
    result["machine"] = {
        "cpus": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "libraries": library_versions(),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}))


if __name__ == "__main__":
    main()

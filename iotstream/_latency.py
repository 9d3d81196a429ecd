"""A latency histogram cheap enough to feed every stored reading: 1 ms buckets up to 1 s, then coarse.

Counts only ever grow, so a reader takes two snapshots and subtracts them to get one period's
distribution (what the end-to-end benchmark does, and what Prometheus does with histograms).
"""

import bisect
import threading
from collections import Counter
from collections.abc import Iterable

__all__ = ["EDGES_MS", "LatencyHistogram", "quantile_ms"]

EDGES_MS = [*range(1001), 2_000, 5_000, 10_000, 30_000, 60_000, 2**62]


class LatencyHistogram:
    """`counts[i]` = latencies in (EDGES_MS[i - 1], EDGES_MS[i]] milliseconds."""

    def __init__(self) -> None:
        self._counts = [0] * len(EDGES_MS)
        self._lock = threading.Lock()

    def add(self, now_ms: int, since_ms: Iterable[int]) -> None:
        """One sample per start time: `now_ms - start`."""
        tally = Counter(max(now_ms - start, 0) for start in since_ms)
        with self._lock:
            for latency, count in tally.items():
                self._counts[_bucket(latency)] += count

    def add_same(self, now_ms: int, since_ms: int, count: int) -> None:
        """`count` samples that all started at `since_ms` (a batch acknowledged at once)."""
        with self._lock:
            self._counts[_bucket(max(now_ms - since_ms, 0))] += count

    def snapshot(self) -> dict[str, list[int]]:
        with self._lock:
            return {"le_ms": list(EDGES_MS), "counts": list(self._counts)}


def _bucket(latency_ms: int) -> int:
    return latency_ms if latency_ms <= 1000 else bisect.bisect_left(EDGES_MS, latency_ms)


def quantile_ms(counts: list[int], q: float) -> float | None:
    """The upper edge of the bucket holding quantile `q` (None without samples).

    >>> quantile_ms([0, 5, 5] + [0] * (len(EDGES_MS) - 3), 0.5)
    1.0
    """
    total = sum(counts)
    if not total:
        return None
    running = 0
    for edge, count in zip(EDGES_MS, counts, strict=True):
        running += count
        if running >= q * total:
            return float(edge)
    return float(EDGES_MS[-1])

"""The `sink` role: readings, window results, late readings and alerts from the log into storage, and
the retention task that deletes what the tiers no longer keep."""

from typing import Any

from iotstream._urls import without_password
from iotstream.processing.jobs import AGGREGATES
from iotstream.roles.base import ThreadedRole
from iotstream.roles.parts import Parts
from iotstream.storage import BaseStorage, RetentionSettings, RetentionWorker
from iotstream.storage.retention import TIERS
from iotstream.storage.sink import SinkTopics, StorageSink

__all__ = ["SinkRole"]

# After a small batch the sink waits this long before the next poll. 32 devices sending one reading per
# request each: 10 ms made writes of ~50 readings and 4,900-5,600 requests/s; 50 ms, 6,000-6,400 with
# 15% less CPU. A busy stream's batches go at once, so this is latency only for quiet ones.
_LINGER_MS = 50


class SinkRole(ThreadedRole):
    name = "sink"
    description = "storage writer and retention"

    def __init__(self) -> None:
        super().__init__()
        self.sink: StorageSink | None = None
        self._retention: RetentionWorker | None = None
        self._storage: BaseStorage | None = None
        self._summary: list[str] = []

    def start(self, parts: Parts) -> None:
        self._storage = storage = parts.storage
        self.sink = StorageSink(
            parts.log, storage, SinkTopics(aggregates=(AGGREGATES,)), linger_ms=_LINGER_MS
        )
        self.spawn("iotstream-sink", self.sink.run)
        retention = parts.settings.storage.retention
        if retention.interval_ms:
            self._retention = RetentionWorker(storage.apply_retention, retention.interval_ms).start()
        self._summary = [
            f"storage: {without_password(parts.settings.storage.url)}",
            f"  {_tiers(retention)}",
            "storage sink: readings, aggregates, late readings and alerts → storage",
        ]

    def stop(self) -> None:
        super().stop()  # the sink writes what it holds and commits
        if self._retention is not None:
            self._retention.stop()
            self._retention = None

    def unready(self) -> list[str]:
        return ["no partitions assigned yet"] if self.sink is not None and not self.sink.assigned else []

    def stats(self) -> dict[str, Any]:
        if self.sink is None:
            return {}
        sink = self.sink
        counts = {"stored": sink.stored, "rejected": sink.rejected}
        histograms = {"latency_ms": sink.latency.snapshot(), "write_ms": sink.write_time.snapshot()}
        return {"sink": counts | histograms | self._storage_memory()}

    def _storage_memory(self) -> dict[str, int | None]:
        storage = self._storage
        if storage is None:
            return {"store_memory_bytes": None, "store_eviction_queue_entries": None}
        return {
            "store_memory_bytes": storage.memory_bytes(),
            "store_eviction_queue_entries": storage.eviction_queue_entries(),
        }

    def consumer_groups(self) -> list[str]:
        return ["iotstream.storage"]

    def banner(self) -> list[str]:
        return self._summary


def _tiers(retention: RetentionSettings) -> str:
    def keep(ms: int | None) -> str:
        return "forever" if ms is None else f"{ms / 86_400_000:g}d"

    tiers = ", ".join(f"{tier} {keep(retention.of(tier))}" for tier in TIERS)
    if all(retention.of(tier) is None for tier in TIERS) and not retention.datastreams:
        tiers = "every tier forever"
    every = f"every {retention.interval_ms / 1000:g} s" if retention.interval_ms else "off"
    return f"keeps {tiers}; retention {every}"

"""Everything in one process (`iotstream up`): the durable log, the store with its storage sink and
retention task; later issues add the other roles.

This is the one place that wires roles together in embedded mode, so each role stays unaware of the
others and the distributed mode can start the same roles one per process.
"""

import threading
from types import TracebackType
from typing import Self

from iotstream.config import Settings
from iotstream.log import BaseLog, open_log
from iotstream.log.topics import platform_topics
from iotstream.storage import BaseStorage, RetentionSettings, RetentionWorker, open_storage
from iotstream.storage.retention import TIERS
from iotstream.storage.sink import StorageSink

__all__ = ["EmbeddedPlatform"]


class EmbeddedPlatform:
    """Starts the roles configured in `settings` and stops them in reverse order."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.log: BaseLog | None = None
        self.storage: BaseStorage | None = None
        self._stopped = threading.Event()
        self._roles_stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._retention: RetentionWorker | None = None

    def start(self) -> Self:
        self.log = open_log(self.settings.log)
        for spec in platform_topics(self.settings.log.default_partitions):
            self.log.create_topic(spec, exist_ok=True)
        self.storage = open_storage(self.settings.storage)
        sink = StorageSink(self.log, self.storage)
        self._threads.append(
            threading.Thread(target=sink.run, args=(self._roles_stop,), name="iotstream-sink")
        )
        retention = self.settings.storage.retention
        if retention.interval_ms:
            self._retention = RetentionWorker(self.storage.apply_retention, retention.interval_ms).start()
        for thread in self._threads:
            thread.start()
        return self

    def running(self) -> list[str]:
        """One line per running role, for the start-up banner."""
        if self.log is None:
            return []
        log = self.settings.log
        maintenance = (
            f"retention/compaction every {log.maintenance_interval_ms / 1000:g} s"
            if log.maintenance_interval_ms
            else "retention off"
        )
        return [
            f"log: {log.url} (fsync {'on' if log.fsync else 'off'}, {maintenance})",
            f"topics: {', '.join(self.log.list_topics())}",
            f"storage: {self.settings.storage.url}",
            f"  {_tiers(self.settings.storage.retention)}",
            "storage sink: observations, late readings and alerts → storage",
        ]

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until `request_stop` (e.g. from a signal handler); True once asked to stop."""
        return self._stopped.wait(timeout_s)

    def request_stop(self) -> None:
        """Safe from a signal handler: only sets a flag; `stop` does the work afterwards."""
        self._stopped.set()

    def stop(self) -> None:
        self._stopped.set()
        self._roles_stop.set()
        for thread in self._threads:
            thread.join()
        self._threads.clear()
        if self._retention is not None:
            self._retention.stop()
            self._retention = None
        if self.storage is not None:
            self.storage.close()
            self.storage = None
        if self.log is not None:
            self.log.close()
            self.log = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _tiers(retention: RetentionSettings) -> str:
    def keep(ms: int | None) -> str:
        return "forever" if ms is None else f"{ms / 86_400_000:g}d"

    tiers = ", ".join(f"{tier} {keep(retention.of(tier))}" for tier in TIERS)
    every = f"every {retention.interval_ms / 1000:g} s" if retention.interval_ms else "off"
    return f"keeps {tiers}; retention {every}"

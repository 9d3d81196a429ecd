"""Everything in one process (`iotstream up`): today the durable log; later issues add the other roles.

This is the one place that wires roles together in embedded mode, so each role stays unaware of the
others and the distributed mode can start the same roles one per process.
"""

import threading
from types import TracebackType
from typing import Self

from iotstream.config import Settings
from iotstream.log import BaseLog, open_log
from iotstream.log.topics import platform_topics

__all__ = ["EmbeddedPlatform"]


class EmbeddedPlatform:
    """Starts the roles configured in `settings` and stops them in reverse order."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.log: BaseLog | None = None
        self._stopped = threading.Event()

    def start(self) -> Self:
        self.log = open_log(self.settings.log)
        for spec in platform_topics(self.settings.log.default_partitions):
            self.log.create_topic(spec, exist_ok=True)
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
        ]

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until `request_stop` (e.g. from a signal handler); True once asked to stop."""
        return self._stopped.wait(timeout_s)

    def request_stop(self) -> None:
        """Safe from a signal handler: only sets a flag; `stop` does the work afterwards."""
        self._stopped.set()

    def stop(self) -> None:
        self._stopped.set()
        if self.log is not None:
            self.log.close()
            self.log = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

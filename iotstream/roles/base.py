"""One shape for every role, so `up` and `run` compose them without knowing what each does.

A role starts on the process's shared `Parts` (opening only what it uses), stops gracefully, and says
what is wrong with it (`problems`), why it is not ready (`unready`), what it counted (`stats`) and
what it runs (`banner`). Roles run
their loops on threads they own; a loop that dies is a problem the health check reports rather than a
silent stop.
"""

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from iotstream.config import Settings
from iotstream.roles.parts import Parts

__all__ = ["Role", "ThreadedRole"]


class Role(ABC):
    name: ClassVar[str]
    description: ClassVar[str]

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        """Whether `up` runs this role with these settings (the relay only where a central site is set)."""
        return True

    @abstractmethod
    def start(self, parts: Parts) -> None:
        """Start serving; raise when the role cannot (the platform then stops what already started)."""

    @abstractmethod
    def stop(self) -> None:
        """Finish what was accepted and release what `start` took; safe to call after a failed start."""

    def problems(self) -> list[str]:
        """Why the role is not working, one line each; empty when it is."""
        return []

    def unready(self) -> list[str]:
        """Why the running role has nothing to serve yet (readiness), e.g. no partitions assigned."""
        return []

    def stats(self) -> dict[str, Any]:
        """Counters merged into `GET /api/v1/stats`."""
        return {}

    def consumer_groups(self) -> list[str]:
        """The log consumer groups whose lag the stats report."""
        return []

    def banner(self) -> list[str]:
        """Lines for the start-up banner: what runs and where it connects."""
        return []


class ThreadedRole(Role):
    """A role whose loops run on threads until `stop` sets their shared event."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def spawn(self, name: str, run: Callable[[threading.Event], None]) -> None:
        thread = threading.Thread(target=run, args=(self._stop,), name=name)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._threads.clear()

    def problems(self) -> list[str]:
        if self._stop.is_set():
            return []
        return [f"{thread.name} stopped" for thread in self._threads if not thread.is_alive()]

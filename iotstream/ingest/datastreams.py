"""Which datastreams exist, until the SensorThings registry takes over: the configured ones, the ones
already in storage, and those registered automatically as readings arrive."""

import threading
from collections.abc import Iterable

__all__ = ["KnownDatastreams"]


class KnownDatastreams:
    """A thread-safe set of names; ingestion asks `known` for every payload, so it must be cheap."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._names = frozenset(names)
        self._lock = threading.Lock()

    def known(self, name: str) -> bool:
        return name in self._names  # a frozenset swapped whole: readers need no lock

    def register(self, names: Iterable[str]) -> None:
        with self._lock:
            self._names = self._names | frozenset(names)

    def names(self) -> frozenset[str]:
        return self._names

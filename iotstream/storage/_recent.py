"""Which readings a DuckDB store may already hold, among the newest it was given: enough to tell that a
batch is all new without searching the table for readings it would replace.

Raw readings have no index (see `duckdb`), so looking for the stored readings a batch replaces is a
scan; it is needed only where a reading may already be stored. Readings newer than anything stored
cannot be; neither can readings among the recent ones that no write has stored, which is what readings
sent out of order look like (several clients sending one datastream, a device catching up). So the
store remembers the times it wrote most recently, per datastream, and below those knows nothing.
"""

from collections import deque
from collections.abc import Mapping

__all__ = ["RecentTimes"]

_NEVER = -(2**63)


class RecentTimes:
    """Per datastream: a floor, below which any time may be stored, and every time at or above it that
    was ever written since the store opened (or written and rolled back, or deleted since: remembering
    too much only sends a batch through the scan).

    `capacity` bounds the times remembered; the oldest writes are forgotten first, raising their
    datastreams' floors above them.
    """

    def __init__(self, newest: Mapping[str, int], capacity: int = 65_536) -> None:
        """`newest`: each datastream's newest stored time (a datastream absent has none stored)."""
        self._floor = {datastream: time_ms + 1 for datastream, time_ms in newest.items()}
        self._times: dict[str, set[int]] = {}
        self._written: deque[tuple[str, list[int]]] = deque()  # oldest first, to forget in that order
        self._size = 0
        self._capacity = capacity

    def all_new(self, times: Mapping[str, list[int]]) -> bool:
        """Whether none of these (datastream → times) can be stored yet; remembers them either way.

        Call before the write commits (and under the store's write lock): a reading remembered and then
        not stored costs nothing but a scan, one stored and not remembered would be stored twice.
        """
        new = all(self._new(datastream, batch) for datastream, batch in times.items())
        for datastream, batch in times.items():
            self._remember(datastream, batch)
        return new

    def _new(self, datastream: str, times: list[int]) -> bool:
        if min(times) < self._floor.get(datastream, _NEVER):
            return False
        known = self._times.get(datastream)
        return known is None or known.isdisjoint(times)

    def _remember(self, datastream: str, times: list[int]) -> None:
        self._times.setdefault(datastream, set()).update(times)
        self._written.append((datastream, times))
        self._size += len(times)
        while self._size > self._capacity and len(self._written) > 1:
            self._forget_oldest()

    def _forget_oldest(self) -> None:
        """Anything at or below the forgotten times may be stored now, as far as this tracker knows."""
        datastream, times = self._written.popleft()
        self._size -= len(times)
        self._floor[datastream] = max(self._floor.get(datastream, _NEVER), max(times) + 1)
        known = self._times.get(datastream, set())  # gone if an earlier forgetting emptied it
        known.difference_update(times)  # times of later writes below the new floor no longer count
        if not known:
            self._times.pop(datastream, None)

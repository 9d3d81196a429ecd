"""The one interface to the time-series store, whatever the database.

Writes are bulk and idempotent: a reading is stored once per (datastream, phenomenon time), a window
result once per (datastream, window, start), and writing the same batch again changes nothing. A bad row
never fails the batch: `write_*` stores the good rows and returns the bad ones with the reason.
Times are UTC epoch milliseconds.
"""

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import NamedTuple, Self, TypeVar

from iotstream.models import LateObservation, Observation, WindowAggregate

__all__ = ["BaseStorage", "Rejected", "check_observation", "split_valid"]

T = TypeVar("T")

MAX_TIME_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


class Rejected(NamedTuple):
    position: int  # in the batch
    reason: str


def check_observation(observation: Observation) -> str | None:
    """Why this reading cannot be stored, or None."""
    if not observation.datastream:
        return "empty datastream name"
    for field in ("phenomenon_time_ms", "result_time_ms"):
        value = getattr(observation, field)
        if not 0 <= value <= MAX_TIME_MS:
            return f"{field} {value} is outside 1970..9999"
    result = observation.result
    if isinstance(result, float) and not math.isfinite(result):
        return f"result {result} is not a finite number"
    return None


def split_valid(rows: Sequence[T], check: Callable[[T], str | None]) -> tuple[list[T], list[Rejected]]:
    """The rows `check` accepts, and the others with their position and reason."""
    good: list[T] = []
    rejected: list[Rejected] = []
    for position, row in enumerate(rows):
        reason = check(row)
        if reason is None:
            good.append(row)
        else:
            rejected.append(Rejected(position, reason))
    return good, rejected


class BaseStorage(ABC):
    @abstractmethod
    def write_observations(self, rows: Sequence[Observation]) -> list[Rejected]:
        """Upsert readings by (datastream, phenomenon time); return the rows refused and why."""

    @abstractmethod
    def write_aggregates(self, rows: Sequence[WindowAggregate]) -> list[Rejected]:
        """Upsert window results by (datastream, window, start): a correction replaces the result."""

    @abstractmethod
    def write_late(self, rows: Sequence[LateObservation]) -> list[Rejected]:
        """Keep readings that came after their windows were final."""

    @abstractmethod
    def raw(
        self, datastream: str, start_ms: int, end_ms: int, *, limit: int = 10_000, after_ms: int | None = None
    ) -> list[Observation]:
        """Readings in [start, end), oldest first; pass the last time seen as `after_ms` for the next page."""

    @abstractmethod
    def aggregates(self, datastream: str, window: str, start_ms: int, end_ms: int) -> list[WindowAggregate]:
        """Window results whose start lies in [start, end), oldest first."""

    @abstractmethod
    def latest(self, datastreams: Sequence[str] | None = None) -> dict[str, Observation]:
        """The newest reading (by phenomenon time) of each datastream, or of the ones asked for."""

    @abstractmethod
    def late(self, datastream: str, start_ms: int, end_ms: int) -> list[LateObservation]:
        """Late readings measured in [start, end)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

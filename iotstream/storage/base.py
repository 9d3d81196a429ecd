"""The one interface to the time-series store, whatever the database.

Writes are bulk and idempotent: a reading is stored once per (datastream, phenomenon time), a window
result once per (datastream, window, start), an alert once per (rule, datastream, start), and writing
the same batch again changes nothing. A bad row never fails the batch: `write_*` stores the good rows
and returns the bad ones with the reason. Times are UTC epoch milliseconds.
"""

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, NamedTuple, Self, TypeVar

from iotstream.models import Alert, Bucket, LateObservation, Observation, Series, WindowAggregate
from iotstream.storage.retention import TIERS, RetentionPolicy, RetentionSettings
from iotstream.storage.rollups import ROLLUPS, choose_resolution

__all__ = ["BaseStorage", "Rejected", "check_alert", "check_observation", "group_buckets", "split_valid"]

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


def check_alert(alert: Alert) -> str | None:
    """Why an alert cannot be stored, or None."""
    if not alert.datastream or not alert.rule:
        return "an alert needs a rule and a datastream"
    if alert.state not in ("open", "closed"):
        return f"alert state must be 'open' or 'closed', got {alert.state!r}"
    times = (alert.start_ms, alert.last_ms, alert.closed_ms or 0, alert.updated_ms)
    if not all(0 <= t <= MAX_TIME_MS for t in times):
        return f"alert times {times} are outside 1970..9999"
    if not all(v is None or math.isfinite(v) for v in (alert.max, alert.avg, alert.threshold)):
        return "alert max, avg and threshold must be finite numbers"
    return None


def group_buckets(rows: list[tuple[Any, ...]]) -> dict[str, list[Bucket]]:
    """Rows of (datastream, start, count, sum, min, max, first, last), ordered, as one list per datastream."""
    series: dict[str, list[Bucket]] = {}
    for datastream, *bucket in rows:
        series.setdefault(datastream, []).append(Bucket(*bucket))
    return series


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
    def __init__(self, retention: RetentionPolicy | None) -> None:
        self.retention = retention or RetentionPolicy(RetentionSettings())

    def check_reading(self, observation: Observation, *, retention: bool = True) -> str | None:
        """Why a reading cannot be stored: bad values, or (with `retention`) older than the raw tier."""
        reason = check_observation(observation)
        if reason is None and retention:
            reason = self.retention.check(observation.datastream, observation.phenomenon_time_ms)
        return reason

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
    def write_alerts(self, rows: Sequence[Alert]) -> list[Rejected]:
        """Upsert alert episodes by (rule, datastream, start): the newest state replaces the older."""

    @abstractmethod
    def raw(
        self, datastream: str, start_ms: int, end_ms: int, *, limit: int = 10_000, after_ms: int | None = None
    ) -> list[Observation]:
        """Readings in [start, end), oldest first; pass the last time seen as `after_ms` for the next page."""

    @abstractmethod
    def buckets(
        self, resolution: str, start_ms: int, end_ms: int, datastreams: Sequence[str] | None = None
    ) -> dict[str, list[Bucket]]:
        """Rollup buckets ("1m", "1h", "1d") starting in [start, end) per datastream, oldest first."""

    def series(self, datastream: str, start_ms: int, end_ms: int, points: int = 500) -> Series:
        """The range at the coarsest resolution that still gives `points` values (for charts).

        Rollups are preferred because a chart can draw only so many points; raw readings are read only
        when no rollup is fine enough, or when the rollups that are have been deleted for this range.
        """
        horizons = {tier: self.retention.horizon_ms(datastream, tier) for tier in TIERS}
        resolution = choose_resolution(start_ms, end_ms, points, horizons)
        if resolution != "raw":
            buckets = self.buckets(resolution, start_ms, end_ms, [datastream]).get(datastream, [])
            return Series(datastream, resolution, buckets)
        readings = self.raw(datastream, start_ms, end_ms, limit=max(points, 1) * 100)
        numeric = [
            (o.phenomenon_time_ms, float(o.result)) for o in readings if type(o.result) in (int, float)
        ]
        return Series(datastream, "raw", [Bucket(t, 1, v, v, v, v, v) for t, v in numeric])

    @staticmethod
    def rollup_table(resolution: str) -> str:
        for rollup in ROLLUPS:
            if rollup.name == resolution:
                return rollup.table
        raise ValueError(f"unknown resolution {resolution!r}; use one of {[r.name for r in ROLLUPS]}")

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
    def alerts(
        self,
        datastream: str | None = None,
        state: str | None = None,
        start_ms: int = 0,
        end_ms: int | None = None,
    ) -> list[Alert]:
        """Alert episodes started in [start, end), oldest first; optionally of one datastream or state."""

    @staticmethod
    def end_or_max(end_ms: int | None) -> int:
        return MAX_TIME_MS + 1 if end_ms is None else end_ms

    @abstractmethod
    def apply_retention(self) -> dict[str, int]:
        """Delete what the retention tiers no longer keep; returns rows deleted per tier."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

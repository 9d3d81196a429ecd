"""Value types shared by every layer: readings, window aggregates, late readings.

Times are UTC epoch milliseconds everywhere inside iotstream; ISO-8601 exists only at the edges.
"""

from typing import Any

import msgspec

__all__ = ["LateObservation", "Observation", "WindowAggregate"]


class Observation(msgspec.Struct, frozen=True, gc=False):
    """One reading of a datastream (a SensorThings Observation)."""

    datastream: str
    phenomenon_time_ms: int  # when it was measured: the event time
    result: Any  # a number, or any JSON value (text, boolean, object)
    result_time_ms: int  # when the platform accepted it
    id: str  # stable message id: the same reading always has the same id


class WindowAggregate(msgspec.Struct, frozen=True, gc=False):
    """A window's result; storage keeps one per (datastream, window, start), the latest written."""

    datastream: str
    window: str
    start_ms: int
    end_ms: int
    count: int
    sum: float | None
    min: float | None
    max: float | None
    avg: float | None
    first: float | None
    last: float | None
    revision: int = 0
    updated_ms: int = 0


class LateObservation(msgspec.Struct, frozen=True, gc=False):
    """A reading that arrived after its windows were final, and how late it was."""

    observation: Observation
    late_by_ms: int
    job: str

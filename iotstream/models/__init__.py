"""Value types shared by every layer: readings, window aggregates, late readings, rollups, alerts.

Times are UTC epoch milliseconds everywhere inside iotstream; ISO-8601 exists only at the edges.
"""

import hashlib
from collections.abc import Callable
from typing import Any

import msgspec

__all__ = [
    "RETRACTED",
    "Alert",
    "Bucket",
    "LateObservation",
    "Observation",
    "Series",
    "WindowAggregate",
    "message_id",
    "message_id_prefix",
]


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


class Bucket(msgspec.Struct, frozen=True, gc=False):
    """The numeric readings of one datastream in one time bucket (a rollup row, or one raw reading)."""

    start_ms: int
    count: int
    sum: float
    min: float
    max: float
    first: float  # the value measured first in the bucket
    last: float  # the value measured last

    @property
    def avg(self) -> float:
        return self.sum / self.count


class Series(msgspec.Struct, frozen=True, gc=False):
    """A datastream over a time range at one resolution: "raw", "1m", "1h" or "1d"."""

    datastream: str
    resolution: str
    buckets: list[Bucket]


# An alert state that deletes the stored episode: a recomputation's verdict that the readings no longer
# give it (storage's `latest_episodes`).
RETRACTED = "retracted"


class Alert(msgspec.Struct, frozen=True, gc=False):
    """One episode of a rule on a datastream; storage keeps the latest state per (rule, datastream, start)."""

    rule: str
    datastream: str
    start_ms: int  # the first reading that broke the rule
    last_ms: int  # the last reading that kept the episode open
    max: float | None
    avg: float | None
    threshold: float | None
    state: str  # "open" or "closed"
    closed_ms: int | None = None  # the reading that closed it (not part of the episode)
    updated_ms: int = 0

    @property
    def duration_s(self) -> float:
        return (self.last_ms - self.start_ms) / 1000


_BLAKE2B_96 = hashlib.blake2b(digest_size=12).copy
_encode = msgspec.json.Encoder().encode


def message_id(datastream: str, time_ms: int, value: Any) -> str:
    """The platform's stable id for a reading that came without one: the same reading, the same id,
    so a re-sent reading is stored once.

    >>> message_id("s1", 0, 1.5) == message_id("s1", 0, 1.5) != message_id("s1", 0, 2.5)
    True
    """
    digest = _BLAKE2B_96()  # a copy of an empty hasher: a third of the cost of building one per reading
    digest.update(_encode([datastream, time_ms, value]))
    return digest.hexdigest()


def message_id_prefix(datastream: str) -> Callable[[], "hashlib.blake2b"]:
    """A new hasher that has taken the `["datastream",` that starts each of `datastream`'s
    `message_id` inputs: what is left to hash is `time,value]` (see `ingest.columns.message_ids`)."""
    digest = _BLAKE2B_96()
    digest.update(_encode([datastream])[:-1] + b",")
    return digest.copy

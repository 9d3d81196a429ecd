"""Readings as the client sends them: checked and timed when they are handed over.

A reading gets its time (now, unless given) the moment `send` is called, so one that waits in the
disk buffer and is sent later, or twice, keeps its time and so its message id, and the platform
stores it once. The checks are the platform's own, made early: a reading the platform would reject
never enters the buffer, where it could only be dropped later.
"""

import math
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import msgspec

from iotstream.client._time import TimeLike, now_ms, to_ms
from iotstream.client.registry import RegisteredDatastream

__all__ = ["DatastreamRef", "ReadingLike", "Rejected", "encode", "name_of", "reading", "readings_of"]

DatastreamRef = str | RegisteredDatastream  # the name readings are sent to, or what registration returned
ReadingLike = Mapping[str, Any] | tuple[Any, ...]  # {"datastream", "value", "time"?, "id"?} or (d, v[, t])
_encode = msgspec.json.Encoder().encode


class Rejected(NamedTuple):
    """A reading the platform refused, and why (e.g. a datastream the token may not write)."""

    reading: dict[str, Any]
    reason: str


def name_of(datastream: DatastreamRef) -> str:
    """The name a datastream's readings travel under: its SensorThings `properties.key`."""
    name = datastream.key if isinstance(datastream, RegisteredDatastream) else datastream
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a datastream must be a non-empty name, got {name!r}")
    return name


def reading(
    datastream: DatastreamRef, value: Any, time: TimeLike | None = None, id: str | None = None
) -> dict[str, Any]:
    """A reading as `POST /api/v1/readings` takes it, its time in epoch ms."""
    problem = _value_problem(value)
    if problem:
        raise ValueError(problem)
    when = now_ms() if time is None else to_ms(time)
    if when < 0:
        raise ValueError(f"time {time!r} is before 1970")
    document = {"datastream": name_of(datastream), "time": when, "value": value}
    if id is not None:
        if not isinstance(id, str) or not id:
            raise ValueError("'id' must be a non-empty string when given")
        document["id"] = id
    return document


def readings_of(items: Iterable[ReadingLike]) -> list[dict[str, Any]]:
    """Checked readings from mappings or (datastream, value[, time]) tuples; a bad one names its index."""
    documents = []
    for index, item in enumerate(items):
        try:
            documents.append(_one(item))
        except (ValueError, TypeError) as err:
            raise type(err)(f"reading {index}: {err}") from err
    return documents


def _one(item: ReadingLike) -> dict[str, Any]:
    if isinstance(item, tuple):
        if not 2 <= len(item) <= 3:
            raise ValueError(f"a reading tuple is (datastream, value[, time]), got {len(item)} items")
        return reading(*item)
    if isinstance(item, Mapping):
        unknown = set(item) - {"datastream", "value", "time", "id"}
        if unknown:
            raise ValueError(
                f"unknown field {sorted(unknown)[0]!r}; a reading has datastream, value, time, id"
            )
        if "value" not in item:
            raise ValueError("'value' is missing")
        return reading(item.get("datastream", ""), item["value"], item.get("time"), item.get("id"))
    raise TypeError(f"a reading is a mapping or a tuple, got {type(item).__name__}")


def _value_problem(value: Any) -> str | None:
    if isinstance(value, (bool, str, dict, list)):
        return None
    if isinstance(value, (int, float)):
        return None if math.isfinite(value) else f"value {value} is not a finite number"
    kind = "null" if value is None else type(value).__name__
    return f"a value must be a number, string, boolean, list or dict, got {kind}"


def encode(document: dict[str, Any]) -> bytes:
    return _encode(document)

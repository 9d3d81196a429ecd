"""Readings a column at a time: an import's typed batches (a Parquet file's) into the log for a
fraction of what one reading at a time costs.

Every step here gives exactly what the row-by-row way (`readings.parse_items`, `Ingestor._produce`)
gives for the same readings: the same checks, the same message ids, the same record bytes. Whatever a
column check cannot vouch for goes the row-by-row way instead, which says which reading is wrong and
why. Work per reading is left to C where it can be (`map`, `set`, `min`, one msgspec call for a whole
column); what remains in Python is hashing each reading's id and encoding its record, which `encoded`
does with nothing but the columns, so an import can have other processes do it.
"""

import math
import sys
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import msgspec

from iotstream.models import Observation, message_id_prefix

__all__ = ["Encoded", "ReadingRecord", "encoded", "extremes", "message_ids", "regular", "rows"]

_NUMBERS = {int, float}
_STR = {str}
_INT = {int}
_encode = msgspec.json.Encoder().encode


class ReadingRecord(msgspec.Struct, gc=False):
    """A reading as `observations` holds it; a struct encodes faster than a dict per reading."""

    datastream: str
    time: int
    value: Any
    id: str
    result_time: int = msgspec.field(name="resultTime")


class Encoded(NamedTuple):
    """`regular` columns' records for the log, and what the ingestor still checks before producing
    them: each datastream's extremes (`extremes`) against the store's retention."""

    records: list[bytes]
    extremes: list[Observation]
    received_ms: int


def encoded(
    datastreams: Sequence[Any], times: Sequence[Any], values: Sequence[Any], received_ms: int
) -> Encoded | None:
    """The records of `regular` columns, or None for columns that must go row by row. Pure: it runs
    as well in a worker process (`iotstream import` encodes there while it writes the log here)."""
    if not regular(datastreams, times, values):
        return None
    ids = message_ids(datastreams, times, values)
    records = [
        _encode(ReadingRecord(name, when, value, id_, received_ms))
        for name, when, value, id_ in zip(datastreams, times, values, ids, strict=True)
    ]
    return Encoded(records, extremes(datastreams, times, received_ms), received_ms)


def regular(datastreams: Sequence[Any], times: Sequence[Any], values: Sequence[Any]) -> bool:
    """Whether every reading passes the row checks: named, a whole-ms time since 1970, a finite
    number for a value (text, booleans and objects go row by row). What the store would refuse (a
    time past 9999, or older than it keeps) the ingestor asks of each datastream's extremes."""
    if not len(datastreams) == len(times) == len(values) > 0:
        return False
    if set(map(type, datastreams)) != _STR or not all(name.strip() for name in set(datastreams)):
        return False
    if set(map(type, times)) != _INT or min(times) < 0:
        return False
    kinds = set(map(type, values))
    if not kinds <= _NUMBERS:
        return False
    if int in kinds and not -sys.float_info.max <= min(values) <= max(values) <= sys.float_info.max:
        return False  # an int beyond a float's range, which the store refuses (or a NaN beside one)
    return all(map(math.isfinite, values))


def rows(datastreams: Sequence[str], times: Sequence[Any], values: Sequence[Any]) -> list[dict[str, Any]]:
    """The readings as an import's rows, for the row-by-row way."""
    return [
        {"datastream": name, "time": when, "value": value}
        for name, when, value in zip(datastreams, times, values, strict=True)
    ]


def message_ids(datastreams: Sequence[str], times: Sequence[int], values: Sequence[float]) -> list[str]:
    """`models.message_id` of each reading of `regular` columns.

    The id hashes the JSON of `[datastream, time, value]`. Its `["datastream",` part is hashed once per
    datastream and copied; the `time,value]` parts come from one encoding of all the (time, value)
    pairs, cut at `,[`, which no number contains."""
    starts: dict[str, Callable[[], Any]] = {name: message_id_prefix(name) for name in set(datastreams)}
    pairs = _encode(list(zip(times, values, strict=True)))  # [[t,v],[t,v]]
    ends = pairs[2:-1].split(b",[")  # t,v]  t,v]
    ids = []
    for name, end in zip(datastreams, ends, strict=True):
        digest = starts[name]()
        digest.update(end)
        ids.append(digest.hexdigest())
    return ids


def extremes(datastreams: Sequence[str], times: Sequence[int], received_ms: int) -> list[Observation]:
    """Each datastream's earliest and latest reading, with no value: all the time spans need."""
    spans: dict[str, list[int]] = {}
    for name, when in zip(datastreams, times, strict=True):
        span = spans.get(name)
        if span is None:
            spans[name] = [when, when]
        elif when < span[0]:
            span[0] = when
        elif when > span[1]:
            span[1] = when
    return [Observation(name, when, 0, received_ms, "") for name, span in spans.items() for when in span]

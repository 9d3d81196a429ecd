"""The reading payload every ingestion path accepts (HTTP, MQTT): one JSON object or an array of them.

    {"datastream": "kitchen/temp", "time": "2024-05-01T10:00:00Z" | 1714557600000,
     "value": 21.5 | "open" | true | {...}, "id": "optional client id"}

A bad item never fails the others: each is accepted or rejected with its index and a precise reason,
so a device learns exactly what to fix. Times without a zone are UTC; a missing time is the moment the
platform received the reading. Every accepted reading gets a message id (the client's, else a hash of
datastream, time and value), so a re-sent reading is stored once.
"""

import math
from typing import Any, NamedTuple

import msgspec

from iotstream._units import parse_time_ms
from iotstream.exceptions import IotStreamError
from iotstream.models import Observation, message_id
from iotstream.registry.access.principal import Scope, ScopeError

__all__ = ["InvalidPayloadError", "ItemError", "parse_items", "parse_readings"]

_decoder = msgspec.json.Decoder()


class InvalidPayloadError(IotStreamError):
    """The whole payload is unusable (not JSON, or neither an object nor an array of objects)."""


class ItemError(NamedTuple):
    position: int  # in the array (0 for a single object); the HTTP answer calls it "index"
    error: str


def parse_readings(
    body: bytes,
    received_ms: int,
    *,
    datastream: str | None = None,
    scope: Scope | None = None,
    default_ms: int | None = None,
) -> tuple[list[Observation], list[ItemError]]:
    """The accepted readings and the rejected items; `datastream` names readings that carry none
    (e.g. taken from an MQTT topic), `default_ms` times them (else the time they were received). With
    a `scope`, names are the sender's and become its tenant's stream keys (a name it may not use is a
    rejected item)."""
    try:
        document = _decoder.decode(body)
    except msgspec.DecodeError as err:
        raise InvalidPayloadError(f"body is not JSON: {err}") from err
    if not isinstance(document, (list, dict)):
        raise InvalidPayloadError(
            f"body must be a reading object or an array of them, got {type(document).__name__}"
        )
    items = document if isinstance(document, list) else [document]
    return parse_items(items, received_ms, datastream, scope, default_ms)


def parse_items(
    items: list[Any],
    received_ms: int,
    datastream: str | None = None,
    scope: Scope | None = None,
    default_ms: int | None = None,
) -> tuple[list[Observation], list[ItemError]]:
    """`parse_readings` of items already decoded (from JSON or Avro); an item that is an exception is
    a reading its payload could not give, with the reason."""
    default_ms = received_ms if default_ms is None else default_ms
    accepted: list[Observation] = []
    rejected: list[ItemError] = []
    for index, item in enumerate(items):
        reading = (
            str(item)
            if isinstance(item, Exception)
            else _reading(item, received_ms, default_ms, datastream, scope)
        )
        if isinstance(reading, str):
            rejected.append(ItemError(index, reading))
        else:
            accepted.append(reading)
    return accepted, rejected


def _reading(
    item: Any, received_ms: int, default_ms: int, default_datastream: str | None, scope: Scope | None
) -> Observation | str:
    if not isinstance(item, dict):
        return f"a reading must be a JSON object, got {type(item).__name__}"
    datastream = item.get("datastream", default_datastream)
    if not isinstance(datastream, str) or not datastream.strip():
        return "'datastream' must be a non-empty string"
    if scope is not None:
        try:
            datastream = scope.key(datastream)
        except ScopeError as err:
            return str(err)
    when = _time(item.get("time"), default_ms)
    if isinstance(when, str):
        return when
    if "value" not in item:
        return "'value' is missing"
    value = item["value"]
    problem = _value_problem(value)
    if problem:
        return problem
    client_id = item.get("id")
    if client_id is not None and (not isinstance(client_id, str) or not client_id):
        return "'id' must be a non-empty string when given"
    return Observation(datastream, when, value, received_ms, client_id or message_id(datastream, when, value))


def _time(raw: Any, received_ms: int) -> int | str:
    if type(raw) is int and raw >= 0:  # the usual case, for every reading
        return raw
    if isinstance(raw, float):
        return f"'time' {raw} must be whole epoch milliseconds or ISO-8601 text"
    when = parse_time_ms(raw, received_ms, naive_is_utc=True)
    if isinstance(when, str):
        return f"'time': {when}"
    if when < 0:
        return f"'time' {when} is before 1970"
    return when


def _value_problem(value: Any) -> str | None:
    if isinstance(value, (bool, str, dict, list)):  # an array: a MultiDatastream's result
        return None
    if isinstance(value, (int, float)):
        try:
            return None if math.isfinite(value) else f"'value' {value} is not a finite number"
        except OverflowError:  # an int past a float's range
            return "'value' is a whole number too large to store"
    kind = "null" if value is None else type(value).__name__
    return f"'value' must be a number, string, boolean, array or object, got {kind}"

"""Log records → storage rows: readings, window results, late readings and alert events.

Each decoder returns the row, or a string saying precisely why the record cannot be stored (it becomes
the dead letter's reason). Readings are decoded into a typed struct rather than a dict: this runs for
every reading the platform stores, and msgspec fills a struct about twice as fast.
"""

from collections.abc import Callable
from typing import Any

import msgspec

from iotstream._units import parse_time_ms
from iotstream.log.types import Record
from iotstream.models import Alert, LateObservation, Observation, WindowAggregate, message_id

__all__ = ["DECODERS", "decode_aggregate", "decode_alert", "decode_late", "decode_observation"]

_UNSET: Any = msgspec.UNSET


class _Reading(msgspec.Struct):
    """A reading as devices and jobs send it; SensorThings names (phenomenonTime, result) also work."""

    datastream: str | None = None
    key: str | None = None  # the engine names the datastream `key`
    time: Any = None
    phenomenonTime: Any = None
    value: Any = _UNSET
    result: Any = None
    id: Any = None
    resultTime: Any = None
    late_by_ms: int = 0
    job: str = ""


_reading = msgspec.json.Decoder(_Reading)
_object_decoder = msgspec.json.Decoder()


def decode_observation(record: Record) -> Observation | str:
    """`{"datastream", "time", "value", "id"?, "resultTime"?}` (the key may name the datastream)."""
    document = _decode_reading(record)
    return document if isinstance(document, str) else _observation(document, record)


def decode_late(record: Record) -> LateObservation | str:
    """A late reading as the stream engine writes it: the reading plus `late_by_ms` and `job`."""
    document = _decode_reading(record)
    if isinstance(document, str):
        return document
    observation = _observation(document, record)
    if isinstance(observation, str):
        return observation
    return LateObservation(observation, document.late_by_ms, document.job)


def _decode_reading(record: Record) -> _Reading | str:
    try:
        return _reading.decode(record.value or b"")
    except msgspec.ValidationError as err:
        return f"not a reading: {err}"
    except msgspec.DecodeError as err:
        return f"value is not JSON: {err}"


def _observation(document: _Reading, record: Record) -> Observation | str:
    datastream = document.datastream or document.key or (record.key or b"").decode("utf-8", "replace")
    if not datastream:
        return "no datastream: neither a 'datastream' field nor a record key"
    raw_time = document.phenomenonTime if document.time is None else document.time
    when = raw_time if type(raw_time) is int else parse_time_ms(raw_time, record.timestamp_ms)
    if isinstance(when, str):
        return when
    value = document.result if document.value is _UNSET else document.value
    result_time = document.resultTime  # epoch ms, as ingestion stamps it: no parsing
    if type(result_time) is not int:
        result_time = parse_time_ms(result_time, record.timestamp_ms)
    reading_id = document.id or message_id(datastream, when, value)
    return Observation(
        datastream,
        when,
        value,
        result_time if isinstance(result_time, int) else when,
        reading_id if type(reading_id) is str else str(reading_id),
    )


def decode_aggregate(record: Record) -> WindowAggregate | str:
    """A window result as the stream engine writes it."""
    document = _object(record)
    if isinstance(document, str):
        return document
    try:
        return WindowAggregate(
            document["key"],
            document["window"],
            int(document["start"]),
            int(document["end"]),
            int(document["count"]),
            document.get("sum"),
            document.get("min"),
            document.get("max"),
            document.get("avg"),
            document.get("first"),
            document.get("last"),
            int(document.get("revision", 0)),
            record.timestamp_ms,
        )
    except (KeyError, TypeError, ValueError) as err:
        return f"not a window result: {type(err).__name__} {err}"


def decode_alert(record: Record) -> Alert | str:
    """An alert episode (times in epoch ms or ISO-8601), alone or as the value of a job's event."""
    document = _object(record)
    if isinstance(document, str):
        return document
    if "rule" not in document and isinstance(document.get("value"), dict):
        document = document["value"]  # {"key", "time", "value": episode}, as `Job.to` writes events
    start, last = _alert_time(document, "start"), _alert_time(document, "last")
    closed = None if document.get("closed_at") is None else _alert_time(document, "closed_at")
    if isinstance(start, str) or isinstance(last, str) or isinstance(closed, str):
        return next(t for t in (start, last, closed) if isinstance(t, str))
    try:
        return Alert(
            str(document["rule"]),
            str(document["datastream"]),
            start,
            last,
            _number(document.get("max")),
            _number(document.get("avg")),
            _number(document.get("threshold")),
            str(document["state"]),
            closed,
            record.timestamp_ms,
        )
    except (KeyError, TypeError, ValueError) as err:
        return f"not an alert: {type(err).__name__} {err}"


def _alert_time(document: dict[str, Any], field: str) -> int | str:
    if document.get(field) is None:
        return f"not an alert: no {field!r} time"
    return parse_time_ms(document[field], 0)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _object(record: Record) -> dict[str, Any] | str:
    try:
        document = _object_decoder.decode(record.value or b"")
    except msgspec.DecodeError as err:
        return f"value is not JSON: {err}"
    if isinstance(document, dict):
        return document
    return f"value must be a JSON object, got {type(document).__name__}"


DECODERS: dict[str, Callable[[Record], Any]] = {
    "observations": decode_observation,
    "aggregates": decode_aggregate,
    "late": decode_late,
    "alerts": decode_alert,
}

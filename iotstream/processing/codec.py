"""Records in, records out: decoding readings into events and encoding results, with precise reasons.

A record that cannot become an event is not an exception: `decode` returns the reason, and the runner
sends the record to the dead-letter topic with it.
"""

import hashlib
from typing import Any

import msgspec

from iotstream._units import parse_time_ms
from iotstream.log.types import Record
from iotstream.processing.windowing import Event, LateReading, WindowResult

__all__ = ["OutputReading", "Reading", "decode", "encode_event", "encode_late", "event_id", "read_reading"]

_encoder = msgspec.json.Encoder()


class Reading(msgspec.Struct, gc=False):
    """The fields a reading may carry; typed decoding is both faster and stricter than a dict.

    `gc=False`: decoded JSON never refers back to the struct, so it cannot be part of a cycle, and
    leaving it untracked spares the collector one object per reading.
    """

    datastream: str | None = None
    time: int | str | None = None
    phenomenonTime: str | None = None
    value: Any = msgspec.UNSET
    id: Any = None  # the message id ingestion writes: the same for every copy of a reading


class OutputReading(msgspec.Struct, frozen=True, gc=False):
    """A reading a job writes to `observations` (a stream app's row), in the record format ingestion
    writes, so the store and the live feeds take it like any reading. One computed over a window is
    stored at the window's start, and its record also says which window and which revision of it."""

    value: Any
    start_ms: int | None = None  # the window's, when it has one
    end_ms: int | None = None
    revision: int = 0
    replaces: tuple[int, ...] = ()


_reading = msgspec.json.Decoder(Reading)
_any = msgspec.json.Decoder()
read_reading = _reading.decode  # raises on anything that is not a reading; `decode` says why


def decode(record: Record) -> Event | str:
    """The event of a reading record, or why there is none."""
    try:
        reading = _reading.decode(record.value or b"")
    except msgspec.ValidationError as err:
        return f"value is not a reading: {err}"
    except msgspec.DecodeError as err:
        return f"value is not JSON: {err}"
    key = record.key.decode("utf-8", "replace") if record.key is not None else reading.datastream
    if key is None:
        return "no key: the record has no key and the value no 'datastream'"
    raw_time = reading.time if reading.time is not None else reading.phenomenonTime
    timestamp = raw_time if isinstance(raw_time, int) else parse_time_ms(raw_time, record.timestamp_ms)
    if isinstance(timestamp, str):
        return timestamp
    value = reading.value if reading.value is not msgspec.UNSET else _any.decode(record.value or b"")
    return key, value, timestamp


def event_id(job: str, event: Event) -> str:
    """Deterministic: the same output of the same job always gets the same id, so sinks store it once."""
    key, value, timestamp = event
    if isinstance(value, WindowResult):
        return f"{job}/{value.window}/{value.key}/{value.start_ms}"
    digest = hashlib.blake2b(_encoder.encode([key, timestamp, value]), digest_size=12).hexdigest()
    return f"{job}/{digest}"


def encode_event(event: Event) -> bytes:
    key, value, timestamp = event
    if isinstance(value, WindowResult):
        return _encoder.encode(
            {
                "key": value.key,
                "window": value.window,
                "start": value.start_ms,
                "end": value.end_ms,
                "revision": value.revision,
                "replaces": list(value.replaces),
                **(value.value if isinstance(value.value, dict) else {"value": value.value}),
            }
        )
    if isinstance(value, OutputReading):
        document = {"datastream": key, "time": timestamp, "value": value.value}
        if value.start_ms is not None:
            window = {"start": value.start_ms, "end": value.end_ms, "revision": value.revision}
            document["window"] = window | ({"replaces": list(value.replaces)} if value.replaces else {})
        return _encoder.encode(document)
    return _encoder.encode({"key": key, "time": timestamp, "value": value})


def encode_late(job: str, late: LateReading) -> bytes:
    document = {"key": late.key, "time": late.timestamp_ms, "value": late.value, "job": job}
    return _encoder.encode({**document, "late_by_ms": late.late_by_ms})

"""Records in, records out: decoding readings into events and encoding results, with precise reasons.

A record that cannot become an event is not an exception: `decode` returns the reason, and the runner
sends the record to the dead-letter topic with it.
"""

import hashlib
from datetime import datetime
from typing import Any

import msgspec

from iotstream.log.types import Record
from iotstream.processing.windowing import Event, LateReading, WindowResult

__all__ = ["decode", "encode_event", "encode_late", "event_id"]

_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


def decode(record: Record) -> Event | str:
    """The event of a reading record, or why there is none."""
    try:
        document = _decoder.decode(record.value or b"")
    except msgspec.DecodeError as err:
        return f"value is not JSON: {err}"
    if not isinstance(document, dict):
        return f"value must be a JSON object, got {type(document).__name__}"
    key = record.key.decode("utf-8", "replace") if record.key is not None else document.get("datastream")
    if not isinstance(key, str):
        return "no key: the record has no key and the value no 'datastream'"
    timestamp = _event_time(document.get("time", document.get("phenomenonTime")), record.timestamp_ms)
    if isinstance(timestamp, str):
        return timestamp
    return key, document.get("value", document), timestamp


def _event_time(raw: Any, record_ms: int) -> int | str:
    if raw is None:
        return record_ms
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return f"time {raw!r} is not ISO-8601 or epoch milliseconds"
        if parsed.tzinfo is None:
            return f"time {raw!r} has no time zone"
        return int(parsed.timestamp() * 1000)
    return f"time must be ISO-8601 text or epoch milliseconds, got {type(raw).__name__}"


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
    return _encoder.encode({"key": key, "time": timestamp, "value": value})


def encode_late(job: str, late: LateReading) -> bytes:
    document = {"key": late.key, "time": late.timestamp_ms, "value": late.value, "job": job}
    return _encoder.encode({**document, "late_by_ms": late.late_by_ms})

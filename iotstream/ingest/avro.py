"""Readings from Confluent-framed Avro: a zero magic byte, the schema's id (4 bytes, big-endian), then
the record in Avro's binary encoding — what gateways producing with Confluent's serializers write.

A record becomes a reading by its field names: the datastream, time and value fields are the ones a
mapping names, or found among the names the original systems used (`name`, `sensor_id`, `timestamp`,
`temperature`, …), so their schemas work without configuration. Anything that does not decode is an
`AvroFrameError` whose message says why (for the dead-letter topic).

A body may hold several frames back to back (an HTTP batch); each becomes one reading or one error. A
frame whose schema is unknown cannot be measured, so nothing after it can be read: the rest is one error.
"""

import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import fastavro
from fastavro.schema import SchemaParseException, UnknownType

from iotstream._units import epoch_ms
from iotstream.log.avro import millis_as_longs

__all__ = ["MEDIA_TYPE", "AvroFrameError", "AvroReadings", "FieldMapping", "NotAReadingError", "is_framed"]

MEDIA_TYPE = "application/vnd.iotstream.avro"  # one or more Confluent frames, back to back

MAGIC = 0
_UNKNOWN_FOR_S = 1.0
_HEADER = 5
_DATASTREAM_FIELDS = ("datastream", "name", "sensor_id", "sensorId", "sensor", "ep", "key")
_TIME_FIELDS = ("time", "timestamp", "phenomenonTime", "ts", "event_time")
_VALUE_FIELDS = ("value", "result", "temperature", "reading", "measurement")


class AvroFrameError(ValueError):
    """Bytes that are not a reading in Confluent's Avro framing; the message says why."""


class NotAReadingError(AvroFrameError):
    """A frame that decodes, into a record that holds no reading."""


@dataclass(frozen=True)
class FieldMapping:
    """Which record fields hold the datastream, the time and the value (None: found by name)."""

    datastream: str | None = None
    time: str | None = None
    value: str | None = None

    def resolved(self, fields: list[str]) -> "FieldMapping":
        return FieldMapping(
            self.datastream or _first(fields, _DATASTREAM_FIELDS),
            self.time or _first(fields, _TIME_FIELDS),
            self.value or _first(fields, _VALUE_FIELDS),
        )


def is_framed(payload: bytes) -> bool:
    """Whether a payload is meant as Avro: JSON text never begins with a zero byte, a frame always does."""
    return payload[:1] == b"\x00"


def _first(fields: list[str], candidates: tuple[str, ...]) -> str | None:
    return next((name for name in candidates if name in fields), None)


class AvroReadings:
    """Decodes frames with the schemas `schema_of(id)` gives (the registry's), each parsed once."""

    def __init__(self, schema_of: Callable[[int], str], mapping: FieldMapping | None = None) -> None:
        self._schema_of = schema_of
        self._mapping = mapping or FieldMapping()
        self._schemas: dict[int, tuple[Any, FieldMapping]] = {}
        self._unknown: dict[int, float] = {}  # ids the registry did not have, until when not to ask

    def readings(self, body: bytes, datastream: str | None = None) -> list[dict[str, Any] | AvroFrameError]:
        """Each frame's reading, or why it is none, in order; a `NotAReadingError` for a record that
        decodes but holds no reading, which does not stop the frames after it."""
        stream, items = io.BytesIO(body), list[dict[str, Any] | AvroFrameError]()
        while stream.tell() < len(body):
            start = stream.tell()
            try:
                items.append(_reading(*self._decode(stream), datastream))
            except AvroFrameError as err:
                rest = f" ({len(body) - start} bytes from byte {start} not read)" if len(items) else ""
                items.append(AvroFrameError(f"{err}{rest}"))
                break
        return items

    def _decode(self, stream: io.BytesIO) -> tuple[dict[str, Any], FieldMapping]:
        header = stream.read(_HEADER)
        if len(header) < _HEADER:
            raise AvroFrameError(f"a truncated frame: {len(header)} bytes, a Confluent frame has at least 5")
        if header[0] != MAGIC:
            raise AvroFrameError(f"magic byte {header[0]}, not 0: not a Confluent-framed record")
        schema_id = int.from_bytes(header[1:], "big")
        schema, mapping = self._schema(schema_id)
        try:
            record = fastavro.schemaless_reader(stream, schema, None)
        except (EOFError, ValueError, IndexError, UnicodeDecodeError, OverflowError) as err:
            raise AvroFrameError(f"the bytes do not decode as schema {schema_id}: {err!r}") from None
        if not isinstance(record, dict):
            raise AvroFrameError(f"schema {schema_id} is not a record")
        return record, mapping

    def _schema(self, schema_id: int) -> tuple[Any, FieldMapping]:
        known = self._schemas.get(schema_id)
        if known is None:
            if self._unknown.get(schema_id, 0.0) > time.monotonic():
                raise AvroFrameError(f"unknown schema id {schema_id}")
            try:
                text = self._schema_of(schema_id)
            except LookupError:
                self._unknown[schema_id] = time.monotonic() + _UNKNOWN_FOR_S  # not asked again per frame
                raise AvroFrameError(f"unknown schema id {schema_id}") from None
            try:
                parsed = fastavro.parse_schema(millis_as_longs(json.loads(text)))
            except (ValueError, TypeError, KeyError, SchemaParseException, UnknownType) as err:
                raise AvroFrameError(f"schema {schema_id} is not an Avro record schema: {err}") from None
            fields = [field["name"] for field in parsed.get("fields", [])] if isinstance(parsed, dict) else []
            known = self._schemas[schema_id] = (parsed, self._mapping.resolved(fields))
        return known


def _reading(
    record: dict[str, Any], mapping: FieldMapping, datastream: str | None
) -> dict[str, Any] | NotAReadingError:
    reading: dict[str, Any] = {}
    name = record.get(mapping.datastream) if mapping.datastream else None
    if name is not None or datastream is not None:
        reading["datastream"] = str(name) if name is not None else datastream
    if mapping.time and (when := record.get(mapping.time)) is not None:
        reading["time"] = epoch_ms(when) if isinstance(when, datetime) else when
    if mapping.value is None or mapping.value not in record:
        return NotAReadingError(f"the record has no value field (its fields: {', '.join(record)})")
    reading["value"] = record[mapping.value]
    return reading

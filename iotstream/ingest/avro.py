"""Readings from Confluent-framed Avro: a zero magic byte, the schema's id (4 bytes, big-endian), then
the record in Avro's binary encoding — what gateways producing with Confluent's serializers write.

A record becomes a reading by its field names: the datastream, time and value fields are the ones a
mapping names, or found among the names the original systems used (`name`, `sensor_id`, `timestamp`,
`temperature`, …), so their schemas work without configuration. Anything that does not decode is a
`AvroFrameError` whose message says why (for the dead-letter topic).
"""

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import fastavro

__all__ = ["AvroFrameError", "AvroReadings", "FieldMapping"]

MAGIC = 0
_HEADER = 5
_DATASTREAM_FIELDS = ("datastream", "name", "sensor_id", "sensorId", "sensor", "ep", "key")
_TIME_FIELDS = ("time", "timestamp", "phenomenonTime", "ts", "event_time")
_VALUE_FIELDS = ("value", "result", "temperature", "reading", "measurement")


class AvroFrameError(ValueError):
    """Bytes that are not a reading in Confluent's Avro framing; the message says why."""


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


def _first(fields: list[str], candidates: tuple[str, ...]) -> str | None:
    return next((name for name in candidates if name in fields), None)


class AvroReadings:
    """Decodes frames with the schemas `schema_of(id)` gives (the registry's), each parsed once."""

    def __init__(self, schema_of: Callable[[int], str], mapping: FieldMapping | None = None) -> None:
        self._schema_of = schema_of
        self._mapping = mapping or FieldMapping()
        self._schemas: dict[int, tuple[Any, FieldMapping]] = {}

    def reading(self, frame: bytes, datastream: str | None = None) -> dict[str, Any]:
        """The reading a frame holds, as ingestion takes it; `datastream` when the record has none."""
        record, mapping = self._decode(frame)
        reading: dict[str, Any] = {}
        name = record.get(mapping.datastream) if mapping.datastream else None
        if name is not None or datastream is not None:
            reading["datastream"] = str(name) if name is not None else datastream
        if mapping.time and record.get(mapping.time) is not None:
            reading["time"] = record[mapping.time]
        if mapping.value is None or mapping.value not in record:
            raise AvroFrameError(f"the record has no value field (its fields: {', '.join(record)})")
        reading["value"] = record[mapping.value]
        return reading

    def _decode(self, frame: bytes) -> tuple[dict[str, Any], FieldMapping]:
        if len(frame) < _HEADER:
            raise AvroFrameError(f"a truncated frame: {len(frame)} bytes, a Confluent frame has at least 5")
        if frame[0] != MAGIC:
            raise AvroFrameError(f"magic byte {frame[0]}, not 0: not a Confluent-framed record")
        schema_id = int.from_bytes(frame[1:_HEADER], "big")
        schema, mapping = self._schema(schema_id)
        body = io.BytesIO(frame[_HEADER:])
        try:
            record = fastavro.schemaless_reader(body, schema, None)
        except (EOFError, ValueError, IndexError, UnicodeDecodeError, OverflowError) as err:
            raise AvroFrameError(f"the bytes do not decode as schema {schema_id}: {err!r}") from None
        left = len(frame) - _HEADER - body.tell()
        if left:
            raise AvroFrameError(f"{left} bytes after the record of schema {schema_id}")
        if not isinstance(record, dict):
            raise AvroFrameError(f"schema {schema_id} is not a record")
        return record, mapping

    def _schema(self, schema_id: int) -> tuple[Any, FieldMapping]:
        known = self._schemas.get(schema_id)
        if known is None:
            try:
                text = self._schema_of(schema_id)
            except LookupError:
                raise AvroFrameError(f"unknown schema id {schema_id}") from None
            parsed = fastavro.parse_schema(json.loads(text))
            fields = [field["name"] for field in parsed.get("fields", [])] if isinstance(parsed, dict) else []
            known = self._schemas[schema_id] = (parsed, self._mapping.resolved(fields))
        return known

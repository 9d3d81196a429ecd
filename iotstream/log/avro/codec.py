"""JSON documents ↔ Confluent-framed Avro records of iotstream's own topics.

A frame is a zero byte, the schema's id in the registry (4 bytes, big-endian) and the datum in Avro's
binary encoding: what Confluent's serializers write and its deserializers read. Each topic's schema is
registered under the subject `<topic>-value` (Confluent's TopicNameStrategy) when the codec first
writes to the topic, or at start for the topics that exist (`register`): a record type changed in code
becomes the subject's next version only if the registry's compatibility allows it.

Reading goes by the id in the frame, so records written with an earlier version (or by another
producer) read too. A frame this process cannot read is passed on unchanged: whoever reads it then
dead-letters it with its reason, and nothing else is held up.
"""

import io
import json
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any

import fastavro
import msgspec

from iotstream.log.avro.records import RecordType, document_of, record_type_of
from iotstream.log.exceptions import LogError, LogUnavailableError

__all__ = [
    "AvroCodec",
    "FrameError",
    "SchemaRefusedError",
    "SchemaSource",
    "frame_header",
    "millis_as_longs",
    "subject_of",
]

_MAGIC = b"\x00"
_REGISTRY_WAIT_S = 30.0
_MILLIS = ("timestamp-millis", "local-timestamp-millis")
_encode_json = msgspec.json.Encoder().encode
_decode_json = msgspec.json.Decoder().decode


class FrameError(ValueError):
    """A Confluent frame that cannot be read; the message says why."""


class SchemaRefusedError(LogError):
    """The registry refused a schema of iotstream's own records (e.g. an incompatible change)."""


class SchemaSource(ABC):
    """Where schemas are registered and looked up: the platform's own registry or an external one."""

    @abstractmethod
    def register(self, subject: str, schema: str) -> int:
        """The id of `schema` under `subject`, registered if new; `SchemaRefusedError` when refused."""

    @abstractmethod
    def schema(self, schema_id: int) -> str:
        """The text of schema `schema_id`; `LookupError` when there is none."""


def subject_of(topic: str) -> str:
    return f"{topic}-value"


def frame_header(schema_id: int) -> bytes:
    return _MAGIC + schema_id.to_bytes(4, "big")


class AvroCodec:
    def __init__(self, schemas: SchemaSource) -> None:
        self._schemas = schemas
        self._writers: dict[str, tuple[bytes, Any]] = {}  # topic → frame header, parsed schema
        self._readers: dict[int, Any] = {}
        self._lock = threading.Lock()

    def register(self, topics: Iterable[str]) -> None:
        """Register the schemas of these topics now, so an incompatible change stops the start."""
        for topic in topics:
            if (kind := record_type_of(topic)) is not None:
                self._writer(topic, kind)

    def encode(self, topic: str, value: bytes | None) -> bytes | None:
        """The frame of a JSON object written to one of iotstream's topics; anything else unchanged."""
        kind = record_type_of(topic)
        if kind is None or not value or value[:1] != b"{":
            return value
        try:
            document = _decode_json(value)
        except msgspec.DecodeError:
            return value
        header, schema = self._writer(topic, kind)
        out = io.BytesIO()
        out.write(header)
        fastavro.schemaless_writer(out, schema, kind.record(document))
        return out.getvalue()

    def decode(self, topic: str, value: bytes | None) -> bytes | None:
        """The JSON document of a frame in one of iotstream's topics; anything else (or a frame it
        cannot read) unchanged: other topics' frames are for whoever reads them (an Avro source)."""
        if not value or value[:1] != _MAGIC or len(value) < 5 or record_type_of(topic) is None:
            return value
        try:
            return self.document(value)
        except FrameError:
            return value

    def document(self, value: bytes) -> bytes:
        """The JSON document of any frame whose schema the registry has (`iotstream consume`);
        `FrameError` says why there is none."""
        schema_id = int.from_bytes(value[1:5], "big")
        try:
            schema = self._reader(schema_id)
        except LookupError:
            raise FrameError(f"unknown schema id {schema_id}") from None
        try:
            datum = fastavro.schemaless_reader(io.BytesIO(value[5:]), schema, None)
        except (EOFError, ValueError, IndexError, UnicodeDecodeError, OverflowError) as err:
            raise FrameError(f"the bytes do not decode as schema {schema_id}: {err!r}") from None
        if not isinstance(datum, dict):
            return _encode_json(datum)
        return _encode_json(document_of(datum))

    def _writer(self, topic: str, kind: RecordType) -> tuple[bytes, Any]:
        known = self._writers.get(topic)
        if known is None:
            with self._lock:
                text = json.dumps(kind.schema())
                schema_id = self._schemas.register(subject_of(topic), text)
                known = self._writers[topic] = (
                    frame_header(schema_id),
                    fastavro.parse_schema(kind.schema()),
                )
        return known

    def _reader(self, schema_id: int) -> Any:
        schema = self._readers.get(schema_id)
        if schema is None:
            document = json.loads(self._schema_text(schema_id))
            schema = self._readers[schema_id] = fastavro.parse_schema(millis_as_longs(document))
        return schema

    def _schema_text(self, schema_id: int) -> str:
        """Waits out a registry that does not answer for a while: a record is not read without its
        schema, and passing it on would dead-letter a good record. Past the wait, the consumer's role
        fails and its health check says so."""
        deadline = time.monotonic() + _REGISTRY_WAIT_S
        while True:
            try:
                return self._schemas.schema(schema_id)
            except LogUnavailableError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)


def millis_as_longs(schema: Any) -> Any:
    """The schema with `timestamp-millis` read as the epoch ms it is on the wire: what the platform's
    JSON has, without a datetime made and taken apart for each record. Other logical types stay."""
    if isinstance(schema, list):
        return [millis_as_longs(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    millis = schema.get("logicalType") in _MILLIS and schema.get("type") == "long"
    return {
        key: millis_as_longs(value) for key, value in schema.items() if not (millis and key == "logicalType")
    }

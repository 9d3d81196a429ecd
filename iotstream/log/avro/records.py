"""The Avro record types of iotstream's own topics, and the lossless way between them and JSON.

The platform's code reads and writes JSON documents; with `[log] format = "avro"` the log carries them
as Avro records, so Spark, Flink, ksqlDB and Kafka Connect read the topics with the standard
deserializer. Each topic has a record type whose fields are the ones its documents usually have, all
optional (`null` when absent). What does not fit a field — a key the type does not name, a value of
another type, an explicit `null` — goes into the `extra` field as a JSON object, and comes back from it:
a document survives the round trip unchanged, except that a whole number in a `double` field comes back
as a float (one a double cannot hold exactly goes to `extra`).

Changing a record type here changes its schema, which is registered as a new version of the topic's
subject and must pass the registry's compatibility (adding an optional field does; see `codec`).
"""

import math
from dataclasses import dataclass
from typing import Any

import msgspec

__all__ = ["NAMESPACE", "RecordType", "record_type_of"]

NAMESPACE = "io.iotstream"
_LONG_RANGE = range(-(2**63), 2**63)
_EXACT = 2**53  # the largest whole numbers a double holds exactly
_encode_json = msgspec.json.Encoder().encode
_decode_json = msgspec.json.Decoder().decode

STRING, LONG, DOUBLE, BOOLEAN = "string", "long", "double", "boolean"
TIME = {"type": "long", "logicalType": "timestamp-millis"}
LONGS = {"type": "array", "items": "long"}
SCALAR = ["boolean", "long", "double", "string"]  # a reading's value: each JSON scalar keeps its type


@dataclass(frozen=True)
class RecordType:
    name: str
    doc: str
    fields: tuple[tuple[str, Any], ...]  # (name, Avro type): a primitive, TIME, LONGS, SCALAR or a record

    def schema(self) -> dict[str, Any]:
        """The Avro schema: every field optional, then `extra`."""
        fields = [{"name": name, "type": _optional(kind), "default": None} for name, kind in self.fields]
        extra = {"name": "extra", "type": ["null", "string"], "default": None, "doc": "Other fields, as JSON"}
        return {
            "type": "record",
            "name": self.name,
            "namespace": NAMESPACE,
            "doc": self.doc,
            "fields": [*fields, extra],
        }

    def record(self, document: dict[str, Any]) -> dict[str, Any]:
        """The Avro datum of a JSON document."""
        datum: dict[str, Any] = {}
        rest = dict(document)
        for name, kind in self.fields:
            value = rest.get(name)
            if value is not None and (fitted := _fit(kind, value)) is not _NO_FIT:
                datum[name] = fitted
                del rest[name]
        datum["extra"] = _encode_json(rest).decode() if rest else None
        return datum


def document_of(datum: dict[str, Any]) -> dict[str, Any]:
    """The JSON document of a decoded Avro datum, of iotstream's types or any other record: the fields
    that are not null, nested records likewise, with `extra` merged back."""
    document = {name: _plain(value) for name, value in datum.items() if value is not None and name != "extra"}
    extra = datum.get("extra")
    if isinstance(extra, str):
        more = _decode_json(extra)
        if isinstance(more, dict):
            document |= more
    return document


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return document_of(value)
    if isinstance(value, tuple):  # a union branch fastavro names: (type name, value)
        return _plain(value[1])
    return value


_NO_FIT = object()


def _fit(kind: Any, value: Any) -> Any:
    """`value` as a datum of `kind`, or `_NO_FIT`."""
    if isinstance(kind, RecordType):
        return kind.record(value) if isinstance(value, dict) else _NO_FIT
    if kind is SCALAR:
        return value if _is_scalar(value) else _NO_FIT
    if kind == STRING:
        return value if isinstance(value, str) else _NO_FIT
    if kind == BOOLEAN:
        return value if isinstance(value, bool) else _NO_FIT
    if kind in (LONG, TIME):
        return value if _is_long(value) else _NO_FIT
    if kind == DOUBLE:
        if type(value) is float:
            return value
        return float(value) if _is_long(value) and abs(value) <= _EXACT else _NO_FIT  # held exactly
    if kind == LONGS:
        return value if isinstance(value, list) and all(_is_long(item) for item in value) else _NO_FIT
    raise ValueError(f"no Avro field kind {kind!r}")


def _is_long(value: Any) -> bool:
    return type(value) is int and value in _LONG_RANGE


def _is_scalar(value: Any) -> bool:
    return (
        isinstance(value, (str, bool)) or _is_long(value) or (type(value) is float and not math.isnan(value))
    )


def _optional(kind: Any) -> list[Any]:
    """A field's type as a union with null first (its default); SCALAR's branches join it flat, as a
    union may not hold another union."""
    if kind is SCALAR:
        return ["null", *SCALAR]
    return ["null", kind.schema() if isinstance(kind, RecordType) else kind]


READING = RecordType(
    "Reading",
    "A reading: the datastream's stream key, its time, its value, the message id and when it arrived.",
    (("datastream", STRING), ("time", TIME), ("value", SCALAR), ("id", STRING), ("resultTime", TIME)),
)
WINDOW_RESULT = RecordType(
    "WindowResult",
    "A window's result for one key; a later revision replaces an earlier one of the same window.",
    (
        ("key", STRING),
        ("window", STRING),
        ("start", TIME),
        ("end", TIME),
        ("revision", LONG),
        ("replaces", LONGS),
        ("value", SCALAR),
        ("count", LONG),
        ("sum", DOUBLE),
        ("avg", DOUBLE),
        ("min", DOUBLE),
        ("max", DOUBLE),
    ),
)
ALERT_EPISODE = RecordType(
    "AlertEpisode",
    "One episode of a rule on a datastream, opened, updated or closed.",
    (
        ("rule", STRING),
        ("kind", STRING),
        ("datastream", STRING),
        ("event", STRING),
        ("state", STRING),
        ("start", TIME),
        ("last", TIME),
        ("closed_at", TIME),
        ("duration_s", DOUBLE),
        ("max", DOUBLE),
        ("avg", DOUBLE),
        ("threshold", DOUBLE),
        ("direction", STRING),
        ("hysteresis", DOUBLE),
        ("unit", STRING),
    ),
)
ALERT = RecordType(
    "Alert",
    "An alert event: the datastream's key, the event's time and the episode.",
    (("key", STRING), ("time", TIME), ("value", ALERT_EPISODE)),
)
ENTITY = RecordType(
    "Entity",
    "A registry entity (SensorThings), with its links; '@iot.id' and the nested entities are in extra.",
    (("name", STRING), ("description", STRING), ("key", STRING)),
)


def record_type_of(topic: str) -> RecordType | None:
    """The record type of one of iotstream's own topics; None for the others (they stay as written)."""
    if topic == "observations":
        return READING
    if topic == "alerts":
        return ALERT
    if topic.startswith("aggregates."):
        return WINDOW_RESULT
    if topic.startswith("registry."):
        return ENTITY
    return None

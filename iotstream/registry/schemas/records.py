"""The records of the `_schemas` topic, as Confluent's Schema Registry writes them, so the topic means
the same to iotstream and to tools that read it: JSON keys naming what a record is about, JSON values,
and tombstones for what was deleted for good.

    {"keytype":"SCHEMA","subject":"s","version":1,"magic":1} → {"subject","version","id","schema",
                                                                  "deleted", "schemaType"?, "references"?}
    {"keytype":"CONFIG","subject":"s"|null,"magic":0}       → {"compatibilityLevel": "BACKWARD"}
    {"keytype":"MODE","subject":"s"|null,"magic":0}         → {"mode": "READWRITE"}
"""

from typing import Any

import msgspec

__all__ = ["SCHEMAS_TOPIC", "Reference", "SchemaValue", "config_key", "mode_key", "parse_key", "schema_key"]

SCHEMAS_TOPIC = "_schemas"
_encode = msgspec.json.Encoder().encode


class Reference(msgspec.Struct, frozen=True):
    name: str
    subject: str
    version: int


class SchemaValue(msgspec.Struct, omit_defaults=True):
    subject: str
    version: int
    id: int
    schema: str
    deleted: bool = False
    schemaType: str | None = None
    references: list[Reference] = msgspec.field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.schemaType or "AVRO"


def schema_key(subject: str, version: int) -> bytes:
    return _encode({"keytype": "SCHEMA", "subject": subject, "version": version, "magic": 1})


def config_key(subject: str | None) -> bytes:
    return _encode({"keytype": "CONFIG", "subject": subject, "magic": 0})


def mode_key(subject: str | None) -> bytes:
    return _encode({"keytype": "MODE", "subject": subject, "magic": 0})


def parse_key(key: str) -> dict[str, Any] | None:
    """A record's key, or None for one this registry does not use (NOOP, DELETE_SUBJECT, …)."""
    try:
        document = msgspec.json.decode(key)
    except msgspec.DecodeError:
        return None
    if not isinstance(document, dict) or document.get("keytype") not in ("SCHEMA", "CONFIG", "MODE"):
        return None
    return document

"""Avro schemas parsed and compared by Apache Avro's own Python library (`avro`): its
`ReaderWriterCompatibilityChecker` implements the specification's schema-resolution rules (field
defaults, promotions, enum symbols, unions, aliases, named types), as Java's `SchemaCompatibility`
does, and Aiven's Karapace registry uses it too. fastavro, which encodes, has no such checker.

Confluent's levels: BACKWARD — the new schema reads what the old one wrote; FORWARD — the old reads
the new's; FULL — both; `_TRANSITIVE` — against every earlier version, not only the latest.
"""

import json
from dataclasses import dataclass

import avro.errors
import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

__all__ = ["LEVELS", "InvalidSchemaError", "VersionedSchema", "canonical", "incompatibilities", "parse"]

LEVELS = (
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
)


class InvalidSchemaError(ValueError):
    """The text is not an Avro schema; the message says why."""


@dataclass(frozen=True)
class VersionedSchema:
    version: int
    schema: avro.schema.Schema


def parse(text: str) -> avro.schema.Schema:
    try:
        return avro.schema.parse(text)
    except (avro.errors.AvroException, json.JSONDecodeError, TypeError, ValueError) as err:
        raise InvalidSchemaError(f"Invalid schema: {err}") from None


def canonical(schema: avro.schema.Schema) -> str:
    """The schema as parsed, re-serialised with sorted keys: equal for the same schema written with
    other spacing or key order. Not Avro's Parsing Canonical Form, which drops defaults, so a schema that
    only adds a default would count as the one before it (Confluent keeps defaults too)."""
    return json.dumps(schema.to_json(), sort_keys=True, separators=(",", ":"))


def incompatibilities(new: avro.schema.Schema, earlier: list[VersionedSchema], level: str) -> list[str]:
    """Why `new` may not follow the `earlier` versions (oldest first) at `level`; empty when it may."""
    if level == "NONE" or not earlier:
        return []
    against = earlier if level.endswith("_TRANSITIVE") else earlier[-1:]
    base = level.removesuffix("_TRANSITIVE")
    messages: list[str] = []
    for old in reversed(against):
        if base in ("BACKWARD", "FULL"):
            messages += _check(reader=new, writer=old.schema, old=old, level=level, new_reads=True)
        if base in ("FORWARD", "FULL"):
            messages += _check(reader=old.schema, writer=new, old=old, level=level, new_reads=False)
    return messages


def _check(
    *,
    reader: avro.schema.Schema,
    writer: avro.schema.Schema,
    old: VersionedSchema,
    level: str,
    new_reads: bool,
) -> list[str]:
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    result = checker.get_compatibility(reader=reader, writer=writer)
    if result.compatibility is SchemaCompatibilityType.compatible:
        return []
    which = "new" if new_reads else "old"
    found = [
        f"{{errorType:'{kind.name.upper()}', description:'{_describe(kind.name, which)}',"
        f" additionalInfo:'{', '.join(sorted(map(str, result.messages)))}',"
        f" path:'{', '.join(sorted(map(str, result.locations)))}'}}"
        for kind in result.incompatibilities
    ]
    return [*found, f"{{oldSchemaVersion: {old.version}}}", f"{{compatibility: '{level}'}}"]


def _describe(kind: str, reader: str) -> str:
    writer = "old" if reader == "new" else "new"
    return {
        "reader_field_missing_default_value": f"a field of the {reader} schema has no default value and is"
        f" missing in the {writer} schema",
        "type_mismatch": f"a type of the {writer} schema cannot be read as the {reader} schema's",
        "missing_enum_symbols": f"the {reader} schema's enum lacks symbols of the {writer} schema's",
        "missing_union_branch": f"the {reader} schema's union lacks a branch of the {writer} schema's",
        "name_mismatch": f"a named type of the {writer} schema has another name in the {reader} schema",
        "fixed_size_mismatch": f"a fixed type's size differs between the {writer} and the {reader} schema",
    }.get(kind, kind.replace("_", " "))

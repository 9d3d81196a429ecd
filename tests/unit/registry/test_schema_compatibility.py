"""Confluent's compatibility levels over Avro's schema-resolution rules, case by case from the
specification: B = BACKWARD (the new schema reads old data), F = FORWARD (the old reads new data),
FULL = both; and the registry's state skipping what it cannot read."""

import json
from typing import Any

import pytest

from iotstream.registry.schemas.compatibility import VersionedSchema, incompatibilities, parse
from iotstream.registry.schemas.records import schema_key
from iotstream.registry.schemas.state import SchemaState


def record(*fields: dict[str, Any], name: str = "Reading") -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": "iot", "fields": list(fields)}


A = {"name": "a", "type": "string"}
CASES = [  # (case, old, new, compatible under BACKWARD, FORWARD)
    (
        "add a field with a default",
        record(A),
        record(A, {"name": "b", "type": "int", "default": 0}),
        True,
        True,
    ),
    ("add a field without default", record(A), record(A, {"name": "b", "type": "int"}), False, True),
    (
        "remove a field with a default",
        record(A, {"name": "b", "type": "int", "default": 0}),
        record(A),
        True,
        True,
    ),
    ("remove a field without default", record(A, {"name": "b", "type": "int"}), record(A), True, False),
    (
        "promote int to long",
        record({"name": "v", "type": "int"}),
        record({"name": "v", "type": "long"}),
        True,
        False,
    ),
    (
        "promote long to double",
        record({"name": "v", "type": "long"}),
        record({"name": "v", "type": "double"}),
        True,
        False,
    ),
    (
        "promote float to double",
        record({"name": "v", "type": "float"}),
        record({"name": "v", "type": "double"}),
        True,
        False,
    ),
    (
        "string and bytes",
        record({"name": "v", "type": "string"}),
        record({"name": "v", "type": "bytes"}),
        True,
        True,
    ),
    (
        "double to int",
        record({"name": "v", "type": "double"}),
        record({"name": "v", "type": "int"}),
        False,
        True,
    ),
    (
        "add an enum symbol",
        record({"name": "u", "type": {"type": "enum", "name": "Unit", "symbols": ["C", "F"]}}),
        record({"name": "u", "type": {"type": "enum", "name": "Unit", "symbols": ["C", "F", "K"]}}),
        True,
        False,
    ),
    (
        "remove an enum symbol",
        record({"name": "u", "type": {"type": "enum", "name": "Unit", "symbols": ["C", "F", "K"]}}),
        record({"name": "u", "type": {"type": "enum", "name": "Unit", "symbols": ["C", "F"]}}),
        False,
        True,
    ),
    (
        "make a field nullable",
        record(A),
        record({"name": "a", "type": ["null", "string"], "default": None}),
        True,
        False,
    ),
    (
        "add a union branch",
        record({"name": "v", "type": ["int", "string"]}),
        record({"name": "v", "type": ["int", "string", "boolean"]}),
        True,
        False,
    ),
    (
        "rename a field, keeping the old name as an alias",
        record({"name": "temperature", "type": "double"}),
        record({"name": "temp", "type": "double", "aliases": ["temperature"]}),
        True,
        False,
    ),
    ("rename the record", record(A), record(A, name="Measurement"), False, False),
    (
        "add a field without default to a nested record",
        record({"name": "place", "type": record(A, name="Place")}),
        record({"name": "place", "type": record(A, {"name": "floor", "type": "int"}, name="Place")}),
        False,
        True,
    ),
    (
        "add a field with a default to a nested record",
        record({"name": "place", "type": record(A, name="Place")}),
        record(
            {"name": "place", "type": record(A, {"name": "floor", "type": "int", "default": 0}, name="Place")}
        ),
        True,
        True,
    ),
]


@pytest.mark.parametrize(("case", "old", "new", "backward", "forward"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("transitive", ["", "_TRANSITIVE"])
def test_each_level_follows_avros_resolution_rules(
    case: str, old: dict[str, Any], new: dict[str, Any], backward: bool, forward: bool, transitive: str
) -> None:
    earlier = [VersionedSchema(1, parse(json.dumps(old)))]
    candidate = parse(json.dumps(new))
    verdicts = {
        level: not incompatibilities(candidate, earlier, level + transitive)
        for level in ("BACKWARD", "FORWARD", "FULL")
    }
    assert verdicts == {"BACKWARD": backward, "FORWARD": forward, "FULL": backward and forward}
    assert not incompatibilities(candidate, earlier, "NONE")


def test_transitive_levels_check_every_earlier_version_and_the_others_only_the_latest() -> None:
    v1 = record(A)
    v2 = record(A, {"name": "b", "type": "int", "default": 0})
    v3 = record(A, {"name": "b", "type": "int"})  # reads v2's data (b is there), not v1's (no b, no default)
    earlier = [VersionedSchema(1, parse(json.dumps(v1))), VersionedSchema(2, parse(json.dumps(v2)))]
    candidate = parse(json.dumps(v3))
    assert incompatibilities(candidate, earlier, "BACKWARD") == []
    problems = incompatibilities(candidate, earlier, "BACKWARD_TRANSITIVE")
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in problems[0]
    assert "{oldSchemaVersion: 1}" in problems


def test_a_record_the_registry_cannot_read_is_skipped() -> None:
    good = {"subject": "s", "version": 1, "id": 1, "schema": '"string"'}
    table = {schema_key("s", 1).decode(): good, schema_key("s", 2).decode(): {"subject": "s", "id": "x"}}
    state = SchemaState.of(table)
    assert [v.version for v in state.live("s")] == [1]
    assert state.level("s") == "BACKWARD"

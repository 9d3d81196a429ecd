"""The Schema Registry's operations over the `_schemas` topic, with Confluent's errors.

A change is a record appended to the topic and read back before it is answered, so the state is
whatever the topic says: it survives restarts, and several API processes that read the topic agree.
Changes within one process are serialised by a lock; two processes registering new schemas at the same
moment could pick the same id (Confluent elects one writer for this) — run one API process, or point
`[schemas] url` at an existing registry, where that matters.
"""

import functools
import threading
from dataclasses import dataclass
from typing import Any

import msgspec

from iotstream.log.base import BaseLog
from iotstream.log.types import CleanupPolicy, TopicSpec
from iotstream.processing.tables import TableReader
from iotstream.registry.schemas.compatibility import (
    LEVELS,
    InvalidSchemaError,
    VersionedSchema,
    canonical,
    incompatibilities,
    parse,
)
from iotstream.registry.schemas.records import (
    SCHEMAS_TOPIC,
    Reference,
    SchemaValue,
    config_key,
    mode_key,
    schema_key,
)
from iotstream.registry.schemas.state import SchemaState

__all__ = ["MODES", "SchemaRegistry", "SchemaRegistryError", "no_subject_level"]

MODES = ("READWRITE", "READONLY", "IMPORT")


@dataclass
class SchemaRegistryError(Exception):
    """An HTTP status, Confluent's error code and its message."""

    status: int
    code: int
    message: str

    def __str__(self) -> str:
        return self.message


def no_subject_level(subject: str) -> SchemaRegistryError:
    return SchemaRegistryError(
        404, 40408, f"Subject '{subject}' does not have subject-level compatibility configured"
    )


def _subject_not_found(subject: str) -> SchemaRegistryError:
    return SchemaRegistryError(404, 40401, f"Subject '{subject}' not found.")


class SchemaRegistry:
    def __init__(self, log: BaseLog) -> None:
        spec = TopicSpec(SCHEMAS_TOPIC, partitions=1, cleanup_policy=CleanupPolicy.COMPACT)
        log.create_topic(spec, exist_ok=True)
        self._tables: dict[str, dict[str, Any]] = {}
        self._reader = TableReader(log, [SCHEMAS_TOPIC], self._tables)
        self._producer = log.producer()
        self._lock = threading.RLock()
        self._state = SchemaState.of(self._tables.get(SCHEMAS_TOPIC, {}))

    def state(self) -> SchemaState:
        """The state as the topic has it now (another process may have written since)."""
        with self._lock:
            if self._reader.catch_up():  # indexed again only when the topic brought something new
                self._state = SchemaState.of(self._tables.get(SCHEMAS_TOPIC, {}))
            return self._state

    # schemas

    def register(
        self, subject: str, text: str, kind: str = "AVRO", references: list[Reference] | None = None
    ) -> int:
        """The id of `text` under `subject`: the existing one when it is registered there already."""
        schema = self._parsed(text, kind)
        with self._lock:
            state = self.state()
            if state.mode(subject) == "READONLY":
                raise SchemaRegistryError(422, 42205, f"Subject {subject} is in read-only mode")
            versions = state.live(subject)
            for value in versions:
                if _canonical_text(value.schema) == canonical(schema):
                    return value.id
            problems = incompatibilities(schema, _versioned(versions), state.level(subject))
            if problems:
                raise SchemaRegistryError(
                    409,
                    409,
                    f"Schema being registered is incompatible with an earlier schema for subject"
                    f' "{subject}", details: [{", ".join(problems)}]',
                )
            schema_id = self._id_for(state, schema)
            version = max(state.versions.get(subject, {}), default=0) + 1
            value = SchemaValue(
                subject,
                version,
                schema_id,
                text,
                False,
                None if kind == "AVRO" else kind,
                list(references or []),
            )
            self._append(schema_key(subject, version), msgspec.json.encode(value))
            return schema_id

    def lookup(self, subject: str, text: str, kind: str = "AVRO", *, deleted: bool = False) -> SchemaValue:
        schema = self._parsed(text, kind)
        state = self.state()
        if subject not in state.versions:
            raise _subject_not_found(subject)
        for value in state.live(subject, deleted=deleted):
            if _canonical_text(value.schema) == canonical(schema):
                return value
        raise SchemaRegistryError(404, 40403, "Schema not found")

    def by_id(self, schema_id: int) -> SchemaValue:
        value = self.state().by_id.get(schema_id)
        if value is None:
            raise SchemaRegistryError(404, 40403, "Schema not found")
        return value

    def version(self, subject: str, version: str | int, *, deleted: bool = False) -> SchemaValue:
        state = self.state()
        versions = state.live(subject, deleted=True)
        if not versions:
            raise _subject_not_found(subject)
        wanted = _version_number(version)
        if wanted == -1:
            live = [v for v in versions if deleted or not v.deleted]
            if not live:
                raise SchemaRegistryError(404, 40402, f"Version {version} not found.")
            return live[-1]
        for value in versions:
            if value.version == wanted and (deleted or not value.deleted):
                return value
        raise SchemaRegistryError(404, 40402, f"Version {version} not found.")

    def versions(self, subject: str, *, deleted: bool = False) -> list[int]:
        found = self.state().live(subject, deleted=deleted)
        if not found:
            raise _subject_not_found(subject)
        return [value.version for value in found]

    # deletes

    def delete_subject(self, subject: str, *, permanent: bool = False) -> list[int]:
        with self._lock:
            state = self.state()
            versions = state.live(subject, deleted=True)
            if not versions:
                raise _subject_not_found(subject)
            live = [v for v in versions if not v.deleted]
            if permanent and live:
                raise SchemaRegistryError(
                    404, 40405, f"Subject '{subject}' was not deleted first before being permanently deleted"
                )
            if not permanent and not live:
                raise SchemaRegistryError(
                    404,
                    40404,
                    f"Subject '{subject}' was soft deleted.Set permanent=true to delete permanently",
                )
            for value in versions:
                self._delete(state, value, permanent)
            return [value.version for value in versions]

    def delete_version(self, subject: str, version: str | int, *, permanent: bool = False) -> int:
        with self._lock:
            value = self.version(subject, version, deleted=permanent)
            if permanent and not value.deleted:
                raise SchemaRegistryError(
                    404,
                    40407,
                    f"Subject '{subject}' Version {value.version} was not deleted first before"
                    " being permanently deleted",
                )
            self._delete(self.state(), value, permanent)
            return value.version

    def _delete(self, state: SchemaState, value: SchemaValue, permanent: bool) -> None:
        referrers = state.referenced_by(value.subject, value.version)
        if referrers:
            raise SchemaRegistryError(
                422,
                42206,
                f"One or more references exist to the schema {{subject={value.subject},"
                f" version={value.version}}}: {referrers}",
            )
        key = schema_key(value.subject, value.version)
        if permanent:
            self._append(key, None)
        elif not value.deleted:
            deleted = msgspec.structs.replace(value, deleted=True)
            self._append(key, msgspec.json.encode(deleted))

    # compatibility and modes

    def compatible(self, subject: str, text: str, version: str | int | None, kind: str = "AVRO") -> list[str]:
        """Why `text` is not compatible with the given version (None: with what its level checks)."""
        schema = self._parsed(text, kind)
        state = self.state()
        if version is None:
            return incompatibilities(schema, _versioned(state.live(subject)), state.level(subject))
        old = self.version(subject, version)
        level = state.level(subject)
        return incompatibilities(schema, _versioned([old]), level.removesuffix("_TRANSITIVE"))

    def set_level(self, subject: str | None, level: str) -> str:
        if level not in LEVELS:
            raise SchemaRegistryError(
                422, 42203, f"Invalid compatibility level. Valid values are {', '.join(LEVELS)}"
            )
        with self._lock:
            self._append(config_key(subject), msgspec.json.encode({"compatibilityLevel": level}))
        return level

    def delete_level(self, subject: str) -> str:
        with self._lock:
            state = self.state()
            if subject not in state.levels:
                raise no_subject_level(subject)
            level = state.levels[subject]
            self._append(config_key(subject), None)
            return level

    def set_mode(self, subject: str | None, mode: str) -> str:
        if mode not in MODES:
            raise SchemaRegistryError(422, 42204, f"Invalid mode. Valid values are {', '.join(MODES)}")
        with self._lock:
            self._append(mode_key(subject), msgspec.json.encode({"mode": mode}))
        return mode

    # the topic

    def _append(self, key: bytes, value: bytes | None) -> None:
        failures: list[Exception] = []
        self._producer.produce(
            SCHEMAS_TOPIC,
            value,
            key,
            partition=0,
            on_delivery=lambda e, _m: failures.append(e) if e else None,
        )
        if self._producer.flush(30) or failures:
            raise SchemaRegistryError(
                500, 50001, f"Error while storing the schema: {failures[:1] or 'timed out'}"
            )
        self.state()

    def _parsed(self, text: str, kind: str) -> Any:
        if kind != "AVRO":
            raise SchemaRegistryError(
                422, 42201, f"Invalid schema: schema type {kind} is not supported here; use AVRO"
            )
        try:
            return parse(text)
        except InvalidSchemaError as err:
            raise SchemaRegistryError(422, 42201, str(err)) from None

    def _id_for(self, state: SchemaState, schema: Any) -> int:
        """The id the same schema has under another subject, or a new one (ids name schemas)."""
        form = canonical(schema)
        for schema_id, value in state.by_id.items():
            if (value.schemaType or "AVRO") == "AVRO" and _canonical_text(value.schema) == form:
                return schema_id
        return state.next_id()

    def close(self) -> None:
        self._producer.close()
        self._reader.close()


@functools.lru_cache(maxsize=4096)
def _canonical_text(text: str) -> str:
    """A registered schema's canonical form, worked out once: lookups compare every version."""
    return canonical(parse(text))


def _versioned(values: list[SchemaValue]) -> list[VersionedSchema]:
    return [VersionedSchema(value.version, parse(value.schema)) for value in values]


def _version_number(version: str | int) -> int:
    """An explicit version, or -1 for `latest`; anything else is Confluent's 42202."""
    if version == "latest" or version == -1:
        return -1
    try:
        number = int(version)
    except ValueError:
        number = 0
    if number < 1:
        raise SchemaRegistryError(
            422,
            42202,
            f"The specified version '{version}' is not a valid version id. Allowed values are between"
            ' [1, 2^31-1] and the string "latest"',
        )
    return number

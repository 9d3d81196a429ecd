"""What the `_schemas` topic says, indexed for the API: every subject's versions, every id's schema, the
compatibility levels and modes. Rebuilt from the compacted topic's latest record per key, so every API
process reading the topic agrees."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from iotstream.registry.schemas.records import SchemaValue, parse_key

__all__ = ["DEFAULT_LEVEL", "DEFAULT_MODE", "SchemaState"]

DEFAULT_LEVEL = "BACKWARD"  # Confluent's default
DEFAULT_MODE = "READWRITE"


@dataclass
class SchemaState:
    versions: dict[str, dict[int, SchemaValue]] = field(default_factory=dict)  # subject → version → value
    by_id: dict[int, SchemaValue] = field(default_factory=dict)  # the first registration of each id
    levels: dict[str | None, str] = field(default_factory=dict)  # None: the global level
    modes: dict[str | None, str] = field(default_factory=dict)

    @classmethod
    def of(cls, table: Mapping[str, Any]) -> "SchemaState":
        state = cls()
        for raw_key, value in table.items():
            key = parse_key(raw_key)
            if key is None or not isinstance(value, dict):
                continue
            if key["keytype"] == "SCHEMA":
                try:
                    state._add(msgspec.convert(value, SchemaValue))
                except msgspec.ValidationError:  # another writer's record: skipped, never fatal
                    continue
            elif key["keytype"] == "CONFIG" and "compatibilityLevel" in value:
                state.levels[key.get("subject")] = str(value["compatibilityLevel"])
            elif key["keytype"] == "MODE" and "mode" in value:
                state.modes[key.get("subject")] = str(value["mode"])
        return state

    def _add(self, value: SchemaValue) -> None:
        self.versions.setdefault(value.subject, {})[value.version] = value
        known = self.by_id.get(value.id)
        if known is None or (known.subject, known.version) > (value.subject, value.version):
            self.by_id[value.id] = value

    def live(self, subject: str, *, deleted: bool = False) -> list[SchemaValue]:
        """A subject's versions, oldest first; soft-deleted ones only with `deleted`."""
        found = self.versions.get(subject, {})
        return [found[v] for v in sorted(found) if deleted or not found[v].deleted]

    def subjects(self, *, deleted: bool = False) -> list[str]:
        return sorted(s for s in self.versions if self.live(s, deleted=deleted))

    def next_id(self) -> int:
        return max(self.by_id, default=0) + 1

    def level(self, subject: str | None) -> str:
        if subject is not None and subject in self.levels:
            return self.levels[subject]
        return self.levels.get(None, DEFAULT_LEVEL)

    def mode(self, subject: str | None) -> str:
        if subject is not None and subject in self.modes:
            return self.modes[subject]
        return self.modes.get(None, DEFAULT_MODE)

    def uses(self, schema_id: int) -> list[tuple[str, int]]:
        """(subject, version) of every live registration of an id."""
        return sorted(
            (subject, version)
            for subject, versions in self.versions.items()
            for version, value in versions.items()
            if value.id == schema_id and not value.deleted
        )

    def referenced_by(self, subject: str, version: int) -> list[int]:
        """Ids of the schemas whose references name this subject version."""
        return sorted(
            {
                value.id
                for versions in self.versions.values()
                for value in versions.values()
                if not value.deleted
                and any(r.subject == subject and r.version == version for r in value.references)
            }
        )

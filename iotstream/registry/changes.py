"""Which catalog entities a transaction touched, collected from SQLAlchemy's flush events.

Collecting them here, rather than in each writer, means every way into the catalog — the SensorThings
API, the placeholders ingestion registers, a migration script — is seen, and the registry topics
cannot silently fall behind one of them.
"""

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import InstanceState, Session, sessionmaker

from iotstream.registry import models

__all__ = ["Changes", "changes_of", "track"]

_KEY = "iotstream.changes"
_ENTITIES = (
    models.Thing,
    models.Location,
    models.HistoricalLocation,
    models.Sensor,
    models.ObservedProperty,
    models.Datastream,
    models.MultiDatastream,
    models.FeatureOfInterest,
)


@dataclass
class Changes:
    """Ids per model class that were created, changed or deleted; the publisher reads what is left of
    them after the commit, so a missing id means deleted."""

    touched: dict[type, set[int]] = field(default_factory=dict)
    deleted_datastreams: set[str] = field(default_factory=set)  # names: the key of registry.datastreams
    created: dict[Any, None] = field(default_factory=dict)  # new rows (a dict: an ordered set)
    updated: dict[Any, set[str]] = field(default_factory=dict)  # changed rows → their changed attributes

    def add(self, model: type, ids: Any) -> None:
        self.touched.setdefault(model, set()).update(ids)

    def ids(self, model: type) -> set[int]:
        return self.touched.get(model, set())


def track(sessions: sessionmaker[Session]) -> None:
    event.listen(sessions, "before_flush", _before_flush)
    event.listen(sessions, "after_flush", _after_flush)


def changes_of(session: Session) -> Changes | None:
    changes: Changes | None = session.info.pop(_KEY, None)
    return changes


def _changes(session: Session) -> Changes:
    changes: Changes = session.info.setdefault(_KEY, Changes())
    return changes


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    """Deleted rows, and what they take along, while their links can still be loaded."""
    changes = _changes(session)
    for row in session.deleted:
        if not isinstance(row, _ENTITIES):
            continue
        changes.add(type(row), [row.id])
        if isinstance(row, models.Datastream):
            changes.deleted_datastreams.add(row.key)
        elif isinstance(row, models.Location):  # its Things lose a location
            changes.add(models.Thing, [thing.id for thing in row.things])
        elif isinstance(row, models.Thing):  # the database deletes its HistoricalLocations
            changes.add(models.HistoricalLocation, [h.id for h in row.historical_locations])


def _after_flush(session: Session, _context: Any) -> None:
    """New and changed rows, once new ones have their ids (attribute history is still there)."""
    changes = _changes(session)
    for row in session.new:
        if isinstance(row, _ENTITIES):
            changes.add(type(row), [row.id])
            changes.created[row] = None
    for row in session.dirty:
        if isinstance(row, _ENTITIES):
            changes.add(type(row), [row.id])
            state: InstanceState[Any] = inspect(row)
            changed = {attr.key for attr in state.attrs if attr.history.has_changes()}
            if row not in changes.created:
                changes.updated.setdefault(row, set()).update(changed)

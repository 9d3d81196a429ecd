"""The records of the registry topics: what a stream job sees when it joins readings with the catalog.

`registry.datastreams` is keyed by the Datastream's stream key — the key its readings travel under — and
carries its Thing (with the Thing's Locations), Sensor and ObservedProperty, so one lookup by a
reading's key gives the device name, the place and the unit. The other `registry.<entity set>` topics
are keyed by `@iot.id` and carry the entity with its to-one links as `{"@iot.id": n}`.
"""

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from iotstream.registry import models
from iotstream.registry.changes import Changes
from iotstream.registry.sensorthings.entities import ENTITY_SETS, OBSERVATIONS, EntitySet
from iotstream.registry.sensorthings.json import property_value

__all__ = ["DATASTREAMS_TOPIC", "TOPICS", "Record", "all_records", "changed_records"]

TOPICS = {
    name: f"registry.{name.lower()}" for name, entities in ENTITY_SETS.items() if entities is not OBSERVATIONS
}
DATASTREAMS_TOPIC = TOPICS["Datastreams"]
Record = tuple[str, str, dict[str, Any] | None]  # topic, key, value (None: a tombstone)

_CHUNK = 5_000  # ids per IN (…): far below SQLite's and PostgreSQL's bind-parameter limits
_BY_ID = [entities for name, entities in ENTITY_SETS.items() if name in TOPICS and name != "Datastreams"]
_DENORMALISED = (
    selectinload(models.Datastream.thing).selectinload(models.Thing.locations),
    selectinload(models.Datastream.sensor),
    selectinload(models.Datastream.observed_property),
)


def changed_records(session: Session, changes: Changes) -> Iterator[Record]:
    """The current state of everything `changes` touched; ids no longer there become tombstones."""
    for entities in _BY_ID:
        wanted = changes.ids(entities.model)
        found = set()
        for row in _rows(session, entities.model, wanted):
            found.add(row.id)
            yield TOPICS[entities.name], str(row.id), entity_document(entities, row)
        yield from ((TOPICS[entities.name], str(i), None) for i in sorted(wanted - found))
    keys = set()
    for row in _rows(session, models.Datastream, _affected_datastreams(session, changes), _DENORMALISED):
        keys.add(row.key)
        yield DATASTREAMS_TOPIC, row.key, datastream_document(row)
    yield from ((DATASTREAMS_TOPIC, key, None) for key in sorted(changes.deleted_datastreams - keys))


def all_records(session: Session) -> Iterator[Record]:
    for entities in _BY_ID:
        for row in session.scalars(select(entities.model).order_by(entities.model.id)):
            yield TOPICS[entities.name], str(row.id), entity_document(entities, row)
    query = select(models.Datastream).options(*_DENORMALISED).order_by(models.Datastream.id)
    for row in session.scalars(query):
        yield DATASTREAMS_TOPIC, row.key, datastream_document(row)


def entity_document(entities: EntitySet, row: Any) -> dict[str, Any]:
    document: dict[str, Any] = {"@iot.id": row.id}
    document |= {prop.json: property_value(prop, row) for prop in entities.properties}
    for link in entities.links:
        if not link.many and link.attribute:
            document[link.json] = {"@iot.id": getattr(row, f"{link.attribute}_id")}
    return document


def datastream_document(row: models.Datastream) -> dict[str, Any]:
    thing = entity_document(ENTITY_SETS["Things"], row.thing)
    thing["Locations"] = [entity_document(ENTITY_SETS["Locations"], loc) for loc in row.thing.locations]
    return entity_document(ENTITY_SETS["Datastreams"], row) | {
        "key": row.key,
        "Thing": thing,
        "Sensor": entity_document(ENTITY_SETS["Sensors"], row.sensor),
        "ObservedProperty": entity_document(ENTITY_SETS["ObservedProperties"], row.observed_property),
    }


def _affected_datastreams(session: Session, changes: Changes) -> set[int]:
    """A Datastream's record holds its Thing, Locations, Sensor and ObservedProperty: a change to any
    of them changes the record."""
    ds, places = models.Datastream, models.thing_locations
    things = changes.ids(models.Thing) | _in_chunks(
        session, places.c.thing_id, places.c.location_id, changes.ids(models.Location)
    )
    return (
        changes.ids(ds)
        | _in_chunks(session, ds.id, ds.thing_id, things)
        | _in_chunks(session, ds.id, ds.sensor_id, changes.ids(models.Sensor))
        | _in_chunks(session, ds.id, ds.observed_property_id, changes.ids(models.ObservedProperty))
    )


def _in_chunks(session: Session, wanted: Any, column: Any, ids: set[int]) -> set[int]:
    found: set[int] = set()
    for chunk in _chunked(ids):
        found.update(session.scalars(select(wanted).where(column.in_(chunk))))
    return found


def _rows(session: Session, model: Any, ids: set[int], options: Iterable[Any] = ()) -> Iterator[Any]:
    for chunk in _chunked(ids):
        yield from session.scalars(
            select(model).where(model.id.in_(chunk)).options(*options).order_by(model.id)
        )


def _chunked(ids: set[int]) -> Iterator[list[int]]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]

"""Copies of an edge site's Datastreams (with their Thing, Locations, Sensor and ObservedProperty) in the
central catalog, from the edge's `registry.datastreams` records, so central dashboards, SensorThings
and jobs see the edge's devices with their metadata.

A copy is found again by what it was copied from — `properties.site` plus the edge's `@iot.id` — so a
record relayed twice updates the same rows; the Datastream's key is the central name of its readings.
"""

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from iotstream.registry import models
from iotstream.registry.datastreams import PLACEHOLDER_OBSERVATION_TYPE
from iotstream.registry.keys import KEY_PROPERTY

__all__ = ["copy_datastream"]


def copy_datastream(session: Session, site: str, key: str, document: dict[str, Any]) -> None:
    """Create or update the central Datastream `key` from an edge record (see `registry.records`)."""
    origin = {"site": site, "edge_id": document.get("@iot.id")}
    thing_doc = document.get("Thing") or {}
    thing = _copy(session, models.Thing, site, thing_doc) or models.Thing(name=key)
    thing.name = str(thing_doc.get("name") or key)
    thing.description = str(thing_doc.get("description") or "")
    thing.properties = (thing_doc.get("properties") or {}) | {
        "site": site,
        "edge_id": thing_doc.get("@iot.id"),
    }
    thing.locations = [_location(session, site, place) for place in thing_doc.get("Locations") or []]
    sensor = _sensor(session, site, document.get("Sensor") or {})
    observed_property = _observed_property(session, site, document.get("ObservedProperty") or {})
    row = session.scalar(select(models.Datastream).where(models.Datastream.key == key))
    if row is None:
        row = models.Datastream(key=key, thing=thing, sensor=sensor, observed_property=observed_property)
        session.add(row)
    row.thing, row.sensor, row.observed_property = thing, sensor, observed_property
    row.name = str(document.get("name") or key)
    row.description = str(document.get("description") or "")
    row.observation_type = str(document.get("observationType") or PLACEHOLDER_OBSERVATION_TYPE)
    row.unit_of_measurement = document.get("unitOfMeasurement")
    row.properties = (document.get("properties") or {}) | origin | {KEY_PROPERTY: key}
    row.placeholder = False


def _copy(session: Session, model: Any, site: str, document: dict[str, Any]) -> Any:
    """The central copy of an edge entity, if there is one."""
    edge_id = document.get("@iot.id")
    if edge_id is None:
        return None
    for row in session.scalars(select(model).where(model.name == str(document.get("name") or ""))):
        properties = row.properties or {}
        if properties.get("site") == site and properties.get("edge_id") == edge_id:
            return row
    return None


def _copied(session: Session, model: Any, site: str, document: dict[str, Any], **fields: Any) -> Any:
    """The central copy of an edge entity, found again or new, with the edge's name, description and
    properties (plus where it came from) and `fields`."""
    row = _copy(session, model, site, document) or model()
    row.name = str(document.get("name") or "unknown")
    row.description = str(document.get("description") or "")
    row.properties = (document.get("properties") or {}) | {"site": site, "edge_id": document.get("@iot.id")}
    for name, value in fields.items():
        setattr(row, name, value)
    return row


def _location(session: Session, site: str, document: dict[str, Any]) -> models.Location:
    encoding = str(document.get("encodingType") or "application/geo+json")
    location: models.Location = _copied(
        session, models.Location, site, document, encoding_type=encoding, location=document.get("location")
    )
    return location


def _sensor(session: Session, site: str, document: dict[str, Any]) -> models.Sensor:
    encoding, metadata = str(document.get("encodingType") or "text/plain"), document.get("metadata") or ""
    sensor: models.Sensor = _copied(
        session, models.Sensor, site, document, encoding_type=encoding, sensor_metadata=metadata
    )
    return sensor


def _observed_property(session: Session, site: str, document: dict[str, Any]) -> models.ObservedProperty:
    definition = str(document.get("definition") or "")
    observed: models.ObservedProperty = _copied(
        session, models.ObservedProperty, site, document, definition=definition
    )
    return observed

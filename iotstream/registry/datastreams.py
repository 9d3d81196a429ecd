"""Which datastreams exist, for ingestion: the catalog's Datastreams, asked once per payload, so the names
are held in memory and reloaded when the catalog changes. A reading for an unknown name registers a
placeholder Datastream (its own Thing, a shared "unknown" Sensor and ObservedProperty) that a user
completes later through the SensorThings API.
"""

import threading
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from iotstream.registry import models
from iotstream.registry.catalog import Catalog

__all__ = ["PLACEHOLDER_OBSERVATION_TYPE", "DatastreamNames"]

PLACEHOLDER_OBSERVATION_TYPE = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Observation"
_UNKNOWN = "unknown (registered automatically)"


class DatastreamNames:
    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._lock = threading.Lock()
        self._names: frozenset[str] = frozenset()
        self.reload()

    def known(self, name: str) -> bool:
        return name in self._names  # a frozenset swapped whole: readers need no lock

    def names(self) -> frozenset[str]:
        return self._names

    def describe(self) -> dict[str, dict[str, Any]]:
        """Name → what datastream listings show from the catalog: its SensorThings id, unit symbol,
        Thing, and whether it is still a placeholder."""
        ds = models.Datastream
        query = select(ds.name, ds.id, ds.unit_of_measurement, models.Thing.name, ds.placeholder).join(
            ds.thing
        )
        with self._catalog.session() as session:
            rows = session.execute(query).all()
        return {
            name: {"registry_id": id_, "unit": (unit or {}).get("symbol"), "thing": thing, "placeholder": p}
            for name, id_, unit, thing, p in rows
        }

    def reload(self) -> None:
        with self._catalog.session() as session:
            names = frozenset(session.scalars(select(models.Datastream.name)))
        self._names = names

    def add(self, names: Iterable[str]) -> None:
        """Names a transaction is creating: known at once, so readings sent in the same request pass."""
        with self._lock:
            self._names = self._names | frozenset(names)

    def register(self, names: Iterable[str]) -> list[str]:
        """Placeholders for the names the catalog does not have yet; returns those created."""
        with self._lock, self._catalog.session(write=True) as session:
            existing = set(
                session.scalars(select(models.Datastream.name).where(models.Datastream.name.in_(names)))
            )
            created = [name for name in dict.fromkeys(names) if name not in existing]
            if created:
                sensor, observed = _unknown_sensor(session), _unknown_property(session)
                for name in created:
                    session.add(_placeholder(name, sensor, observed))
        self.reload()
        return created


def _placeholder(name: str, sensor: models.Sensor, observed: models.ObservedProperty) -> models.Datastream:
    thing = models.Thing(
        name=name,
        description="registered automatically when its first reading arrived; complete it",
        properties={"placeholder": True},
    )
    return models.Datastream(
        name=name,
        description="registered automatically when its first reading arrived",
        observation_type=PLACEHOLDER_OBSERVATION_TYPE,
        unit_of_measurement={"name": None, "symbol": None, "definition": None},
        placeholder=True,
        thing=thing,
        sensor=sensor,
        observed_property=observed,
    )


def _unknown_sensor(session: Session) -> models.Sensor:
    found = session.scalar(select(models.Sensor).where(models.Sensor.name == _UNKNOWN))
    return found or models.Sensor(
        name=_UNKNOWN, description="", encoding_type="text/plain", sensor_metadata=""
    )


def _unknown_property(session: Session) -> models.ObservedProperty:
    found = session.scalar(select(models.ObservedProperty).where(models.ObservedProperty.name == _UNKNOWN))
    return found or models.ObservedProperty(name=_UNKNOWN, definition="", description="")

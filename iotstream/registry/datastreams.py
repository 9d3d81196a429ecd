"""Which datastreams exist, for ingestion: the stream keys of the catalog's Datastreams, asked once per
payload, so they are held in memory and reloaded when the catalog changes. A reading for an unknown key
registers a placeholder Datastream (its own Thing, a shared "unknown" Sensor and ObservedProperty) named
and keyed as it was sent, which a user completes (and may rename) later through the SensorThings API.
"""

import threading
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from iotstream.registry import models
from iotstream.registry.access.principal import owner_of
from iotstream.registry.catalog import Catalog
from iotstream.registry.keys import KEY_PROPERTY

__all__ = ["PLACEHOLDER_OBSERVATION_TYPE", "DatastreamKeys"]

PLACEHOLDER_OBSERVATION_TYPE = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Observation"
_UNKNOWN = "unknown (registered automatically)"


class DatastreamKeys:
    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._lock = threading.Lock()  # swaps of the key set
        self._registering = threading.Lock()  # one registration at a time in this process
        self._keys: frozenset[str] = frozenset()
        self.reload()

    def known(self, key: str) -> bool:
        return key in self._keys  # a frozenset swapped whole: readers need no lock

    def keys(self) -> frozenset[str]:
        return self._keys

    def describe(self) -> dict[str, dict[str, Any]]:
        """Key → what datastream listings show from the catalog: its name, SensorThings id, unit
        symbol, Thing, and whether it is still a placeholder."""
        ds = models.Datastream
        query = select(
            ds.key, ds.name, ds.id, ds.unit_of_measurement, models.Thing.name, ds.placeholder
        ).join(ds.thing)
        with self._catalog.session() as session:
            rows = session.execute(query).all()
        return {
            key: {
                "name": name,
                "registry_id": id_,
                "unit": (unit or {}).get("symbol"),
                "thing": thing,
                "placeholder": placeholder,
            }
            for key, name, id_, unit, thing, placeholder in rows
        }

    def reload(self) -> None:
        with self._catalog.session() as session:
            keys = frozenset(session.scalars(select(models.Stream.key)))  # MultiDatastreams' too
        self._keys = keys

    def add(self, keys: Iterable[str]) -> None:
        """Keys a transaction is creating: known at once, so readings sent in the same request pass."""
        with self._lock:
            self._keys = self._keys | frozenset(keys)

    def register(self, keys: Iterable[str]) -> list[str]:
        """Placeholders for the keys the catalog does not have yet; returns those created. Not under
        `_lock`: a SensorThings request holding the catalog's write lock may be waiting in `add`."""
        keys = [key for key in keys if not self.known(key)]  # a relayed batch names known ones again
        if not keys:
            return []
        try:
            created = self._create(keys)
        except IntegrityError:  # another process (a second API) registered one of them meanwhile
            created = self._create(keys)
        self.add(keys)  # each is in the catalog now; reloading them all would make n registrations O(n²)
        return created

    def _create(self, keys: list[str]) -> list[str]:
        with self._registering, self._catalog.session(write=True) as session:
            existing = set(session.scalars(select(models.Stream.key).where(models.Stream.key.in_(keys))))
            created = [key for key in dict.fromkeys(keys) if key not in existing]
            unknowns: dict[str, tuple[models.Sensor, models.ObservedProperty]] = {}
            for key in created:
                tenant, _ = owner_of(key)
                if tenant not in unknowns:
                    unknowns[tenant] = _unknown_sensor(session, tenant), _unknown_property(session, tenant)
                session.add(_placeholder(key, *unknowns[tenant]))
        return created


def _placeholder(key: str, sensor: models.Sensor, observed: models.ObservedProperty) -> models.Datastream:
    """Named, in its tenant, as the tenant sent it."""
    tenant, name = owner_of(key)
    thing = models.Thing(
        name=name,
        description="registered automatically when its first reading arrived; complete it",
        properties={"placeholder": True},
        tenant=tenant,
    )
    return models.Datastream(
        key=key,
        name=name,
        description="registered automatically when its first reading arrived",
        observation_type=PLACEHOLDER_OBSERVATION_TYPE,
        unit_of_measurement={"name": None, "symbol": None, "definition": None},
        properties={KEY_PROPERTY: name},
        placeholder=True,
        thing=thing,
        sensor=sensor,
        observed_property=observed,
        tenant=tenant,
    )


def _unknown_sensor(session: Session, tenant: str) -> models.Sensor:
    """Each tenant's own: a shared one would link its Datastreams to every other tenant's."""
    sensor = models.Sensor
    found = session.scalar(select(sensor).where(sensor.name == _UNKNOWN, sensor.tenant == tenant))
    return found or sensor(
        name=_UNKNOWN, description="", encoding_type="text/plain", sensor_metadata="", tenant=tenant
    )


def _unknown_property(session: Session, tenant: str) -> models.ObservedProperty:
    observed = models.ObservedProperty
    found = session.scalar(select(observed).where(observed.name == _UNKNOWN, observed.tenant == tenant))
    return found or observed(name=_UNKNOWN, definition="", description="", tenant=tenant)

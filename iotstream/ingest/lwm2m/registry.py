"""LwM2M registrations in the registry: an endpoint is a Thing, each sensor value the server observes
a Datastream.

The Thing is named after the endpoint and keeps the registration in its `lwm2m` property (id, object
links, lifetime, binding, address, whether it is registered now). An update rewrites it; a
de-registration or an expiry marks it unregistered. Nothing is deleted: the readings keep their
Datastreams, and the device may come back.

Each observed resource becomes a Datastream keyed `<endpoint>/<object>/<instance>/<resource>`, named
and with the unit `objects` gives; its Sensor is the device's object (`boiler-7 /3303`), its
ObservedProperty the resource (`Temperature Sensor Value`). A placeholder that ingestion registered
for the key (a reading came first) is completed instead. It works from the `lwm2m.registrations`
records, so it could as well follow that topic in another process.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from iotstream.ingest.lwm2m.links import Link
from iotstream.ingest.lwm2m.objects import Resource, describe
from iotstream.ingest.lwm2m.observer import Watch
from iotstream.registry import models
from iotstream.registry.access.principal import DEFAULT_TENANT
from iotstream.registry.catalog import Catalog
from iotstream.registry.datastreams import DatastreamKeys
from iotstream.registry.keys import KEY_PROPERTY

__all__ = ["Lwm2mRegistry"]

_OBSERVATION = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
_ENDED = {"delete", "expired"}


class Lwm2mRegistry:
    def __init__(self, catalog: Catalog, keys: DatastreamKeys, watch: Watch | None = None) -> None:
        self._catalog = catalog
        self._keys = keys
        self._watch = watch or Watch()

    def reflect(self, records: Sequence[dict[str, Any]]) -> None:
        """Bring the registry in line with registration records, in their order. Once more when
        another writer registered one of the keys meanwhile (a reading's placeholder)."""
        try:
            self._reflect(records)
        except IntegrityError:
            self._reflect(records)

    def _reflect(self, records: Sequence[dict[str, Any]]) -> None:
        created: list[str] = []
        with self._catalog.session(write=True) as session:
            for record in records:
                thing = _thing(session, record["ep"])
                thing.properties = {**(thing.properties or {}), "lwm2m": _registration(record)}
                if record["event"] not in _ENDED:
                    created += self._datastreams(session, thing, record)
        self._keys.add(created)

    def _datastreams(self, session: Session, thing: models.Thing, record: dict[str, Any]) -> list[str]:
        links = [Link(link["url"], link["at"]) for link in record["links"]]
        keys = []
        for object_id, instance, resource_id in self._watch.paths(links):
            key = f"{record['ep']}/{object_id}/{instance}/{resource_id}"
            found = session.scalar(select(models.Stream).where(models.Stream.key == key))
            if found is not None and not (isinstance(found, models.Datastream) and found.placeholder):
                continue  # a user's (Multi)Datastream, or one registered before: theirs to change
            path = f"/{object_id}/{instance}/{resource_id}"  # a resource the registry does not know: by path
            described = describe(object_id, resource_id) or Resource(f"LwM2M {path}", "", None)
            sensor, observed = _sensor(session, record["ep"], object_id), _observed(session, described.name)
            datastream = (
                found
                if isinstance(found, models.Datastream)
                else models.Datastream(key=key, tenant=DEFAULT_TENANT)
            )
            datastream.name = f"{record['ep']} {described.name}"
            datastream.description = f"LwM2M {path} of {record['ep']}"
            datastream.observation_type = _OBSERVATION
            datastream.unit_of_measurement = {
                "name": described.unit,
                "symbol": described.unit,
                "definition": f"https://ucum.org/ucum#{described.unit}" if described.unit else None,
            }
            datastream.properties = {KEY_PROPERTY: key, "lwm2m": {"path": path}}
            datastream.placeholder = False
            datastream.thing, datastream.sensor, datastream.observed_property = thing, sensor, observed
            session.add(datastream)
            session.flush()  # the next lookups find this one's new Sensor and ObservedProperty
            keys.append(key)
        return keys


def _registration(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "registered": record["event"] not in _ENDED,
        "event": record["event"],
        "regId": record["regId"],
        "links": ", ".join(f"<{link['url']}>" for link in record["links"]),
        "lifetime_s": record["lt"],
        "binding": record["bnd"],
        "version": record["ver"],
        "address": f"{record['address']}:{record['port']}",
        "time": record["time"],
    }


def _thing(session: Session, endpoint: str) -> models.Thing:
    found = session.scalar(
        select(models.Thing).where(models.Thing.name == endpoint, models.Thing.tenant == DEFAULT_TENANT)
    )
    if found is not None:
        return found
    thing = models.Thing(name=endpoint, description=f"LwM2M endpoint {endpoint}", tenant=DEFAULT_TENANT)
    session.add(thing)
    return thing


def _sensor(session: Session, endpoint: str, object_id: int) -> models.Sensor:
    name = f"{endpoint} /{object_id}"
    sensor = models.Sensor
    found = session.scalar(select(sensor).where(sensor.name == name, sensor.tenant == DEFAULT_TENANT))
    return found or models.Sensor(
        name=name,
        description=f"object {object_id} of LwM2M endpoint {endpoint}",
        encoding_type="text/plain",
        sensor_metadata="",
        tenant=DEFAULT_TENANT,
    )


def _observed(session: Session, name: str) -> models.ObservedProperty:
    observed = models.ObservedProperty
    found = session.scalar(select(observed).where(observed.name == name, observed.tenant == DEFAULT_TENANT))
    return found or models.ObservedProperty(
        name=name, definition="https://technical.openmobilealliance.org/OMNA/LwM2M/LwM2MRegistry.html",
        description=f"the IPSO/OMA resource {name}", tenant=DEFAULT_TENANT,
    )  # fmt: skip

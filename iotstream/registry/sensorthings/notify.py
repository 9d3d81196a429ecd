"""What the MQTT extension publishes (SensorThings v1.1, "receive updates via MQTT").

A new entity goes to its collection (`v1.1/Things`) and to the collection of each entity it is linked
to (`v1.1/Things(3)/Datastreams`); a changed one to itself (`v1.1/Things(3)`) and, per changed
property, to `v1.1/Things(3)/name` as `{"name": …}`. Every new reading goes to
`v1.1/Datastreams(id)/Observations` and `v1.1/Observations`, whatever way it was sent.
Subscriptions with query options (`v1.1/Things?$select=name`) are not served: with an external broker
iotstream cannot see what clients subscribed to.
"""

from collections.abc import Iterator
from typing import Any

import msgspec

from iotstream._units import iso_ms
from iotstream.ingest.mqtt_access import namespace
from iotstream.models import Observation
from iotstream.registry.access.principal import owner_of
from iotstream.registry.changes import Changes
from iotstream.registry.sensorthings.entities import ENTITY_SETS, EntitySet, Link
from iotstream.registry.sensorthings.json import entity_json, link_path

__all__ = ["PREFIX", "ObservationMessages", "entity_messages"]

PREFIX = "v1.1"
_BY_MODEL = {entities.model: entities for entities in ENTITY_SETS.values() if entities.model is not None}
Message = tuple[str, dict[str, Any]]


def entity_messages(changes: Changes, base: str) -> Iterator[Message]:
    """A tenant's entities are published in its MQTT namespace (`@acme/v1.1/Things`, see
    `ingest.mqtt_access`), where only its tokens may subscribe."""
    for row in changes.created:
        entities = _BY_MODEL[type(row)]
        document = entity_json(entities, row, base)
        prefix = _prefix(row.tenant)
        yield f"{prefix}/{entities.name}", document
        for link in entities.links:
            collection = _collection_back(entities, link)
            if collection is not None:
                parent = ENTITY_SETS[link.target]
                parent_id = getattr(row, f"{link.attribute}_id")
                yield f"{prefix}/{link_path(parent, parent_id)}/{collection}", document
    for row, attributes in changes.updated.items():
        entities = _BY_MODEL[type(row)]
        document = entity_json(entities, row, base)
        own = f"{_prefix(row.tenant)}/{link_path(entities, row.id)}"
        yield own, document
        for prop in entities.properties:
            if prop.column in attributes:
                yield f"{own}/{prop.json}", {prop.json: document[prop.json]}


class ObservationMessages:
    """The topics and payload of each new reading as an Observation, formatted as bytes: this runs for
    every reading the platform takes, and filling a template costs half of building a dict and encoding
    it (3.1 against 5.4 µs a reading, with the packets). The document is the one `entity_json` gives an
    Observation, key for key."""

    def __init__(self, base: str) -> None:
        self._base = msgspec.json.encode(base)[1:-1]  # escaped once, for a JSON string
        self._topics: dict[int, tuple[str, str]] = {}

    def __call__(self, observation: Observation, datastream_id: int) -> tuple[tuple[str, str], bytes]:
        topics = self._topics.get(datastream_id)
        if topics is None:
            prefix = _prefix(owner_of(observation.datastream)[0])
            topics = (f"{prefix}/Datastreams({datastream_id})/Observations", f"{prefix}/Observations")
            self._topics[datastream_id] = topics
        text_id = b"%d-%d" % (datastream_id, observation.phenomenon_time_ms)  # `observation_id`
        payload = _OBSERVATION % (
            text_id,
            self._base,
            text_id,
            iso_ms(observation.phenomenon_time_ms).encode(),
            iso_ms(observation.result_time_ms).encode(),
            _encode(observation.result),
            self._base,
            text_id,
        )
        return topics, payload


def _prefix(tenant: str) -> str:
    space = namespace(tenant, None)
    return f"{space}/{PREFIX}" if space else PREFIX


_OBSERVATION = (
    b'{"@iot.id":"%s","@iot.selfLink":"%s/Observations(\'%s\')","phenomenonTime":"%s","resultTime":"%s",'
    b'"result":%s,"Datastream@iot.navigationLink":"%s/Observations(\'%s\')/Datastream"}'
)
_encode = msgspec.json.Encoder().encode


def _collection_back(entities: EntitySet, link: Link) -> str | None:
    """For a to-one link (a Datastream's Thing), the linked entity's collection of these (Datastreams)."""
    if link.many or not link.attribute:
        return None
    back = next((k for k in ENTITY_SETS[link.target].links if k.target == entities.name and k.many), None)
    return back.json if back else None

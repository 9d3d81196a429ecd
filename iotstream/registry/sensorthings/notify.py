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

from iotstream._units import iso_ms
from iotstream.models import Observation
from iotstream.registry.changes import Changes
from iotstream.registry.sensorthings.entities import ENTITY_SETS, EntitySet, Link
from iotstream.registry.sensorthings.json import entity_json, link_path
from iotstream.registry.sensorthings.observations import observation_id

__all__ = ["PREFIX", "entity_messages", "observation_message"]

PREFIX = "v1.1"
_BY_MODEL = {entities.model: entities for entities in ENTITY_SETS.values() if entities.model is not None}
Message = tuple[str, dict[str, Any]]


def entity_messages(changes: Changes, base: str) -> Iterator[Message]:
    for row in changes.created:
        entities = _BY_MODEL[type(row)]
        document = entity_json(entities, row, base)
        yield f"{PREFIX}/{entities.name}", document
        for link in entities.links:
            collection = _collection_back(entities, link)
            if collection is not None:
                parent = ENTITY_SETS[link.target]
                parent_id = getattr(row, f"{link.attribute}_id")
                yield f"{PREFIX}/{link_path(parent, parent_id)}/{collection}", document
    for row, attributes in changes.updated.items():
        entities = _BY_MODEL[type(row)]
        document = entity_json(entities, row, base)
        own = f"{PREFIX}/{link_path(entities, row.id)}"
        yield own, document
        for prop in entities.properties:
            if prop.column in attributes:
                yield f"{own}/{prop.json}", {prop.json: document[prop.json]}


def observation_message(
    observation: Observation, datastream_id: int, base: str
) -> tuple[list[str], dict[str, Any]]:
    """The topics and the document of a new reading as an Observation."""
    text_id = observation_id(datastream_id, observation.phenomenon_time_ms)
    own = f"{base}/Observations('{text_id}')"
    document = {
        "@iot.id": text_id,
        "@iot.selfLink": own,
        "phenomenonTime": iso_ms(observation.phenomenon_time_ms),
        "resultTime": iso_ms(observation.result_time_ms),
        "result": observation.result,
        "Datastream@iot.navigationLink": f"{own}/Datastream",
    }
    topics = [f"{PREFIX}/Datastreams({datastream_id})/Observations", f"{PREFIX}/Observations"]
    return topics, document


def _collection_back(entities: EntitySet, link: Link) -> str | None:
    """For a to-one link (a Datastream's Thing), the linked entity's collection of these (Datastreams)."""
    if link.many or not link.attribute:
        return None
    back = next((k for k in ENTITY_SETS[link.target].links if k.target == entities.name and k.many), None)
    return back.json if back else None

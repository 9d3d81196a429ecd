"""Registering devices through the platform's SensorThings v1.1 API (`/v1.1`).

A SensorThings Datastream's `name` is free text and may repeat ("Temperature" on every Thing), so
readings are not sent to it: each Datastream gets a unique, stable *stream key* when it is created,
shown in its `properties.key`. It is the key given there (`Datastream(..., key="boiler-1/t")`), else
its name when no other Datastream has that key yet, else `<name>/<@iot.id>`. `RegisteredDatastream.key`
is that name, the one `send(datastream=...)` and every query take.

The entities are described by the frozen dataclasses below; `*_plan` functions turn them into the
requests (see `_http`) that both clients run.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from iotstream.client._http import Call, Plan, decoded

__all__ = [
    "MEASUREMENT",
    "Datastream",
    "ObservedProperty",
    "RegisteredDatastream",
    "RegisteredThing",
    "Sensor",
    "Thing",
    "Unit",
    "create_plan",
    "datastream_plan",
    "register_plan",
]

PATH = "/v1.1"
MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
_PAGE = 1000


@dataclass(frozen=True)
class Thing:
    """A device or asset."""

    name: str
    description: str = ""
    properties: Mapping[str, Any] | None = None

    def document(self) -> dict[str, Any]:
        properties = None if self.properties is None else dict(self.properties)
        return _without_none({"name": self.name, "description": self.description, "properties": properties})


@dataclass(frozen=True)
class Sensor:
    """The instrument: `metadata` is typically a link to its data sheet, `encoding_type` that file's type."""

    name: str
    description: str = ""
    encoding_type: str = "text/plain"
    metadata: str = ""

    def document(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "encodingType": self.encoding_type,
            "metadata": self.metadata,
        }


@dataclass(frozen=True)
class ObservedProperty:
    """What is observed; `definition` is a URI naming it (e.g. a QUDT quantity)."""

    name: str
    definition: str
    description: str = ""

    def document(self) -> dict[str, Any]:
        return {"name": self.name, "definition": self.definition, "description": self.description}


@dataclass(frozen=True)
class Unit:
    """A unit of measurement, e.g. `Unit("degree Celsius", "degC", "ucum:Cel")`."""

    name: str
    symbol: str
    definition: str = ""

    def document(self) -> dict[str, Any]:
        return {"name": self.name, "symbol": self.symbol, "definition": self.definition}


@dataclass(frozen=True)
class Datastream:
    """A Datastream to create: its Sensor and ObservedProperty are new ones (created with it) or the
    `@iot.id`s of registered ones (to share one Sensor between Datastreams, register it first).
    `key` asks for the name readings are sent to; without it the platform derives one (module doc)."""

    name: str
    unit: Unit | str
    sensor: Sensor | int
    observed_property: ObservedProperty | int
    description: str = ""
    key: str | None = None
    observation_type: str = MEASUREMENT
    properties: Mapping[str, Any] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        unit = self.unit if isinstance(self.unit, Unit) else Unit(self.unit, self.unit)
        properties = dict(self.properties) | ({"key": self.key} if self.key is not None else {})
        return {
            "name": self.name,
            "description": self.description,
            "observationType": self.observation_type,
            "unitOfMeasurement": unit.document(),
            "Sensor": _entity(self.sensor),
            "ObservedProperty": _entity(self.observed_property),
        } | ({"properties": properties} if properties else {})


@dataclass(frozen=True)
class RegisteredDatastream:
    """A Datastream the platform has: its `@iot.id`, name, and the `key` readings are sent to."""

    id: int
    name: str
    key: str
    sensor_id: int | None = None
    observed_property_id: int | None = None


@dataclass(frozen=True)
class RegisteredThing:
    """A Thing the platform has, with its Datastreams in the order they were given."""

    id: int
    name: str
    datastreams: tuple[RegisteredDatastream, ...]

    def datastream(self, name: str) -> RegisteredDatastream:
        """The first of its Datastreams named `name`."""
        for datastream in self.datastreams:
            if datastream.name == name:
                return datastream
        raise KeyError(f"Thing {self.name!r} has no Datastream named {name!r}")


def create_plan(entity_set: str, document: Mapping[str, Any]) -> Plan[int]:
    """POST one entity (deep insert allowed); its `@iot.id`."""
    created = decoded((yield Call.post(f"{PATH}/{entity_set}", document)), 201)
    entity_id: int = created["@iot.id"]
    return entity_id


def datastream_plan(thing_id: int, datastream: Datastream) -> Plan[RegisteredDatastream]:
    """Create a Datastream of a registered Thing; what the platform made of it."""
    document = datastream.document() | {"Thing": {"@iot.id": thing_id}}
    datastream_id = yield from create_plan("Datastreams", document)
    found = decoded((yield Call("GET", f"{PATH}/Datastreams({datastream_id})", _EXPANDED)))
    return _registered(found)


def register_plan(thing: Thing, datastreams: Sequence[Datastream]) -> Plan[RegisteredThing]:
    """Create a Thing with its Datastreams (and their new Sensors and ObservedProperties) in one deep
    insert, so a device is registered whole or not at all; then read back the Datastreams' keys."""
    document = thing.document() | {"Datastreams": [d.document() for d in datastreams]}
    thing_id = yield from create_plan("Things", document)
    made: list[RegisteredDatastream] = []
    while True:  # by id: a deep insert creates them in the order given
        params = [*_EXPANDED, ("$orderby", "id"), ("$top", str(_PAGE)), ("$skip", str(len(made)))]
        page = decoded((yield Call("GET", f"{PATH}/Things({thing_id})/Datastreams", params)))
        made += [_registered(item) for item in page["value"]]
        if "@iot.nextLink" not in page or not page["value"]:
            return RegisteredThing(thing_id, thing.name, tuple(made))


_EXPANDED = [("$expand", "Sensor($select=id),ObservedProperty($select=id)")]


def _registered(document: dict[str, Any]) -> RegisteredDatastream:
    return RegisteredDatastream(
        id=document["@iot.id"],
        name=document["name"],
        key=(document.get("properties") or {})["key"],
        sensor_id=(document.get("Sensor") or {}).get("@iot.id"),
        observed_property_id=(document.get("ObservedProperty") or {}).get("@iot.id"),
    )


def _entity(entity: Sensor | ObservedProperty | int) -> dict[str, Any]:
    return {"@iot.id": entity} if isinstance(entity, int) else entity.document()


def _without_none(document: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in document.items() if value is not None}

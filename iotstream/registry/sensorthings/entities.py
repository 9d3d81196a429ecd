"""The SensorThings v1.1 entity sets: their JSON names, the catalog columns behind them, and the links
between them. Everything else in this package (queries, writes, JSON) is driven by these tables, so an
entity set is described once.
"""

from dataclasses import dataclass, field
from typing import Any

from iotstream.registry import models

__all__ = ["ENTITY_SETS", "OBSERVATIONS", "STREAMS", "EntitySet", "Link", "Property", "entity_set"]

STREAMS = ("Datastreams", "MultiDatastreams")  # the entity sets whose rows carry readings under a key


@dataclass(frozen=True)
class Property:
    json: str  # name in SensorThings JSON
    column: str  # ORM attribute (an interval's start, which filters and ordering compare)
    kind: str = "text"  # text | json | time (epoch ms inside, ISO-8601 outside) | interval
    required: bool = False
    end: str = ""  # an interval's end attribute
    computed: bool = False  # kept by the service; what a client sends for it is ignored


@dataclass(frozen=True)
class Link:
    json: str  # navigation property name, e.g. "Datastreams" or "Thing"
    target: str  # entity set name
    many: bool
    attribute: str  # ORM relationship; "" for links computed outside the catalog (Observations)
    required: bool = False  # a to-one link every entity must have
    ordered: bool = False  # kept in the order given (a MultiDatastream's ObservedProperties)
    read_only: bool = False  # changed from the other side only


@dataclass(frozen=True)
class EntitySet:
    name: str  # "Things"
    singular: str  # "Thing"
    model: Any  # ORM class; None for Observations
    properties: tuple[Property, ...]
    links: tuple[Link, ...] = field(default=())

    def property(self, json_name: str) -> Property | None:
        return next((p for p in self.properties if p.json == json_name), None)

    def link(self, json_name: str) -> Link | None:
        return next((link for link in self.links if link.json == json_name), None)


_NAME = Property("name", "name", required=True)
_DESCRIPTION = Property("description", "description")
_ENCODING = Property("encodingType", "encoding_type", required=True)
_PROPERTIES = Property("properties", "properties", "json")
_PHENOMENON_TIME = Property(
    "phenomenonTime", "phenomenon_start_ms", "interval", end="phenomenon_end_ms", computed=True
)
_RESULT_TIME = Property("resultTime", "result_start_ms", "interval", end="result_end_ms", computed=True)
_OBSERVED_AREA = Property("observedArea", "observed_area", "json")
_THING = Link("Thing", "Things", False, "thing", required=True)
_SENSOR = Link("Sensor", "Sensors", False, "sensor", required=True)
_OBSERVATIONS = Link("Observations", "Observations", True, "")

OBSERVATIONS = EntitySet(
    "Observations",
    "Observation",
    None,
    (
        Property("phenomenonTime", "phenomenon_time_ms", "time"),
        Property("resultTime", "result_time_ms", "time"),
        Property("result", "result", "json", required=True),
        Property("resultQuality", "result_quality", "json"),
        Property("validTime", "valid_time"),
        Property("parameters", "parameters", "json"),
    ),
    (
        Link("Datastream", "Datastreams", False, ""),  # one of the two
        Link("MultiDatastream", "MultiDatastreams", False, ""),
        Link("FeatureOfInterest", "FeaturesOfInterest", False, ""),
    ),
)

ENTITY_SETS: dict[str, EntitySet] = {
    s.name: s
    for s in (
        EntitySet(
            "Things",
            "Thing",
            models.Thing,
            (_NAME, _DESCRIPTION, _PROPERTIES),
            (
                Link("Locations", "Locations", True, "locations"),
                Link("HistoricalLocations", "HistoricalLocations", True, "historical_locations"),
                Link("Datastreams", "Datastreams", True, "datastreams"),
                Link("MultiDatastreams", "MultiDatastreams", True, "multi_datastreams"),
            ),
        ),
        EntitySet(
            "Locations",
            "Location",
            models.Location,
            (_NAME, _DESCRIPTION, _ENCODING, Property("location", "location", "json", True), _PROPERTIES),
            (
                Link("Things", "Things", True, "things"),
                Link("HistoricalLocations", "HistoricalLocations", True, "historical_locations"),
            ),
        ),
        EntitySet(
            "HistoricalLocations",
            "HistoricalLocation",
            models.HistoricalLocation,
            (Property("time", "time_ms", "time", True),),
            (
                _THING,
                Link("Locations", "Locations", True, "locations"),
            ),
        ),
        EntitySet(
            "Sensors",
            "Sensor",
            models.Sensor,
            (
                _NAME,
                _DESCRIPTION,
                _ENCODING,
                Property("metadata", "sensor_metadata", "json", True),
                _PROPERTIES,
            ),
            (
                Link("Datastreams", "Datastreams", True, "datastreams"),
                Link("MultiDatastreams", "MultiDatastreams", True, "multi_datastreams"),
            ),
        ),
        EntitySet(
            "ObservedProperties",
            "ObservedProperty",
            models.ObservedProperty,
            (_NAME, Property("definition", "definition", required=True), _DESCRIPTION, _PROPERTIES),
            (
                Link("Datastreams", "Datastreams", True, "datastreams"),
                Link("MultiDatastreams", "MultiDatastreams", True, "multi_datastreams", read_only=True),
            ),
        ),
        EntitySet(
            "Datastreams",
            "Datastream",
            models.Datastream,
            (
                _NAME,
                _DESCRIPTION,
                Property("observationType", "observation_type", required=True),
                Property("unitOfMeasurement", "unit_of_measurement", "json", True),
                _OBSERVED_AREA,
                _PHENOMENON_TIME,
                _RESULT_TIME,
                _PROPERTIES,
            ),
            (
                _THING,
                _SENSOR,
                Link("ObservedProperty", "ObservedProperties", False, "observed_property", required=True),
                _OBSERVATIONS,
            ),
        ),
        EntitySet(
            "MultiDatastreams",
            "MultiDatastream",
            models.MultiDatastream,
            (
                _NAME,
                _DESCRIPTION,
                Property("observationType", "observation_type"),  # always OM_ComplexObservation
                Property("unitOfMeasurements", "unit_of_measurements", "json", True),
                Property("multiObservationDataTypes", "multi_observation_data_types", "json", True),
                _OBSERVED_AREA,
                _PHENOMENON_TIME,
                _RESULT_TIME,
                _PROPERTIES,
            ),
            (
                _THING,
                _SENSOR,
                Link("ObservedProperties", "ObservedProperties", True, "observed_properties", ordered=True),
                _OBSERVATIONS,
            ),
        ),
        EntitySet(
            "FeaturesOfInterest",
            "FeatureOfInterest",
            models.FeatureOfInterest,
            (_NAME, _DESCRIPTION, _ENCODING, Property("feature", "feature", "json", True), _PROPERTIES),
            (_OBSERVATIONS,),
        ),
        OBSERVATIONS,
    )
}


def entity_set(name: str) -> EntitySet:
    try:
        return ENTITY_SETS[name]
    except KeyError:
        raise KeyError(f"no entity set {name!r}; there are {', '.join(ENTITY_SETS)}") from None

"""The OGC SensorThings conformance class "Filtering Extension" (the test suites' Capability 3) against
our /v1.1 API: the same set-up, the same requests, and the answers the specification requires.

Where it comes from (facts only; the code here is our own):
- opengeospatial/ets-sta10, src/main/java/org/opengis/cite/sta10/filteringExtension/Capability3Tests.java:
  `createEntities` (the set-up), `readEntitiesWith{Select,Expand,Top,Skip,Orderby,Count,Filter}QO`,
  `checkQueriesPriorityOrdering`, and their helpers (`check*ForEntityType`, `check*ForEntityTypeRelations`,
  `checkExpandtForEntityTypeMultilevel*`, `checkPropertiesForFilter`); util/EntityType.java (properties and
  relations) and util/EntityPropertiesSampleValue.java (the $filter literals).
- FraunhoferIOSB/FROST-Server, FROST-Server.Tests/.../statests/c03filtering/Capability3Tests.java (run on
  v1.1 by Capability3Tests11), the maintained form of the same class: it adds
  `readEntitiesWithExpandNested` (`checkNestedExpandForEntity`),
  `checkAndOrPrecendece`, `checkArithmeticPrecendece`, $select of navigation properties, $count with a
  followed nextLink, and checks every answer with util/EntityUtils.checkResponse (counts, $top/$skip sizes,
  nextLinks, selected and expanded members); util/model/EntityType.java lists the v1.1 properties.

The set-up is ets-sta10's: "thing 1" (location 1, "datastream 1" and "datastream 2" with new Sensors and
ObservedProperties) and "thing 2" (location 2, "datastream 3", and a second Datastream that is also named
"datastream 2" and links by @iot.id the ObservedProperty the suite reads from "datastream 1"); each Thing
is then moved to the other one's Location (two HistoricalLocations each), and 12 Observations (results 1 to
12, one a day from 2015-03-01) go three by three to the four Datastreams, without a FeatureOfInterest, so
the service makes one from each Thing's Location. Expected answers are computed here from that data; only
what the service itself makes up is read back from it (ids, HistoricalLocation times, resultTimes, the
generated FeaturesOfInterest' name, description and encodingType).

Names in the test ids: T1/T2 Things, L1/L2 Locations, HL1-HL4 HistoricalLocations (HL1/HL2: thing 1 at
its creation and after the move), DS1-DS4 Datastreams (DS4 is thing 2's "datastream 2"), S1-S4 Sensors,
OP1-OP3 ObservedProperties, O1-O12 Observations (Oi has result i), FOI1 (O1-O6) and FOI2 (O7-O12).

Where the suites are lenient or make choices of their own we follow the specification and OData: values
are checked, not only their order; comparisons with null are false (`ne` true); $top/$skip/$count are
put only on collections (the suites also send them to single entities and single-valued expansions);
navigation links are required where the specification's examples show them (every relation of a
requested entity that is not expanded; every selected relation), not inside expanded entities; the
suite's ObservedProperty @iot.id mix-up is kept (thing 2's "datastream 2" observes "Luminous Flux");
`parameters` (a JSON object) is not ordered by.
"""

import datetime as dt
import decimal
import functools
import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform
from tests.integration.sensorthings.conftest import _fresh_database

MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
QUDT = "http://www.qudt.org/qudt/owl/1.0.0"
GEOJSON = "'application/vnd.geo+json'"
PAGE = 100  # more than any collection here holds: an answer without $top lists everything
OPERATORS = ("lt", "le", "eq", "ge", "gt", "ne")
TIMES = {"time", "phenomenonTime", "resultTime", "validTime"}
Param = str | int | float | bool | None  # a query option value as httpx takes it


# ---------------------------------------------------------------------------------------------------------
# The data model as the suites see it (util/model/EntityType.java, EntityPropertiesSampleValue.java)


@dataclass(frozen=True)
class Prop:
    name: str
    optional: bool = False
    sortable: bool = True
    sample: str | None = None  # the suite's $filter literal for this property


@dataclass(frozen=True)
class Rel:
    name: str
    target: str
    plural: bool
    inverse: str


@dataclass(frozen=True)
class Schema:
    props: tuple[Prop, ...]
    rels: tuple[Rel, ...]

    def rel(self, name: str) -> Rel:
        return next(rel for rel in self.rels if rel.name == name)


SETS: dict[str, Schema] = {
    "Things": Schema(
        (
            Prop("name", sample="'thing 1'"),
            Prop("description", sample="'thing 1'"),
            Prop("properties", True, False),
        ),
        (
            Rel("Datastreams", "Datastreams", True, "Thing"),
            Rel("HistoricalLocations", "HistoricalLocations", True, "Thing"),
            Rel("Locations", "Locations", True, "Things"),
        ),
    ),
    "Locations": Schema(
        (
            Prop("name", sample="'location 2'"),
            Prop("description", sample="'location 2'"),
            Prop("encodingType", sample=GEOJSON),
            Prop("location", sortable=False),
        ),
        (
            Rel("HistoricalLocations", "HistoricalLocations", True, "Locations"),
            Rel("Things", "Things", True, "Locations"),
        ),
    ),
    "HistoricalLocations": Schema(
        (Prop("time", sample="2015-10-14T21:30:00.104Z"),),
        (
            Rel("Thing", "Things", False, "HistoricalLocations"),
            Rel("Locations", "Locations", True, "HistoricalLocations"),
        ),
    ),
    "Datastreams": Schema(
        (
            Prop("name", sample="'datastream 1'"),
            Prop("description", sample="'datastream 1'"),
            Prop("unitOfMeasurement", sortable=False),
            Prop("observationType", sample=f"'{MEASUREMENT}'"),
            Prop("observedArea", True, False),
            Prop("phenomenonTime", optional=True),
            Prop("resultTime", optional=True),
        ),
        (
            Rel("Thing", "Things", False, "Datastreams"),
            Rel("Sensor", "Sensors", False, "Datastreams"),
            Rel("ObservedProperty", "ObservedProperties", False, "Datastreams"),
            Rel("Observations", "Observations", True, "Datastream"),
        ),
    ),
    "Sensors": Schema(
        (
            Prop("name", sample="'sensor 1'"),
            Prop("description", sample="'sensor 1'"),
            Prop("encodingType", sample="'application/pdf'"),
            Prop("metadata", sample="'Light flux sensor'"),
        ),
        (Rel("Datastreams", "Datastreams", True, "Sensor"),),
    ),
    "ObservedProperties": Schema(
        (
            Prop("name", sample="'Luminous Flux'"),
            Prop("definition", sample=f"'{QUDT}/quantity/Instances.html/LuminousFlux'"),
            Prop("description", sample="'observedProperty 1'"),
        ),
        (Rel("Datastreams", "Datastreams", True, "ObservedProperty"),),
    ),
    "Observations": Schema(
        (
            Prop("phenomenonTime", sample="2015-03-02T00:00:00.000Z"),
            Prop("result", sample="2"),
            Prop("resultTime", sample="2015-03-02T00:00:00.000Z"),
            Prop("resultQuality", optional=True),
            Prop("validTime", optional=True),
            Prop("parameters", True, False),
        ),
        (
            Rel("Datastream", "Datastreams", False, "Observations"),
            Rel("FeatureOfInterest", "FeaturesOfInterest", False, "Observations"),
        ),
    ),
    "FeaturesOfInterest": Schema(
        (
            Prop("name", sample="'Generated using location details: location 1'"),
            Prop("description", sample="'Generated using location details: location 1'"),
            Prop("encodingType", sample=GEOJSON),
            Prop("feature", sortable=False),
        ),
        (Rel("Observations", "Observations", True, "FeatureOfInterest"),),
    ),
}
# The entity of each set whose relations the suites follow (FROST's thingId1, locationId1, ...).
FIXED = {
    "Things": "T1",
    "Locations": "L1",
    "HistoricalLocations": "HL1",
    "Datastreams": "DS1",
    "Sensors": "S1",
    "ObservedProperties": "OP1",
    "Observations": "O1",
    "FeaturesOfInterest": "FOI1",
}


# ---------------------------------------------------------------------------------------------------------
# The set-up (ets-sta10 Capability3Tests.createEntities), and what it must have made


def _location(n: int, coordinates: list[float]) -> dict[str, Any]:
    point = {"type": "Point", "coordinates": coordinates}
    return {
        "name": f"location {n}",
        "description": f"location {n}",
        "location": point,
        "encodingType": GEOJSON[1:-1],
    }


def _sensor(name: str, metadata: str) -> dict[str, Any]:
    return {"name": name, "description": name, "encodingType": "application/pdf", "metadata": metadata}


def _observed(name: str, quantity: str, n: int) -> dict[str, Any]:
    return {
        "name": name,
        "definition": f"{QUDT}/quantity/Instances.html/{quantity}",
        "description": f"observedProperty {n}",
    }


def _datastream(
    name: str, unit: dict[str, str], observed: dict[str, Any], sensor: dict[str, Any]
) -> dict[str, Any]:
    return {
        "unitOfMeasurement": unit,
        "name": name,
        "description": name,
        "observationType": MEASUREMENT,
        "ObservedProperty": observed,
        "Sensor": sensor,
    }


LUMEN = {"name": "Lumen", "symbol": "lm", "definition": f"{QUDT}/unit/Instances.html/Lumen"}
CENTIGRADE = {"name": "Centigrade", "symbol": "C", "definition": f"{QUDT}/unit/Instances.html/Lumen"}  # sic
LOCATIONS = {"L1": _location(1, [-117.05, 51.05]), "L2": _location(2, [-100.05, 50.05])}
OBSERVED = {
    "OP1": _observed("Luminous Flux", "LuminousFlux", 1),
    "OP2": _observed("Tempretaure", "Tempreture", 2),
    "OP3": _observed("Second Luminous Flux", "LuminousFlux", 3),
}
SENSORS = {
    "S1": _sensor("sensor 1", "Light flux sensor"),
    "S2": _sensor("sensor 2", "Tempreture sensor"),
    "S3": _sensor("sensor 3", "Second Light flux sensor"),
    "S4": _sensor("sensor 4 ", "Second Tempreture sensor"),
}
# key: (Thing, name, unit, ObservedProperty, Sensor); DS4's ObservedProperty is linked, not created.
DATASTREAMS: dict[str, tuple[str, str, dict[str, str], str, str]] = {
    "DS1": ("T1", "datastream 1", LUMEN, "OP1", "S1"),
    "DS2": ("T1", "datastream 2", CENTIGRADE, "OP2", "S2"),
    "DS3": ("T2", "datastream 3", LUMEN, "OP3", "S3"),
    "DS4": ("T2", "datastream 2", CENTIGRADE, "OP1", "S4"),
}
THINGS: dict[str, tuple[str, str, str]] = {
    "T1": ("thing 1", "first", "L1"),
    "T2": ("thing 2", "second", "L2"),
}
MOVED_TO = {"T1": "L2", "T2": "L1"}  # the PATCHes that make the second HistoricalLocation of each Thing
# Oi: result i on 2015-03-i at midnight UTC, three per Datastream in order.
OBSERVATIONS: dict[str, tuple[str, int, str]] = {
    f"O{i}": (f"DS{(i - 1) // 3 + 1}", i, f"2015-03-{i:02d}T00:00:00Z") for i in range(1, 13)
}


@dataclass
class Entity:
    set: str
    key: str
    values: dict[str, Any]
    id: Any = None
    links: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class World:
    entities: dict[str, dict[str, Entity]] = field(default_factory=lambda: {name: {} for name in SETS})

    def add(self, set_name: str, key: str, values: dict[str, Any]) -> Entity:
        entity = Entity(set_name, key, values)
        self.entities[set_name][key] = entity
        return entity

    def get(self, set_name: str, key: str) -> Entity:
        return self.entities[set_name][key]

    def link(self, set_name: str, key: str, rel_name: str, other: str) -> None:
        rel = SETS[set_name].rel(rel_name)
        self.get(set_name, key).links.setdefault(rel_name, []).append(other)
        self.get(rel.target, other).links.setdefault(rel.inverse, []).append(key)

    def related(self, entity: Entity, rel_name: str) -> list[Entity]:
        target = SETS[entity.set].rel(rel_name).target
        return [self.get(target, key) for key in entity.links.get(rel_name, [])]

    def all(self, set_name: str) -> list[Entity]:
        return list(self.entities[set_name].values())


def _id_literal(value: Any) -> str:
    return "'" + value.replace("'", "''") + "'" if isinstance(value, str) else str(value)


def _created(answer: httpx.Response) -> dict[str, Any]:
    request = f"{answer.request.method} {answer.request.url}"
    assert answer.status_code == 201, f"set-up {request} answered {answer.status_code}: {answer.text}"
    body: dict[str, Any] = answer.json()
    return body


def get(sta: httpx.Client, path: str, params: list[tuple[str, Param]], request: str) -> httpx.Response:
    """A GET, tried again once on a new connection if the service dropped the kept-alive one (it closes
    it after a 500; the next request must not fail for that)."""
    for attempt in (1, 2):
        try:
            return sta.get(path, params=params or None)  # an empty list would drop a query in `path`
        except httpx.TransportError as err:
            if attempt == 2:
                pytest.fail(f"{request}: the service closed the connection without an answer ({err!r})")
    raise AssertionError("unreachable")


def _read(sta: httpx.Client, path: str) -> Any:
    answer = get(sta, path, [], f"set-up GET {path}")
    assert answer.status_code == 200, f"set-up GET {path} answered {answer.status_code}: {answer.text}"
    return answer.json()


def build_world(sta: httpx.Client) -> World:
    """POST the suite's set-up through the API, and model what it must have created."""
    world = World()
    for key, location in LOCATIONS.items():
        world.add("Locations", key, dict(location))
    for key, observed in OBSERVED.items():
        world.add("ObservedProperties", key, dict(observed))
    for key, sensor in SENSORS.items():
        world.add("Sensors", key, dict(sensor))
    for key, (name, reference, _) in THINGS.items():
        world.add("Things", key, {"name": name, "description": name, "properties": {"reference": reference}})
    for key, (owner, name, unit, op_key, sensor_key) in DATASTREAMS.items():
        stated = {
            "name": name,
            "description": name,
            "unitOfMeasurement": unit,
            "observationType": MEASUREMENT,
        }
        world.add("Datastreams", key, stated)
        world.link("Datastreams", key, "Thing", owner)
        world.link("Datastreams", key, "Sensor", sensor_key)
        world.link("Datastreams", key, "ObservedProperty", op_key)

    # The two Things, each with its Location and two Datastreams given inline.
    for thing_key, (name, reference, location_key) in THINGS.items():
        streams = []
        for key, (owner, ds_name, unit, op_key, sensor_key) in DATASTREAMS.items():
            if owner == thing_key:
                # DS4 links the ObservedProperty the suite read from "datastream 1", by its id.
                linked_op = {"@iot.id": world.get("ObservedProperties", op_key).id}
                observed = linked_op if key == "DS4" else OBSERVED[op_key]
                streams.append(_datastream(ds_name, unit, observed, SENSORS[sensor_key]))
        body = {
            "name": name,
            "description": name,
            "properties": {"reference": reference},
            "Locations": [LOCATIONS[location_key]],
            "Datastreams": streams,
        }
        thing_id = _created(sta.post("/Things", json=body))["@iot.id"]
        world.get("Things", thing_key).id = thing_id
        [made_location] = _read(sta, f"/Things({thing_id})/Locations")["value"]
        world.get("Locations", location_key).id = made_location["@iot.id"]
        for made_stream in _read(sta, f"/Things({thing_id})/Datastreams")["value"]:
            [key] = [k for k, d in DATASTREAMS.items() if d[0] == thing_key and d[1] == made_stream["name"]]
            datastream = world.get("Datastreams", key)
            datastream.id = made_stream["@iot.id"]
            for rel in ("Sensor", "ObservedProperty"):
                [linked] = world.related(datastream, rel)
                found = _read(sta, f"/Datastreams({datastream.id})/{rel}")["@iot.id"]
                assert linked.id in (None, found), f"set-up: {key}/{rel} is {found}, not {linked.id}"
                linked.id = found

    # Each Thing moves to the other one's Location, which makes its second HistoricalLocation.
    for thing_key, moved in MOVED_TO.items():
        body = {"Locations": [{"@iot.id": world.get("Locations", moved).id}]}
        answer = sta.patch(f"/Things({world.get('Things', thing_key).id})", json=body)
        assert answer.status_code == 200, f"set-up PATCH Things answered {answer.status_code}: {answer.text}"
        world.link("Things", thing_key, "Locations", moved)
    for thing_key, (_, _, first) in THINGS.items():
        history = _read(sta, f"/Things({world.get('Things', thing_key).id})/HistoricalLocations")["value"]
        assert len(history) == 2, f"set-up: {thing_key} must have 2 HistoricalLocations, has {history}"
        in_time = sorted(history, key=lambda h: _instant(h["time"]))
        for made_history, location_key in zip(in_time, (first, MOVED_TO[thing_key]), strict=True):
            key = f"HL{len(world.all('HistoricalLocations')) + 1}"
            world.add("HistoricalLocations", key, {"time": made_history["time"]}).id = made_history["@iot.id"]
            world.link("HistoricalLocations", key, "Thing", thing_key)
            world.link("HistoricalLocations", key, "Locations", location_key)

    # 12 Observations without a FeatureOfInterest: the service makes one from each Thing's Location.
    for key, (ds_key, result, time) in OBSERVATIONS.items():
        path = f"/Datastreams({world.get('Datastreams', ds_key).id})/Observations"
        made_observation = _created(sta.post(path, json={"phenomenonTime": time, "result": result}))
        said: dict[str, Any] = {"phenomenonTime": time, "result": result}
        said["resultTime"] = made_observation.get("resultTime")  # the service's choice when not given
        world.add("Observations", key, said).id = made_observation["@iot.id"]
        world.link("Observations", key, "Datastream", ds_key)
    for foi_key, thing_key in (("FOI1", "T1"), ("FOI2", "T2")):
        observations = [o for o in world.all("Observations") if _thing_of(world, o) == thing_key]
        made_feature = _read(sta, f"/Observations({_id_literal(observations[0].id)})/FeatureOfInterest")
        generated = {name: made_feature.get(name) for name in ("name", "description", "encodingType")}
        generated["feature"] = LOCATIONS[MOVED_TO[thing_key]]["location"]
        world.add("FeaturesOfInterest", foi_key, generated).id = made_feature["@iot.id"]
        for observation in observations:
            world.link("Observations", observation.key, "FeatureOfInterest", foi_key)
    return world


def _thing_of(world: World, observation: Entity) -> str:
    [datastream] = world.related(observation, "Datastream")
    return datastream.links["Thing"][0]


# ---------------------------------------------------------------------------------------------------------
# Values: comparing what the service answers with what the set-up says


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def canon(name: str, value: Any) -> Any:
    """A value in a comparable form: times (and intervals) as tuples of instants, numbers as floats."""
    if value is None or isinstance(value, bool):
        return value
    if name in TIMES and isinstance(value, str):
        return tuple(_instant(part) for part in value.split("/"))
    if isinstance(value, int | float):
        return float(value)
    return value


def literal(name: str, text: str) -> Any:
    """The value of a $filter literal, in canon form."""
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    if name in TIMES:
        return (_instant(text),)
    return float(text)


def compare(a: Any, b: Any) -> int:
    if not ((isinstance(a, tuple) and isinstance(b, tuple)) or type(a) is type(b)):
        a, b = str(a), str(b)
    return int(a > b) - int(a < b)


def satisfies(value: Any, operator: str, operand: Any) -> bool:
    """OData comparison: with null on one side only `ne` holds."""
    if value is None:
        return operator == "ne"
    c = compare(value, operand)
    return {"lt": c < 0, "le": c <= 0, "eq": c == 0, "ge": c >= 0, "gt": c > 0, "ne": c != 0}[operator]


def order_compare(a: tuple[Any, ...], b: tuple[Any, ...], descending: tuple[bool, ...]) -> int:
    """Lexicographic over the $orderby items; a null compares equal to anything, as in the suites."""
    for x, y, down in zip(a, b, descending, strict=True):
        c = 0 if x is None or y is None else compare(x, y)
        if c:
            return -c if down else c
    return 0


def short(value: Any, limit: int = 300) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[:limit] + "..."


# ---------------------------------------------------------------------------------------------------------
# One check: a GET with query options, and everything its answer must be


@dataclass
class Shape:
    """$select, $expand, $top, $skip, $count of one level (the request, or one expanded relation)."""

    select: tuple[str, ...] = ()
    expand: dict[str, "Shape"] = field(default_factory=dict)
    top: int | None = None
    skip: int | None = None
    count: bool | None = None

    def options(self) -> list[tuple[str, str]]:
        out = []
        if self.select:
            out.append(("$select", ",".join(self.select)))
        if self.expand:
            out.append(("$expand", ",".join(name + sub.nested() for name, sub in self.expand.items())))
        if self.top is not None:
            out.append(("$top", str(self.top)))
        if self.skip is not None:
            out.append(("$skip", str(self.skip)))
        if self.count is not None:
            out.append(("$count", str(self.count).lower()))
        return out

    def nested(self) -> str:
        inner = ";".join(f"{name}={value}" for name, value in self.options())
        return f"({inner})" if inner else ""


@dataclass(frozen=True)
class Target:
    set: str
    key: str | None = None
    rel: str | None = None

    @property
    def label(self) -> str:
        return self.set + (f"({self.key})" if self.key else "") + (f"/{self.rel}" if self.rel else "")

    @property
    def result_set(self) -> str:
        return SETS[self.set].rel(self.rel).target if self.rel else self.set

    @property
    def collection(self) -> bool:
        return self.key is None or (self.rel is not None and SETS[self.set].rel(self.rel).plural)

    def path(self, world: World) -> str:
        if self.key is None:
            return f"/{self.set}"
        own = f"/{self.set}({_id_literal(world.get(self.set, self.key).id)})"
        return own + (f"/{self.rel}" if self.rel else "")

    def expected(self, world: World) -> list[Entity]:
        if self.key is None:
            return world.all(self.set)
        entity = world.get(self.set, self.key)
        return world.related(entity, self.rel) if self.rel else [entity]


Predicate = Callable[[World, Entity], bool]


@dataclass
class Check:
    target: Target
    shape: Shape = field(default_factory=Shape)
    filter: str | None = None
    keep: Predicate | None = None  # which of the target's entities the $filter keeps
    orderby: tuple[tuple[str, bool], ...] = ()  # (property, descending)
    orderby_text: str | None = None
    expand_text: str | None = None  # $expand as the suite writes it (a/b paths), if not from `shape`
    follow_next: bool = False

    def options(self) -> list[tuple[str, Param]]:
        out: list[tuple[str, Param]] = [("$filter", self.filter)] if self.filter else []
        for name, value in self.shape.options():
            out.append((name, self.expand_text if name == "$expand" and self.expand_text else value))
        if self.orderby_text:
            out.append(("$orderby", self.orderby_text))
        return out

    def __str__(self) -> str:
        query = "&".join(f"{name}={value}" for name, value in self.options())
        return self.target.label + (f"?{query}" if query else "")


class Verifier:
    """Collects every way an answer differs from what the specification requires."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.problems: list[str] = []

    def expect(self, ok: bool, problem: str) -> bool:
        if not ok:
            self.problems.append(problem)
        return ok

    def members(
        self,
        items: Any,
        container: dict[str, Any],
        prefix: str,
        set_name: str,
        expected: list[Entity],
        shape: Shape,
        where: str,
        toplevel: bool,
    ) -> None:
        """A collection: the request's `value`, or an expanded relation (`prefix` names its annotations)."""
        if not self.expect(
            isinstance(items, list), f"{where}: expected an array of {set_name}, got {short(items)}"
        ):
            return
        total, skip = len(expected), shape.skip or 0
        size = max(0, min(total - skip, PAGE if shape.top is None else shape.top))
        self.expect(
            len(items) == size,
            f"{where}: {size} of the {total} {set_name} expected"
            f" (top {shape.top}, skip {skip}), got {len(items)}",
        )
        by_id = {entity.id: entity for entity in expected}
        ids = [item.get("@iot.id") for item in items if isinstance(item, dict)]
        if items and len(ids) == len(items) and all(i is not None for i in ids):
            strangers = [i for i in ids if i not in by_id]
            self.expect(
                not strangers, f"{where}: {strangers} are not among the expected {sorted(map(str, by_id))}"
            )
            self.expect(len(set(ids)) == len(ids), f"{where}: some entities come twice: {ids}")
            for item in items:
                self.entity(
                    item, set_name, by_id.get(item["@iot.id"]), shape, f"{where}/{item['@iot.id']}", toplevel
                )
        else:
            for item in items:
                self.entity(item, set_name, None, shape, where, toplevel)
            if size == total:
                self.same_rows(items, set_name, expected, shape, where)
        count, next_link = f"{prefix}@iot.count", f"{prefix}@iot.nextLink"
        if shape.count is False:
            self.expect(count not in container, f"{where}: $count=false but the answer has {count}")
        elif shape.count or count in container:
            self.expect(
                container.get(count) == total,
                f"{where}: {count} must be {total}, got {container.get(count, '(missing)')}",
            )
        self.expect(
            (next_link in container) == (skip + size < total),
            f"{where}: {next_link} must be {'present' if skip + size < total else 'absent'}"
            f" ({skip} skipped, {size} of {total} given), got {container.get(next_link, '(absent)')}",
        )

    def same_rows(
        self, items: list[Any], set_name: str, expected: list[Entity], shape: Shape, where: str
    ) -> None:
        """Without ids, the selected values of the answer must be those of the expected entities."""
        names = [
            name
            for name in shape.select
            if any(p.name == name for p in SETS[set_name].props) and all(name in e.values for e in expected)
        ]
        if not names:
            return

        def row(values: dict[str, Any]) -> str:
            return json.dumps([canon(name, values.get(name)) for name in names], default=str, sort_keys=True)

        got = sorted(row(item) for item in items if isinstance(item, dict))
        want = sorted(row(entity.values) for entity in expected)
        self.expect(got == want, f"{where}: the {names} values must be {want}, got {got}")

    def entity(
        self, item: Any, set_name: str, expected: Entity | None, shape: Shape, where: str, toplevel: bool
    ) -> None:
        if not self.expect(
            isinstance(item, dict), f"{where}: expected a {set_name} entity, got {short(item)}"
        ):
            return
        schema = SETS[set_name]
        expanded = set(shape.expand)
        if shape.select:
            chosen = set(shape.select)
            extra = {name for name in item if "@" not in name} - expanded - chosen
            self.expect(
                not extra,
                f"{where}: $select={','.join(shape.select)} but the entity also has {sorted(extra)}",
            )
            missing = [
                p.name for p in schema.props if p.name in chosen and not p.optional and p.name not in item
            ]
            self.expect(not missing, f"{where}: the selected {missing} are missing: {short(item)}")
            self.expect(
                ("@iot.id" in item) == ("id" in chosen),
                f"{where}: @iot.id must be {'present' if 'id' in chosen else 'absent'}: {short(item)}",
            )
            for rel in schema.rels:
                link = f"{rel.name}@iot.navigationLink"
                wanted = rel.name in chosen
                self.expect(
                    (link in item) == wanted or (rel.name in expanded and not wanted),
                    f"{where}: {link} must be {'present' if wanted else 'absent'}: {short(item)}",
                )
        else:
            missing = [p.name for p in schema.props if not p.optional and p.name not in item]
            self.expect(not missing, f"{where}: the entity lacks {missing}: {short(item)}")
            self.expect("@iot.id" in item, f"{where}: the entity has no @iot.id: {short(item)}")
            if toplevel:
                links = [r.name for r in schema.rels if r.name not in expanded]
                absent = [r for r in links if f"{r}@iot.navigationLink" not in item]
                self.expect(not absent, f"{where}: no navigationLink for {absent}: {short(item)}")
        if expected is not None:
            if "@iot.id" in item:
                self.expect(
                    item["@iot.id"] == expected.id,
                    f"{where}: @iot.id {item['@iot.id']}, expected {expected.id}",
                )
            for name, value in expected.values.items():
                if name in item and canon(name, item[name]) != canon(name, value):
                    self.problems.append(f"{where}: {name} is {short(item[name])}, expected {short(value)}")
        for rel_name, sub in shape.expand.items():
            rel = schema.rel(rel_name)
            if not self.expect(
                rel_name in item, f"{where}: $expand={rel_name} but the entity has none: {short(item)}"
            ):
                continue
            if expected is None:
                for member in (
                    item[rel_name] if rel.plural and isinstance(item[rel_name], list) else [item[rel_name]]
                ):
                    self.entity(member, rel.target, None, sub, f"{where}/{rel_name}", False)
                continue
            related = self.world.related(expected, rel_name)
            if rel.plural:
                self.members(
                    item[rel_name], item, rel_name, rel.target, related, sub, f"{where}/{rel_name}", False
                )
            else:
                self.entity(item[rel_name], rel.target, related[0], sub, f"{where}/{rel_name}", False)

    def ordered(self, items: list[Any], expected: list[Entity], check: Check, where: str) -> None:
        """In the order asked for: the suites' pairwise check, and the exact sequence of sort keys."""
        names = [name for name, _ in check.orderby]
        down = tuple(descending for _, descending in check.orderby)

        def keys(values: dict[str, Any]) -> tuple[Any, ...]:
            return tuple(canon(name, values.get(name)) for name in names)

        got = [keys(item) for item in items if isinstance(item, dict)]
        for before, after in itertools.pairwise(got):
            self.expect(order_compare(before, after, down) <= 0, f"{where}: {before} comes before {after}")
        if all(name in e.values and e.values[name] is not None for e in expected for name in names):

            def by(a: tuple[Any, ...], b: tuple[Any, ...]) -> int:
                return order_compare(a, b, down)

            ordering = functools.cmp_to_key(by)
            skip = check.shape.skip or 0
            want = sorted((keys(e.values) for e in expected), key=ordering)[skip : skip + len(got)]
            self.expect(got == want, f"{where}: sort keys {names} must run {want}, got {got}")


def run(sta: httpx.Client, world: World, check: Check) -> None:
    target, shape = check.target, check.shape
    request = f"GET {check}"
    answer = get(sta, target.path(world), check.options(), request)
    assert answer.status_code == 200, (
        f"{request}: 200 required, the service answered {answer.status_code}: {answer.text}"
    )
    document = answer.json()
    verify = Verifier(world)
    expected = target.expected(world)
    if check.keep is not None:
        expected = [entity for entity in expected if check.keep(world, entity)]
    if target.collection:
        items = document.get("value")
        verify.members(items, document, "", target.result_set, expected, shape, target.label, True)
        if check.orderby and isinstance(items, list):
            verify.ordered(items, expected, check, target.label)
        if check.follow_next and isinstance(items, list) and "@iot.nextLink" in document:
            following = get(sta, document["@iot.nextLink"], [], "nextLink")
            seen = {item.get("@iot.id") for item in items}
            verify.expect(
                following.status_code == 200, f"nextLink answered {following.status_code}: {following.text}"
            )
            if following.status_code == 200:
                page = following.json()
                rest = Shape(top=shape.top, skip=(shape.skip or 0) + len(items))
                verify.members(
                    page.get("value"), page, "", target.result_set, expected, rest, "nextLink", True
                )
                again = {item.get("@iot.id") for item in page.get("value") or [] if isinstance(item, dict)}
                verify.expect(not seen & again, f"nextLink: the next page repeats {seen & again}")
    else:
        verify.entity(
            document, target.result_set, expected[0] if expected else None, shape, target.label, True
        )
    assert not verify.problems, "\n".join(
        [request, *verify.problems[:25], f"answer: {short(document, 3000)}"]
    )


# ---------------------------------------------------------------------------------------------------------
# The checks, in the suites' order of entity sets and relations


def _props(set_name: str) -> list[str]:
    return [p.name for p in SETS[set_name].props]


def _related_targets() -> list[Target]:
    """Each relation of each set's fixed entity: Things(T1)/Datastreams, Datastreams(DS1)/Thing, ..."""
    return [Target(name, FIXED[name], rel.name) for name, schema in SETS.items() for rel in schema.rels]


def _plural(targets: list[Target]) -> list[Target]:
    return [t for t in targets if t.collection]


def _growing(names: list[str]) -> list[list[str]]:
    """[a], [b], ..., then [a, b], [a, b, c], ...: each name alone, then the suite's growing lists."""
    return [[name] for name in names] + [names[:k] for k in range(2, len(names) + 1)]


def select_checks() -> list[Check]:
    """checkSelectForEntityType (with FROST's checkSelectNavigationProperty) and
    checkSelectForEntityTypeRelations."""
    checks = []
    for name, schema in SETS.items():
        checks += [Check(Target(name), Shape(select=tuple(chosen))) for chosen in _growing(_props(name))]
        checks += [Check(Target(name), Shape(select=(rel.name,))) for rel in schema.rels]
    for target in _related_targets():
        checks += [Check(target, Shape(select=tuple(c))) for c in _growing(_props(target.result_set))]
    return checks


def expand_checks() -> list[Check]:
    """checkExpandtForEntityType and checkExpandtForEntityTypeRelations: one, then growing lists."""
    targets = [Target(name) for name in SETS] + _related_targets()
    return [
        Check(target, Shape(expand={rel: Shape() for rel in chosen}))
        for target in targets
        for chosen in _growing([rel.name for rel in SETS[target.result_set].rels])
    ]


def multilevel_checks() -> list[Check]:
    """checkExpandtForEntityTypeMultilevel(Relations): `$expand=a/b` for each pair, then all pairs at once."""
    checks = []
    for target in [Target(name) for name in SETS] + _related_targets():
        pairs = [
            (rel.name, sub.name) for rel in SETS[target.result_set].rels for sub in SETS[rel.target].rels
        ]
        for chosen in [[pair] for pair in pairs] + [pairs]:
            shape = Shape()
            for first, second in chosen:
                shape.expand.setdefault(first, Shape()).expand[second] = Shape()
            checks.append(Check(target, shape, expand_text=",".join(f"{a}/{b}" for a, b in chosen)))
    return checks


def _half(set_name: str, even: bool) -> tuple[str, ...]:
    """FROST's getHalfPropertiesRelations: id, and every other property and relation."""
    names = _props(set_name) + [rel.name for rel in SETS[set_name].rels]
    return ("id", *names[0 if even else 1 :: 2])


def nested_checks() -> list[Check]:
    """checkNestedExpandForEntity: two levels of expansions, each with $select, $top=2, $skip and $count."""
    checks = []
    state = [True, 0]  # FROST's `even` and `skip`, flipped at every level of every request

    def level(set_name: str, plural: bool) -> Shape:
        even, skip = bool(state[0]), int(state[1])
        state[:] = [not even, 1 - skip]
        shape = Shape(select=_half(set_name, even))
        if plural:
            shape.top, shape.skip, shape.count = 2, skip, even
        return shape

    for name, schema in SETS.items():
        everything = Shape(select=_half(name, True), count=True)
        for rel in schema.rels:
            for sub in SETS[rel.target].rels:
                top = level(name, True)
                parent = level(rel.target, rel.plural)
                parent.expand[sub.name] = level(sub.target, sub.plural)
                on_entity = Shape(select=top.select, expand={rel.name: parent})
                on_collection = Shape(top.select, {rel.name: parent}, top.top, top.skip, top.count)
                checks += [Check(Target(name, FIXED[name]), on_entity), Check(Target(name), on_collection)]
            everything.expand[rel.name] = Shape(
                select=_half(rel.target, False),
                count=True if rel.plural else None,
                expand={
                    sub.name: Shape(select=_half(sub.target, True), count=False if sub.plural else None)
                    for sub in SETS[rel.target].rels
                },
            )
        checks.append(Check(Target(name), everything))
    return checks


def top_checks() -> list[Check]:
    """checkTopForEntityType ($top 1-5, 12, 13) and checkTopForEntityTypeRelation ($top=3)."""
    checks = [Check(Target(name), Shape(top=top)) for name in SETS for top in (1, 2, 3, 4, 5, 12, 13)]
    return checks + [Check(target, Shape(top=3)) for target in _plural(_related_targets())]


def skip_checks() -> list[Check]:
    """checkSkipForEntityType ($top=12, $skip 1-4, 12) and checkSkipForEntityTypeRelation ($skip=1)."""
    checks = [Check(Target(name), Shape(top=12, skip=skip)) for name in SETS for skip in (1, 2, 3, 4, 12)]
    return checks + [Check(target, Shape(top=12, skip=1)) for target in _plural(_related_targets())]


def count_checks() -> list[Check]:
    """checkCountForEntityType ($count with $top=1, its nextLink followed) and ...Relations."""
    checks = []
    for name in SETS:
        checks.append(Check(Target(name), Shape(top=1, count=True), follow_next=True))
        checks.append(Check(Target(name), Shape(top=1, count=False)))
    for target in _plural(_related_targets()):
        checks += [Check(target, Shape(count=True)), Check(target, Shape(count=False))]
    return checks


def orderby_checks() -> list[Check]:
    """checkOrderbyForEntityType(Relations): each sortable property, then growing lists; plain, asc, desc."""
    checks = []
    for target in [Target(name) for name in SETS] + _plural(_related_targets()):
        sortable = [p.name for p in SETS[target.result_set].props if p.sortable]
        for chosen in _growing(sortable):
            for suffix in ("", " asc", " desc"):
                text = ",".join(name + suffix for name in chosen)
                order = tuple((name, suffix == " desc") for name in chosen)
                checks.append(Check(target, orderby=order, orderby_text=text))
    return checks


def _keeps(name: str, operator: str, operand: str) -> Predicate:
    value = literal(name, operand)
    return lambda _world, entity: satisfies(canon(name, entity.values.get(name)), operator, value)


def filter_checks() -> list[Check]:
    """checkFilterForEntityType(Relations): each property with a sample value, with each operator.

    (The suites stop at a Datastream's or Observation's first, single-valued relation; we do not.)"""
    checks = []
    for target in [Target(name) for name in SETS] + _plural(_related_targets()):
        for prop in SETS[target.result_set].props:
            if prop.sample is None or not prop.sortable:
                continue
            for operator in OPERATORS:
                keep = _keeps(prop.name, operator, prop.sample)
                checks.append(Check(target, filter=f"{prop.name} {operator} {prop.sample}", keep=keep))
    return checks


def _result(world: World, entity: Entity) -> Any:
    return entity.values["result"]


def precedence_checks() -> list[Check]:
    """checkAndOrPrecendece and checkArithmeticPrecendece: each filter keeps the Observation with result 1."""
    cases: list[tuple[str, Callable[[float], bool]]] = [
        ("result eq 2 and result eq 1 or result eq 1", lambda r: (r == 2 and r == 1) or r == 1),
        ("(result eq 2 and result eq 1) or result eq 1", lambda r: (r == 2 and r == 1) or r == 1),
        ("result eq 2 and (result eq 1 or result eq 1)", lambda r: r == 2 and (r == 1 or r == 1)),
        ("not result lt 1 and not result gt 1", lambda r: not r < 1 and not r > 1),
        ("1 add result mul 2 sub -1 eq 4", lambda r: 1 + r * 2 - -1 == 4),
        ("6 div 2 sub result eq 2", lambda r: 6 / 2 - r == 2),
        ("1 add 2.0 mod (result add 1) eq 1", lambda r: 1 + 2.0 % (r + 1) == 1),
        # The suite expects only result 1 here: `div` on these numbers divides without truncating.
        ("14 div (result add 1) mod 3 mul 3 eq 3", lambda r: 14 / (r + 1) % 3 * 3 == 3),
    ]
    return [
        Check(Target("Observations"), filter=text, keep=lambda w, e, f=formula: f(_result(w, e)))  # type: ignore[misc]
        for text, formula in cases
    ]


def _through_thing(name: str) -> Predicate:
    return lambda world, entity: world.get("Things", _thing_of(world, entity)).values["name"] == name


SELECT = select_checks()
EXPAND = expand_checks()
MULTILEVEL = multilevel_checks()
NESTED = nested_checks()
TOP = top_checks()
SKIP = skip_checks()
COUNT = count_checks()
ORDERBY = orderby_checks()
FILTER = filter_checks()
PRECEDENCE = precedence_checks()
# checkQueriesPriorityOrdering: $filter first (6 results are greater than '3' as text: 4 to 9), then
# $count, then $orderby, $skip and $top: the third of them in time, result 6.
PRIORITY = Check(
    Target("Observations"),
    Shape(top=1, skip=2, count=True),
    filter="result gt '3'",
    keep=lambda _world, entity: str(entity.values["result"]) > "3",
    orderby=(("phenomenonTime", False),),
    orderby_text="phenomenonTime asc",
)
THROUGH_THING = [
    Check(Target("Observations"), filter=f"Datastream/Thing/name eq '{name}'", keep=_through_thing(name))
    for name in ("thing 1", "thing 2")
]


# ---------------------------------------------------------------------------------------------------------
# Fixtures: one platform per catalog for the whole module, the set-up made once on it


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def platform(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EmbeddedPlatform]:
    registry = (
        {"url": _fresh_database(request.getfixturevalue("postgres_url"))} if request.param != "sqlite" else {}
    )
    data_dir = tmp_path_factory.mktemp(f"conformance-{request.param}")
    settings = load_settings(data_dir=data_dir, api={"port": 0}, registry=registry)
    with EmbeddedPlatform(settings) as running:
        yield running


@pytest.fixture(scope="module")
def sta(platform: EmbeddedPlatform) -> Iterator[httpx.Client]:
    """conftest's client, once per module: making an httpx.Client costs tens of milliseconds, and this
    module sends more than a thousand requests."""
    assert platform.api is not None
    with httpx.Client(base_url=f"{platform.api.url}/v1.1", timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def world(sta: httpx.Client) -> World:
    return build_world(sta)


# ---------------------------------------------------------------------------------------------------------
# The tests


def test_the_setup_made_what_the_suite_counts_on(sta: httpx.Client, world: World) -> None:
    """2 Things, 2 Locations, 4 HistoricalLocations, 4 Datastreams, 4 Sensors, 3 ObservedProperties,
    12 Observations and 2 FeaturesOfInterest, each with its links (the suites' ENTITYCOUNTS)."""
    problems = []
    for name in SETS:
        answer = get(sta, f"/{name}", [("$count", "true")], f"GET /{name}?$count=true")
        assert answer.status_code == 200, answer.text
        expected = len(world.all(name))
        if answer.json().get("@iot.count") != expected:
            problems.append(f"{name}: {answer.json().get('@iot.count')} instead of {expected}")
    assert problems == []


@pytest.mark.parametrize("check", SELECT, ids=str)
def test_select(sta: httpx.Client, world: World, check: Check) -> None:
    run(sta, world, check)


@pytest.mark.parametrize("check", EXPAND, ids=str)
def test_expand(sta: httpx.Client, world: World, check: Check) -> None:
    run(sta, world, check)


@pytest.mark.parametrize("check", MULTILEVEL, ids=str)
def test_expand_multilevel(sta: httpx.Client, world: World, check: Check) -> None:
    run(sta, world, check)


@pytest.mark.parametrize("check", NESTED, ids=str)
def test_expand_nested_with_options(sta: httpx.Client, world: World, check: Check) -> None:
    run(sta, world, check)


@pytest.mark.parametrize("check", TOP, ids=str)
def test_top(sta: httpx.Client, world: World, check: Check) -> None:
    run(sta, world, check)


@pytest.mark.parametrize("check", SKIP, ids=str)
def test_skip(sta: httpx.Client, world: World, check: Check) -> None:
    run(sta, world, check)


@pytest.mark.parametrize("check", COUNT, ids=str)
def test_count(sta: httpx.Client, world: World, check: Check) -> None:
    run(sta, world, check)


@pytest.mark.parametrize("check", ORDERBY, ids=str)
def test_orderby(sta: httpx.Client, world: World, check: Check) -> None:
    run(sta, world, check)


@pytest.mark.parametrize("check", FILTER, ids=str)
def test_filter(sta: httpx.Client, world: World, check: Check) -> None:
    run(sta, world, check)


@pytest.mark.parametrize("check", PRECEDENCE, ids=str)
def test_filter_precedence(sta: httpx.Client, world: World, check: Check) -> None:
    run(sta, world, check)


def test_query_options_apply_in_the_specified_order(sta: httpx.Client, world: World) -> None:
    run(sta, world, PRIORITY)


def test_the_result_comes_back_as_it_was_posted(sta: httpx.Client, world: World) -> None:
    """The suite compares the priority check's result with the text "6": a result keeps the JSON form
    it was posted in (here the integers 1 to 12)."""
    options: list[tuple[str, Param]] = [("$orderby", "phenomenonTime"), ("$select", "result")]
    answer = get(sta, "/Observations", options, "GET /Observations")
    assert answer.status_code == 200, answer.text
    got = [str(o["result"]) for o in json.loads(answer.text, parse_float=decimal.Decimal)["value"]]
    posted = [str(result) for _, result, _ in OBSERVATIONS.values()]
    assert got == posted, f"posted results {posted} come back as {got}"


@pytest.mark.parametrize("check", THROUGH_THING, ids=str)
def test_filter_observations_through_datastream_to_thing(
    sta: httpx.Client, world: World, check: Check
) -> None:
    run(sta, world, check)


def test_features_of_interest_expand_their_observations(sta: httpx.Client, world: World) -> None:
    run(sta, world, Check(Target("FeaturesOfInterest"), Shape(expand={"Observations": Shape()})))

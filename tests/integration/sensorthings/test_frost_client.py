"""FROST's own Python client (frost-sta-client from PyPI) against iotstream's SensorThings API: the
requests it sends are the ones recorded in frost_sta_client_requests.json, and those recorded requests
replayed as they are give the same results."""

import datetime as dt
import json
import re

import frost_sta_client as fsc
import geojson
import httpx
import pytest
import requests

from iotstream.embedded import EmbeddedPlatform
from tests.integration.sensorthings.conftest import FIXTURES

# The client itself calls a deprecated furl property; that is its business, not a failure of ours.
pytestmark = pytest.mark.filterwarnings("ignore:furl.pathstr is deprecated:DeprecationWarning")
MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"


@pytest.fixture
def service(platform: EmbeddedPlatform) -> fsc.SensorThingsService:
    assert platform.api is not None
    return fsc.SensorThingsService(f"{platform.api.url}/v1.1")


def _room(service: fsc.SensorThingsService) -> tuple[fsc.Thing, fsc.Datastream]:
    thing = fsc.Thing(name="Thing 1", description="demo thing", properties={"room": 1})
    thing.locations = [
        fsc.Location(
            name="Room 1",
            description="lab",
            encoding_type="application/geo+json",
            location=geojson.Point((8.42, 49.01)),
        )
    ]
    service.create(thing)
    sensor = fsc.Sensor(
        name="DHT22",
        description="temp sensor",
        encoding_type="application/pdf",
        metadata="http://example.org/dht22.pdf",
    )
    service.create(sensor)
    observed = fsc.ObservedProperty(
        name="Temperature",
        description="air temperature",
        definition="http://qudt.org/vocab/quantitykind/Temperature",
    )
    service.create(observed)
    unit = fsc.UnitOfMeasurement(
        name="degree Celsius", symbol="degC", definition="http://qudt.org/vocab/unit/DEG_C"
    )
    datastream = fsc.Datastream(
        name="T-room1",
        description="temperature room 1",
        observation_type=MEASUREMENT,
        unit_of_measurement=unit,
        thing=thing,
        sensor=sensor,
        observed_property=observed,
    )
    service.create(datastream)
    return thing, datastream


def test_the_frost_client_creates_queries_pages_patches_and_deletes(service: fsc.SensorThingsService) -> None:
    thing, datastream = _room(service)
    start = dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC)
    for minute in range(130):
        observation = fsc.Observation(
            result=15 + minute / 10,
            phenomenon_time=start + dt.timedelta(minutes=minute),
            datastream=datastream,
        )
        service.create(observation)
    assert isinstance(observation.id, str)

    found = (
        service.datastreams()
        .query()
        .filter("name eq 'T-room1'")
        .orderby("id", "ASC")
        .top(10)
        .expand("Thing,ObservedProperty")
        .select("name", "id")
        .count()
        .list()
    )
    assert found.count == 1
    [only] = list(found)
    assert (only.id, only.name, only.thing.name, only.observed_property.name) == (
        datastream.id,
        "T-room1",
        "Thing 1",
        "Temperature",
    )

    warm = (
        service.observations()
        .query()
        .filter("phenomenonTime ge 2024-01-01T00:00:00Z and result gt 16")
        .list()
    )
    results = [o.result for o in warm]  # 100 a page: the client follows @iot.nextLink for the rest
    assert results == [15 + m / 10 for m in range(130) if 15 + m / 10 > 16]
    assert len(results) > 100

    newest = datastream.get_observations().query().orderby("phenomenonTime", "DESC").top(1).list()
    assert [o.result for o in newest.entities] == [15 + 129 / 10]  # the first page only

    service.patch(thing, [{"op": "replace", "path": "/description", "value": "patched"}])
    assert service.things().find(thing.id).description == "patched"
    thing.name = "Thing 1 renamed"
    thing.description = "updated"
    service.update(thing)
    again = service.things().find(thing.id)
    assert (again.name, again.description, again.properties) == ("Thing 1 renamed", "updated", {"room": 1})

    with pytest.raises(requests.exceptions.HTTPError) as refused:
        service.delete(thing)  # its Datastream still uses it
    assert refused.value.response.status_code == 409
    extra = fsc.Thing(name="spare", description="nothing uses it")
    service.create(extra)
    service.delete(extra)
    with pytest.raises(requests.exceptions.HTTPError) as gone:
        service.things().find(extra.id)
    assert gone.value.response.status_code == 404


def test_the_recorded_requests_replayed_as_sent_give_the_same_answers(platform: EmbeddedPlatform) -> None:
    """The recording's server numbered all entities from one sequence (Thing 1, Sensor 2, ... Observation
    5); ids here are per entity set, so recorded ids are mapped to the ones our answers gave."""
    assert platform.api is not None
    recorded = json.loads((FIXTURES / "frost_sta_client_requests.json").read_text())
    ours: dict[int, object] = {}
    answers = []
    with httpx.Client(base_url=platform.api.url, timeout=30) as client:
        for request in recorded:
            path = re.sub(r"\((\d+)\)", lambda m: _key(ours[int(m[1])]), request["path"])
            url = f"{path}?{request['query']}" if request["query"] else path
            headers = {"content-type": request["content_type"]} if request["content_type"] else {}
            body = None if request["body"] is None else json.dumps(_mapped(request["body"], ours))
            answer = client.request(request["method"], url, content=body, headers=headers)
            if request["method"] == "POST" and answer.status_code == 201:
                ours[len(ours) + 1] = answer.json()["@iot.id"]
            answers.append(answer)
    assert [a.status_code for a in answers] == [201, 201, 201, 201, 201, 200, 200, 200, 200, 200, 200]
    datastreams = answers[5].json()
    assert datastreams["@iot.count"] == 1
    [datastream] = datastreams["value"]
    assert (datastream["name"], datastream["Thing"]["name"], datastream["ObservedProperty"]["name"]) == (
        "T-room1",
        "Thing 1",
        "Temperature",
    )
    assert "description" not in datastream  # $select=name,id
    assert [o["result"] for o in answers[6].json()["value"]] == [21.5]
    assert answers[7].json()["Locations@iot.navigationLink"].endswith(f"/v1.1/Things({ours[1]})/Locations")
    thing = httpx.get(f"{platform.api.url}/v1.1/Things({ours[1]})?$expand=Locations").json()
    assert (thing["description"], [loc["name"] for loc in thing["Locations"]]) == ("updated", ["Room 1"])
    deleted = httpx.get(f"{platform.api.url}/v1.1/Observations{_key(ours[5])}")  # the client deleted it
    assert deleted.status_code == 404


def _key(entity_id: object) -> str:
    return f"({entity_id})" if isinstance(entity_id, int) else f"('{entity_id}')"


def _mapped(value: object, ours: dict[int, object]) -> object:
    if isinstance(value, dict):
        return {k: ours.get(v, v) if k == "@iot.id" else _mapped(v, ours) for k, v in value.items()}
    if isinstance(value, list):
        return [_mapped(v, ours) for v in value]
    return value

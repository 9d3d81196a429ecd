"""The MultiDatastream extension: the specification's example, and the checks of FROST's
MultiDatastreamTests (their set-up: two Things, two Sensors, two ObservedProperties, four
MultiDatastreams of one, two, two reversed and the same ObservedProperty twice)."""

from typing import Any

import httpx
import pytest

from iotstream.embedded import EmbeddedPlatform

from .conftest import created_id, created_sensors

COMPLEX = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_ComplexObservation"
MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
CELSIUS = {"name": "degree celcius", "symbol": "°C", "definition": "ucum:T"}
PERCENT = {"name": "percent", "symbol": "%", "definition": "ucum:%"}


def _ids(sta: httpx.Client, path: str) -> list[Any]:
    answer = sta.get(path)
    assert answer.status_code == 200, answer.text
    return [entity["@iot.id"] for entity in answer.json()["value"]]


def test_the_specifications_example_creates_a_multi_datastream_and_its_observations(
    sta: httpx.Client,
) -> None:
    body = {
        "name": "Oven temperature and humidity",
        "description": "This is a MultiDatastream for measuring oven temperature and humidity",
        "unitOfMeasurements": [
            {
                "name": "DegreeCelsius",
                "symbol": "degC",
                "definition": "http://qudt.org/vocab/unit#DegreeCelsius",
            },
            {"name": "Percent", "symbol": "%", "definition": "http://qudt.org/vocab/unit#Percent"},
        ],
        "observationType": COMPLEX,
        "multiObservationDataTypes": [MEASUREMENT, MEASUREMENT],
        "Thing": {"name": "Oven", "description": "This thing is an oven."},
        "Sensor": {
            "name": "DHT22",
            "description": "DHT22",
            "encodingType": "application/pdf",
            "metadata": "x",
        },
        "ObservedProperties": [
            {"name": "Temperature", "definition": "http://dbpedia.org/page/Temperature", "description": "t"},
            {"name": "Humidity", "definition": "http://dbpedia.org/page/Humidity", "description": "h"},
        ],
    }
    mds = created_id(sta, "/MultiDatastreams", body)
    made = sta.get(
        f"/MultiDatastreams({mds})?$expand=ObservedProperties($select=name),Thing($select=name)"
    ).json()
    assert made["observationType"] == COMPLEX
    assert made["unitOfMeasurements"] == body["unitOfMeasurements"]
    assert [p["name"] for p in made["ObservedProperties"]] == ["Temperature", "Humidity"]
    assert made["Thing"]["name"] == "Oven"
    assert made["properties"] == {"key": "Oven temperature and humidity"}

    created_id(
        sta,
        f"/MultiDatastreams({mds})/Observations",
        {"phenomenonTime": "2024-03-01T10:00:00Z", "result": [25, 65]},
    )
    via_collection = {
        "phenomenonTime": "2024-03-01T10:01:00Z",
        "result": [26, 64],
        "MultiDatastream": {"@iot.id": mds},
    }
    observation = created_id(sta, "/Observations", via_collection)
    listed = sta.get(f"/MultiDatastreams({mds})/Observations?$orderby=phenomenonTime").json()["value"]
    assert [o["result"] for o in listed] == [[25, 65], [26, 64]]
    assert listed[1]["@iot.id"] == observation
    assert "MultiDatastream@iot.navigationLink" in listed[0]
    assert "Datastream@iot.navigationLink" not in listed[0]
    assert sta.get(f"/Observations('{observation}')/MultiDatastream").json()["@iot.id"] == mds
    assert sta.get(f"/Observations('{observation}')/Datastream").status_code == 404
    table = sta.get(f"/MultiDatastreams({mds})/Observations?$resultFormat=dataArray&$select=result").json()
    assert table["value"][0]["MultiDatastream@iot.navigationLink"].endswith(f"/MultiDatastreams({mds})")
    assert table["value"][0]["dataArray"] == [[[25, 65]], [[26, 64]]]


@pytest.fixture
def world(sta: httpx.Client) -> dict[str, list[int]]:
    location = {"name": "Location 1.0", "description": "", "encodingType": "application/vnd.geo+json"}
    location |= {"location": {"type": "Point", "coordinates": [8, 51]}}
    loc = created_id(sta, "/Locations", location)
    things = [
        created_id(sta, "/Things", {"name": f"Thing {n}", "description": "", "Locations": [{"@iot.id": loc}]})
        for n in (1, 2)
    ]
    sensors = created_sensors(sta, 2)
    props = [
        created_id(
            sta, "/ObservedProperties", {"name": f"ObservedProperty {n}", "definition": d, "description": ""}
        )
        for n, d in ((1, "http://ucom.org/temperature"), (2, "http://ucom.org/humidity"))
    ]
    datastream = {
        "name": "Datastream 1",
        "description": "",
        "observationType": "someType",
        "unitOfMeasurement": CELSIUS,
    }
    datastream |= {"Thing": {"@iot.id": things[0]}, "Sensor": {"@iot.id": sensors[0]}}
    datastreams = [created_id(sta, "/Datastreams", datastream | {"ObservedProperty": {"@iot.id": props[0]}})]
    layouts = [
        ((0,), (CELSIUS,), 0),
        ((0, 1), (CELSIUS, PERCENT), 0),
        ((1, 0), (PERCENT, CELSIUS), 0),
        ((0, 0), (CELSIUS, CELSIUS), 1),
    ]
    mds = []
    for n, (chosen, units, sensor) in enumerate(layouts, start=1):
        body = {"name": f"MultiDatastream {n}", "description": "", "unitOfMeasurements": list(units)}
        body |= {"multiObservationDataTypes": [MEASUREMENT] * len(units), "Thing": {"@iot.id": things[0]}}
        body |= {
            "Sensor": {"@iot.id": sensors[sensor]},
            "ObservedProperties": [{"@iot.id": props[i]} for i in chosen],
        }
        mds.append(created_id(sta, "/MultiDatastreams", body))
    observations = [created_id(sta, f"/Datastreams({datastreams[0]})/Observations", {"result": -1})]
    for index, results in enumerate(
        [[[1], [2], [3]], [[4, 1], [5, 2], [6, 3]], [[7, 4], [8, 5], [9, 6]], [[10, 7], [11, 8], [12, 9]]]
    ):
        for minute, result in enumerate(results):
            body = {"result": result, "phenomenonTime": f"2024-01-01T00:0{minute}:00Z"}
            observations.append(created_id(sta, f"/MultiDatastreams({mds[index]})/Observations", body))
    return {
        "things": things,
        "sensors": sensors,
        "props": props,
        "datastreams": datastreams,
        "mds": mds,
        "obs": observations,
    }


def test_observations_must_carry_one_value_per_observed_property(
    sta: httpx.Client, world: dict[str, list[int]]
) -> None:
    one, two = world["mds"][0], world["mds"][1]
    for mds, result in ((two, 1), (one, [1, 2]), (two, [1])):
        refused = sta.post(f"/MultiDatastreams({mds})/Observations", json={"result": result})
        assert refused.status_code == 400, (mds, result)
        assert "result array of" in refused.json()["message"]
    both = {
        "result": [1],
        "Datastream": {"@iot.id": world["datastreams"][0]},
        "MultiDatastream": {"@iot.id": one},
    }
    assert sta.post("/Observations", json=both).status_code == 400


def test_links_order_and_counts_match_frost(sta: httpx.Client, world: dict[str, list[int]]) -> None:
    things, sensors, props, mds = world["things"], world["sensors"], world["props"], world["mds"]
    for path in ("/Things", "/Sensors", "/ObservedProperties"):
        assert all("MultiDatastreams@iot.navigationLink" in e for e in sta.get(path).json()["value"])
    assert sorted(_ids(sta, f"/Things({things[0]})/MultiDatastreams")) == sorted(mds)
    assert sorted(_ids(sta, f"/Sensors({sensors[0]})/MultiDatastreams")) == sorted(mds[:3])
    assert sorted(_ids(sta, f"/ObservedProperties({props[0]})/MultiDatastreams")) == sorted(mds)
    assert sorted(_ids(sta, f"/ObservedProperties({props[1]})/MultiDatastreams")) == sorted(mds[1:3])
    orders = [_ids(sta, f"/MultiDatastreams({m})/ObservedProperties") for m in mds]
    assert orders == [[props[0]], [props[0], props[1]], [props[1], props[0]], [props[0], props[0]]]
    first, second = world["obs"][0], world["obs"][1]
    assert sta.get(f"/Observations('{first}')/Datastream").status_code == 200
    assert sta.get(f"/Observations('{first}')/MultiDatastream").status_code == 404
    assert sta.get(f"/Observations('{second}')/MultiDatastream").json()["@iot.id"] == mds[0]
    for index, expected in enumerate([[1, 2, 3], [[4, 1], [5, 2], [6, 3]]]):
        results = [
            o["result"]
            for o in sta.get(f"/MultiDatastreams({mds[index]})/Observations?$orderby=phenomenonTime").json()[
                "value"
            ]
        ]
        assert results == ([[r] for r in expected] if index == 0 else expected)
    assert sta.get("/Observations?$count=true&$top=1").json()["@iot.count"] == 13
    by_owner = sta.get("/Observations?$filter=MultiDatastream/name eq 'MultiDatastream 2'&$count=true").json()
    assert by_owner["@iot.count"] == 3


def test_what_cannot_change_is_refused(sta: httpx.Client, world: dict[str, list[int]]) -> None:
    props, mds = world["props"], world["mds"]
    relink = {"MultiDatastream": {"@iot.id": mds[0]}}
    assert sta.patch(f"/Observations('{world['obs'][0]}')", json=relink).status_code == 400  # FROST test12
    adopt = {"MultiDatastreams": [{"@iot.id": mds[0]}]}
    assert sta.patch(f"/ObservedProperties({props[1]})", json=adopt).status_code == 400  # FROST test13
    reorder = {"ObservedProperties": [{"@iot.id": props[1]}, {"@iot.id": props[0]}]}
    assert sta.patch(f"/MultiDatastreams({mds[1]})", json=reorder).status_code == 400
    shorter = {"unitOfMeasurements": [CELSIUS]}
    assert sta.patch(f"/MultiDatastreams({mds[1]})", json=shorter).status_code == 400
    assert sta.patch(f"/MultiDatastreams({mds[1]})", json={"name": "renamed"}).status_code == 200
    used = sta.delete(f"/ObservedProperties({props[1]})")
    assert (used.status_code, "MultiDatastreams" in used.json()["message"]) == (409, True)


def test_readings_of_a_multi_datastream_travel_under_its_key(
    platform: EmbeddedPlatform, sta: httpx.Client, world: dict[str, list[int]]
) -> None:
    assert platform.storage is not None
    key = sta.get(f"/MultiDatastreams({world['mds'][1]})/properties").json()["properties"]["key"]
    stored = platform.storage.raw(key, 0, 2**62)
    assert [o.result for o in stored] == [[4, 1], [5, 2], [6, 3]]
    published = sta.get(f"/MultiDatastreams({world['mds'][1]})").json()["phenomenonTime"]
    assert published == "2024-01-01T00:00:00Z/2024-01-01T00:02:00Z"

"""Client mistakes get 400/404/409 with a message that names the problem, and a request that fails
part-way writes nothing."""

from typing import Any

import httpx
import pytest

MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"


def _datastream(thing: Any, sensor: Any, observed: Any, name: str = "t1") -> dict[str, Any]:
    return {
        "name": name,
        "description": "",
        "observationType": MEASUREMENT,
        "unitOfMeasurement": {"name": "degree Celsius", "symbol": "degC", "definition": "ucum:Cel"},
        "Thing": thing,
        "Sensor": sensor,
        "ObservedProperty": observed,
    }


SENSOR = {"name": "s", "description": "", "encodingType": "text/plain", "metadata": "m"}
OBSERVED = {"name": "temperature", "definition": "http://example.org/t", "description": ""}


def _counts(sta: httpx.Client) -> dict[str, int]:
    sets = ("Things", "Locations", "Sensors", "ObservedProperties", "Datastreams", "HistoricalLocations")
    return {name: sta.get(f"/{name}?$count=true&$top=0").json()["@iot.count"] for name in sets}


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/Things", [1, 2], 400, "a Thing must be a JSON object, got list"),
        ("/Things", {"name": "x", "colour": "red"}, 400, "Thing has no property 'colour'"),
        ("/Things", {"description": "no name"}, 400, "a Thing needs 'name'"),
        ("/Things", {"name": 5}, 400, "Thing.name must be text, got int"),
        ("/Sensors", {**SENSOR, "metadata": None}, 400, "a Sensor needs 'metadata'"),
        (
            "/Datastreams",
            _datastream({"@iot.id": 99}, SENSOR, OBSERVED),
            404,
            "refers to Thing 99, which does not exist",
        ),
        (
            "/Datastreams",
            {**_datastream({"name": "t"}, SENSOR, OBSERVED), "Thing": None},
            400,
            "a Thing must be a JSON object",
        ),
        ("/Widgets", {"name": "x"}, 404, "no entity set 'Widgets'"),
    ],
)
def test_a_bad_body_is_refused_with_the_reason(
    sta: httpx.Client, path: str, body: Any, status: int, message: str
) -> None:
    answer = sta.post(path, json=body)
    assert answer.status_code == status
    assert message in answer.json()["message"]
    assert sum(_counts(sta).values()) == 0


def test_a_deep_insert_that_fails_deep_down_writes_nothing(sta: httpx.Client) -> None:
    body = {
        "name": "house",
        "Locations": [
            {
                "name": "hall",
                "encodingType": "application/geo+json",
                "location": {"type": "Point", "coordinates": [8, 49]},
            }
        ],
        "Datastreams": [
            _datastream(None, SENSOR, OBSERVED, "ok"),
            _datastream(None, SENSOR, {**OBSERVED, "unit": "K"}, "bad"),  # unknown property, two levels down
        ],
    }
    for nested in body["Datastreams"]:
        del nested["Thing"]  # implied by the Thing they are nested in
    answer = sta.post("/Things", json=body)
    assert answer.status_code == 400
    assert "ObservedProperty has no property 'unit'" in answer.json()["message"]
    assert sum(_counts(sta).values()) == 0

    del body["Datastreams"][1]["ObservedProperty"]["unit"]
    assert sta.post("/Things", json=body).status_code == 201
    assert _counts(sta) == {
        "Things": 1,
        "Locations": 1,
        "Sensors": 2,
        "ObservedProperties": 2,
        "Datastreams": 2,
        "HistoricalLocations": 1,
    }


def test_bad_query_options_name_the_option(sta: httpx.Client) -> None:
    cases = {
        "/Things?$filter=name eq": "$filter 'name eq'",
        "/Things?$filter=colour eq 'red'": "Thing has no property or link 'colour'",
        "/Locations?$filter=geo.intersects(location, geography'POINT(8 x)')": (
            "geography'POINT(8 x)' is not a WKT geometry"
        ),
        "/Things?$top=-1": "$top must be a whole number",
        "/Things?$top=20000": "$top 20000 is more than the maximum 10000",
        "/Things?$expand=Sensor": "Thing has no link 'Sensor'",
        "/Things?$count=yes": "$count must be true or false",
        "/Things?$foo=1": "unknown query option $foo",
        "/Observations?$filter=colour eq 1": "Observation has no property 'colour'",
    }
    for url, message in cases.items():
        answer = sta.get(url)
        assert answer.status_code == 400, url
        assert message in answer.json()["message"], (url, answer.json())


def test_missing_entities_are_404_and_used_ones_cannot_be_deleted(sta: httpx.Client) -> None:
    assert sta.get("/Things(7)").status_code == 404
    assert "no Thing 7" in sta.get("/Things(7)").json()["message"]
    assert sta.get("/Observations('1-5')").status_code == 404
    created = sta.post("/Datastreams", json=_datastream({"name": "house"}, SENSOR, OBSERVED))
    assert created.status_code == 201, created.text
    datastream = created.json()["@iot.id"]
    thing = sta.get(f"/Datastreams({datastream})/Thing").json()["@iot.id"]
    sensor = sta.get(f"/Datastreams({datastream})/Sensor").json()["@iot.id"]

    for path in (f"/Things({thing})", f"/Sensors({sensor})"):
        answer = sta.delete(path)
        assert answer.status_code == 409
        assert f"still used by Datastreams {datastream}" in answer.json()["message"]
    taken = _datastream({"@iot.id": thing}, {"@iot.id": sensor}, OBSERVED, "other") | {
        "properties": {"key": "t1"}
    }
    clash = sta.post("/Datastreams", json=taken)
    assert clash.status_code == 409
    assert "a Datastream with key 't1' exists already" in clash.json()["message"]
    rekey = sta.patch(f"/Datastreams({datastream})", json={"properties": {"key": "t2"}})
    assert rekey.status_code == 400
    assert "has the stream key 't1', which never changes" in rekey.json()["message"]

    sta.post(
        f"/Datastreams({datastream})/Observations",
        json={"result": 1.5, "phenomenonTime": "2024-01-01T00:00:00Z"},
    )
    assert sta.delete(f"/Datastreams({datastream})").status_code == 409  # its readings are stored
    assert _counts(sta)["Datastreams"] == 1

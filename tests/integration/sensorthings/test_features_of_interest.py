"""FeaturesOfInterest made from the Thing's Location when an Observation comes without one, and the links
from an Observation to its Datastream and FeatureOfInterest."""

import httpx

from .test_errors import OBSERVED, SENSOR, _datastream

CELLAR = {
    "name": "cellar",
    "description": "under the house",
    "encodingType": "application/geo+json",
    "location": {"type": "Point", "coordinates": [4.35, 50.85]},
}


def _datastream_id(sta: httpx.Client, thing: dict[str, object], name: str) -> int:
    created = sta.post("/Datastreams", json=_datastream(thing, SENSOR, OBSERVED, name))
    assert created.status_code == 201, created.text
    datastream_id: int = created.json()["@iot.id"]
    return datastream_id


def _observe(sta: httpx.Client, datastream_id: int, body: dict[str, object]) -> str:
    created = sta.post(f"/Datastreams({datastream_id})/Observations", json=body)
    assert created.status_code == 201, created.text
    return created.headers["location"].split("/v1.1", 1)[1]


def test_an_observation_without_a_feature_gets_the_one_made_from_its_things_location(
    sta: httpx.Client,
) -> None:
    datastream_id = _datastream_id(sta, {"name": "boiler", "Locations": [CELLAR]}, "boiler-t")
    first = _observe(sta, datastream_id, {"phenomenonTime": "2026-11-01T10:00:00Z", "result": 20})
    second = _observe(sta, datastream_id, {"phenomenonTime": "2026-11-01T10:01:00Z", "result": 21})

    feature = sta.get(f"{first}/FeatureOfInterest").json()
    assert (feature["name"], feature["description"]) == ("cellar", "under the house")
    assert (feature["encodingType"], feature["feature"]) == (CELLAR["encodingType"], CELLAR["location"])
    assert sta.get(f"{second}/FeatureOfInterest").json()["@iot.id"] == feature["@iot.id"]  # shared
    assert sta.get("/FeaturesOfInterest?$count=true").json()["@iot.count"] == 1
    assert sta.get(f"{first}/Datastream").json()["@iot.id"] == datastream_id
    assert sta.get(f"{first}/FeatureOfInterest/name").json() == {"name": "cellar"}


def test_a_given_feature_is_kept_and_without_a_location_there_is_none(sta: httpx.Client) -> None:
    located = _datastream_id(sta, {"name": "boiler", "Locations": [CELLAR]}, "boiler-t")
    field = {"name": "field 7", "description": "", "encodingType": "text/plain", "feature": "north"}
    given = _observe(sta, located, {"result": 1, "FeatureOfInterest": field})
    assert sta.get(f"{given}/FeatureOfInterest").json()["name"] == "field 7"

    nowhere = _datastream_id(sta, {"name": "drifter"}, "drifter-t")
    observation = _observe(sta, nowhere, {"result": 2})
    answer = sta.get(f"{observation}/FeatureOfInterest")
    assert answer.status_code == 404
    assert "has no FeatureOfInterest" in answer.json()["message"]
    missing = sta.get(f"/Observations('{nowhere}-1')/Datastream")
    assert (missing.status_code, missing.json()["message"]) == (404, f"no Observation '{nowhere}-1'")

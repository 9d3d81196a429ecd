"""HistoricalLocations: made by the service whenever a Thing gets a new Location (the specification's
examples: a Thing posted with its Location, a Location posted to a Thing, a Thing relinked to another
Location), and, as FROST does, a HistoricalLocation a client adds later than all others moves the Thing."""

import datetime as dt
import time
from typing import Any

import httpx

HOUSE = {"type": "Point", "coordinates": [-117.123, 54.123]}


def _location(name: str, x: float) -> dict[str, Any]:
    point = {"type": "Point", "coordinates": [x, 50]}
    return {"name": name, "description": "", "encodingType": "application/geo+json", "location": point}


def _history(sta: httpx.Client, thing: int) -> list[tuple[str, list[str]]]:
    """(time, names of its Locations) of each HistoricalLocation of the Thing, oldest first."""
    page = sta.get(f"/Things({thing})/HistoricalLocations?$orderby=time,id&$expand=Locations($select=name)")
    return [(h["time"], [loc["name"] for loc in h["Locations"]]) for h in page.json()["value"]]


def _locations(sta: httpx.Client, thing: int) -> list[str]:
    return sorted(loc["name"] for loc in sta.get(f"/Things({thing})/Locations").json()["value"])


def test_every_new_location_of_a_thing_is_recorded_by_the_service(sta: httpx.Client) -> None:
    before = time.time()
    body = {
        "name": "Temperature Monitoring System",
        "description": "Sensor system monitoring area temperature",
    }
    body |= {"properties": {"Deployment Condition": "Deployed in a third floor balcony"}}
    body |= {"Locations": [{"name": "UofC CCIT", "description": "University of Calgary, CCIT building"}]}
    body["Locations"][0] |= {"encodingType": "application/geo+json", "location": HOUSE}
    created = sta.post("/Things", json=body)
    assert created.status_code == 201, created.text
    thing = created.json()["@iot.id"]
    [(when, names)] = _history(sta, thing)
    assert names == ["UofC CCIT"]
    recorded = dt.datetime.fromisoformat(when).timestamp()
    assert before - 2 <= recorded <= time.time() + 2

    assert sta.post(f"/Things({thing})/Locations", json=_location("balcony", 1)).status_code == 201
    assert [names for _, names in _history(sta, thing)] == [["UofC CCIT"], ["balcony"]]
    assert _locations(sta, thing) == ["UofC CCIT", "balcony"]

    linked = sta.post("/Locations", json=_location("roof", 2) | {"Things": [{"@iot.id": thing}]})
    assert linked.status_code == 201, linked.text
    assert [names for _, names in _history(sta, thing)][-1] == ["roof"]

    first = sta.get("/Locations?$filter=name eq 'UofC CCIT'").json()["value"][0]["@iot.id"]
    moved = sta.patch(f"/Things({thing})", json={"Locations": [{"@iot.id": first}]})
    assert moved.status_code == 200, moved.text
    assert _locations(sta, thing) == ["UofC CCIT"]
    assert [names for _, names in _history(sta, thing)] == [
        ["UofC CCIT"],
        ["balcony"],
        ["roof"],
        ["UofC CCIT"],
    ]
    assert sta.patch(f"/Things({thing})", json={"name": "renamed"}).status_code == 200
    assert len(_history(sta, thing)) == 4  # nothing moved, nothing recorded


def test_a_historical_location_later_than_all_others_moves_the_thing_and_an_earlier_one_does_not(
    sta: httpx.Client,
) -> None:
    thing = sta.post("/Things", json={"name": "Thing 1", "description": "The first thing."}).json()["@iot.id"]
    locations = [
        sta.post("/Locations", json=_location(f"Location {n}.0", n)).json()["@iot.id"] for n in (1, 2, 3)
    ]
    assert sta.patch(f"/Things({thing})", json={"Locations": [{"@iot.id": locations[0]}]}).status_code == 200
    [generated] = sta.get(f"/Things({thing})/HistoricalLocations").json()["value"]
    assert sta.patch(
        f"/HistoricalLocations({generated['@iot.id']})", json={"time": "2016-01-01T06:00:00.000Z"}
    )

    later = {"time": "2016-01-01T07:00:00.000Z", "Thing": {"@iot.id": thing}}
    later |= {"Locations": [{"@iot.id": locations[1]}]}
    assert sta.post("/HistoricalLocations", json=later).status_code == 201
    assert _locations(sta, thing) == ["Location 2.0"]

    earlier = {"time": "2016-01-01T05:00:00.000Z", "Thing": {"@iot.id": thing}}
    earlier |= {"Locations": [{"@iot.id": locations[2]}]}
    assert sta.post("/HistoricalLocations", json=earlier).status_code == 201
    assert _locations(sta, thing) == ["Location 2.0"]
    assert [t for t, _ in _history(sta, thing)] == [
        "2016-01-01T05:00:00Z",
        "2016-01-01T06:00:00Z",
        "2016-01-01T07:00:00Z",
    ]

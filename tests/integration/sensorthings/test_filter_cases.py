"""Every $filter case FROST-Server's own test suite checks (recorded in sta_frost_filter_cases.json):
the entities are created through our API as the file says, then each filter must return exactly the
expected entities."""

import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.integration.sensorthings.conftest import FIXTURES

CASES = json.loads((FIXTURES / "sta_frost_filter_cases.json").read_text())
ORDER = ["Things", "Locations", "Sensors", "ObservedProperties", "Datastreams", "Observations"]
MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"


def create_entities(sta: httpx.Client) -> dict[str, list[Any]]:
    """Post the file's entities in order; {'$ref': 'Things[0]'} becomes {'@iot.id': <its id>}."""
    ids: dict[str, list[Any]] = {}
    for collection in ORDER:
        ids[collection] = []
        for entity in CASES["entities"][collection]:
            body = resolve(entity, ids)
            if body.get("observationType") == "someType":  # the file's note: substitute a real type
                body["observationType"] = MEASUREMENT
            answer = sta.post(f"/{collection}", json=body)
            assert answer.status_code == 201, answer.text
            ids[collection].append(answer.json()["@iot.id"])
    return ids


def resolve(value: Any, ids: dict[str, list[Any]]) -> Any:
    if isinstance(value, dict) and set(value) == {"$ref"}:
        collection, index = value["$ref"].rstrip("]").split("[")
        return {"@iot.id": ids[collection][int(index)]}
    if isinstance(value, dict):
        return {k: resolve(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, ids) for v in value]
    return value


@pytest.fixture
def created(sta: httpx.Client) -> dict[str, list[Any]]:
    return create_entities(sta)


def test_every_frost_filter_case_returns_exactly_the_expected_entities(
    sta: httpx.Client, created: dict[str, list[Any]]
) -> None:
    failures = []
    for case in CASES["filter_cases"]:
        answer = sta.get(f"/{case['collection']}?$filter={quote(case['filter'])}&$top=1000")
        assert answer.status_code == 200, f"{case['filter']}: {answer.text}"
        got = sorted(str(e["@iot.id"]) for e in answer.json()["value"])
        expected = sorted(str(created[case["collection"]][i]) for i in case["expected"])
        if got != expected:
            failures.append(f"{case['collection']} {case['filter']!r}: expected {expected}, got {got}")
    assert failures == []


def test_a_null_property_is_answered_with_no_content(
    sta: httpx.Client, created: dict[str, list[Any]]
) -> None:
    for case in CASES["other_cases"]:
        method, path = case["request"].split(" ", 1)
        path = path.replace("{Things[0]}", str(created["Things"][0]))
        answer = sta.request(method, path)
        assert answer.status_code == case["expect_status"], f"{case['request']}: {answer.text}"


def test_historical_locations_record_each_thing_with_its_locations(
    sta: httpx.Client, created: dict[str, list[Any]]
) -> None:
    thing = created["Things"][0]
    history = sta.get(f"/Things({thing})/HistoricalLocations?$expand=Locations($select=name)").json()["value"]
    assert sorted(loc["name"] for h in history for loc in h["Locations"]) == ["Location 1.0", "Location 1.1"]


def test_arithmetic_functions_ordering_and_paging_on_the_same_entities(
    sta: httpx.Client, created: dict[str, list[Any]]
) -> None:
    def names(url: str) -> list[str]:
        answer = sta.get(url)
        assert answer.status_code == 200, answer.text
        return [e.get("name", e.get("result")) for e in answer.json()["value"]]

    assert names("/Things?$filter=properties/field mul 2 eq 6") == ["Thing 3"]
    assert names("/Things?$filter=length(name) eq 7 and not (name eq 'Thing 1')&$orderby=name desc") == [
        "Thing 4",
        "Thing 3",
        "Thing 2",
    ]
    assert names("/Locations?$filter=tolower(name) eq 'location 2'") == ["Location 2"]
    datastream = created["Datastreams"][1]
    observations = f"/Datastreams({datastream})/Observations"
    assert names(f"{observations}?$filter=result add 2 gt 6 and hour(phenomenonTime) lt 6") == [5, 6, 7]
    assert names(f"{observations}?$filter=year(phenomenonTime) eq 2016&$orderby=result desc&$top=2") == [8, 7]
    first = sta.get("/Things?$top=3&$select=name&$count=true").json()
    assert (first["@iot.count"], [t["name"] for t in first["value"]]) == (
        4,
        ["Thing 1", "Thing 2", "Thing 3"],
    )
    rest = sta.get(first["@iot.nextLink"]).json()
    assert ([t["name"] for t in rest["value"]], "@iot.nextLink" in rest) == (["Thing 4"], False)


def test_nested_expansions_take_their_own_options(sta: httpx.Client, created: dict[str, list[Any]]) -> None:
    url = (
        "/Things?$filter=name eq 'Thing 1'&$select=name"
        "&$expand=Datastreams($orderby=name desc;$top=2;$select=name),"
        "Datastreams/ObservedProperty($select=name)"
    )
    answer = sta.get(url)
    assert answer.status_code == 200, answer.text
    [thing] = answer.json()["value"]
    assert thing["name"] == "Thing 1"
    assert [(d["name"], d["ObservedProperty"]["name"]) for d in thing["Datastreams"]] == [
        ("Datastream 2", "ObservedProperty 2"),
        ("Datastream 1", "ObservedProperty 1"),
    ]

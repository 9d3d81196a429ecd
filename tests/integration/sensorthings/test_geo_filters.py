"""The geospatial $filter functions over HTTP, on both catalogs: the entities and queries of FROST-Server's
GeoTests (the OGC SensorThings test suite's geospatial checks), then navigation paths, lambdas, paging,
values that are not geometries and bad literals."""

from typing import Any
from urllib.parse import quote

import httpx
import pytest

from .conftest import created_id
from .test_errors import MEASUREMENT, OBSERVED, SENSOR


def point(x: float, y: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [x, y]}


def line(*points: tuple[float, float]) -> dict[str, Any]:
    return {"type": "LineString", "coordinates": [list(p) for p in points]}


# GeoTests' eight geometries: each is a Location and a FeatureOfInterest. Locations 0 and 1 belong to
# Thing 0, 2 to Thing 1, 3 to Thing 2, 4 to Thing 3; 5-7 to none. Observation i has FeatureOfInterest i
# (i < 4) and Datastream 0, 0, 1, 2.
GEOMETRIES = [
    point(8, 51),
    point(8, 52),
    point(8, 53),
    point(8, 54),
    {"type": "Polygon", "coordinates": [[[8, 53], [7, 52], [7, 53], [8, 53]]]},
    line((5, 52), (5, 53)),
    line((5, 52), (6, 53)),
    line((4, 52), (8, 52)),
]
LOCATION_THINGS = [0, 0, 1, 2, 3, None, None, None]
OBSERVATION_DATASTREAMS = [0, 0, 1, 2]
# FROST computes a Datastream's observedArea from its Observations' features; here it is given.
OBSERVED_AREAS = [line((8, 51), (8, 52)), point(8, 53), point(8, 54)]
BOX = "geography'POLYGON((7.5 51.5, 7.5 53.5, 8.5 53.5, 8.5 51.5, 7.5 51.5))'"

FROST_CASES = [
    ("Locations", "geo.distance(location, geography'POINT(8 54.1)') lt 1", [3]),
    ("Locations", "geo.distance(location, geography'POINT(8 54.1)') gt 1", [0, 1, 2, 4, 5, 6, 7]),
    ("Observations", "geo.distance(FeatureOfInterest/feature, geography'POINT(8 54.1)') lt 1", [3]),
    ("Observations", "geo.distance(FeatureOfInterest/feature, geography'POINT(8 54.1)') gt 1", [0, 1, 2]),
    ("Locations", "geo.intersects(location, geography'LINESTRING(7.5 51, 7.5 54)')", [4, 7]),
    ("FeaturesOfInterest", "geo.intersects(feature, geography'LINESTRING(7.5 51, 7.5 54)')", [4, 7]),
    ("Datastreams", f"geo.intersects(observedArea, {BOX})", [0, 1]),
    ("Locations", "geo.length(location) gt 1", [6, 7]),
    ("Locations", "geo.length(location) ge 1", [5, 6, 7]),
    ("Locations", "geo.length(location) eq 1", [5]),
    ("Locations", "geo.length(location) ne 1", [0, 1, 2, 3, 4, 6, 7]),
    ("Locations", "geo.length(location) le 4", [0, 1, 2, 3, 4, 5, 6, 7]),
    ("Locations", "geo.length(location) lt 4", [0, 1, 2, 3, 4, 5, 6]),
    ("FeaturesOfInterest", "geo.length(feature) gt 1", [6, 7]),
    ("FeaturesOfInterest", "geo.length(feature) eq 1", [5]),
    ("FeaturesOfInterest", "geo.length(feature) lt 4", [0, 1, 2, 3, 4, 5, 6]),
    ("Locations", f"st_contains({BOX}, location)", [1, 2]),
    ("Observations", f"st_contains({BOX}, FeatureOfInterest/feature)", [1, 2]),
    ("Datastreams", f"st_contains({BOX}, observedArea)", [1]),
    ("Locations", "st_crosses(geography'LINESTRING(7.5 51.5, 7.5 53.5)', location)", [4, 7]),
    ("FeaturesOfInterest", "st_crosses(geography'LINESTRING(7.5 51.5, 7.5 53.5)', feature)", [4, 7]),
    ("Locations", f"st_disjoint({BOX}, location)", [0, 3, 5, 6]),
    ("FeaturesOfInterest", f"st_disjoint({BOX}, feature)", [0, 3, 5, 6]),
    ("Locations", "st_equals(location, geography'POINT(8 53)')", [2]),
    ("FeaturesOfInterest", "st_equals(feature, geography'POINT(8 53)')", [2]),
    ("Locations", "st_intersects(location, geography'LINESTRING(7.5 51, 7.5 54)')", [4, 7]),
    ("FeaturesOfInterest", "st_intersects(feature, geography'LINESTRING(7.5 51, 7.5 54)')", [4, 7]),
    ("Datastreams", f"st_intersects(observedArea, {BOX})", [0, 1]),
    ("Locations", f"st_overlaps({BOX}, location)", [4]),
    ("FeaturesOfInterest", f"st_overlaps({BOX}, feature)", [4]),
    ("Locations", f"st_relate({BOX}, location, 'T********')", [1, 2, 4, 7]),
    ("FeaturesOfInterest", f"st_relate({BOX}, feature, 'T********')", [1, 2, 4, 7]),
    ("Locations", "st_touches(geography'POLYGON((8 53, 7.5 54.5, 8.5 54.5, 8 53))', location)", [2, 4]),
    (
        "FeaturesOfInterest",
        "st_touches(geography'POLYGON((8 53, 7.5 54.5, 8.5 54.5, 8 53))', feature)",
        [2, 4],
    ),
    ("Locations", "st_within(geography'POINT(7.5 52.75)', location)", [4]),
    ("FeaturesOfInterest", "st_within(geography'POINT(7.5 52.75)', feature)", [4]),
]


def _post(sta: httpx.Client, collection: str, body: dict[str, Any]) -> int:
    return created_id(sta, f"/{collection}", body)


@pytest.fixture
def created(sta: httpx.Client) -> dict[str, list[Any]]:
    ids: dict[str, list[Any]] = {"Things": [_post(sta, "Things", {"name": f"Thing {i}"}) for i in range(4)]}
    sensor, observed = _post(sta, "Sensors", SENSOR), _post(sta, "ObservedProperties", OBSERVED)
    ids["Datastreams"] = [
        _post(
            sta,
            "Datastreams",
            {
                "name": f"Datastream {i}",
                "observationType": MEASUREMENT,
                "unitOfMeasurement": {"name": "degree Celsius", "symbol": "degC", "definition": "ucum:Cel"},
                "observedArea": area,
                "Thing": {"@iot.id": ids["Things"][i]},
                "Sensor": {"@iot.id": sensor},
                "ObservedProperty": {"@iot.id": observed},
            },
        )
        for i, area in enumerate(OBSERVED_AREAS)
    ]
    ids["Locations"], ids["FeaturesOfInterest"] = [], []
    for i, (geometry, thing) in enumerate(zip(GEOMETRIES, LOCATION_THINGS, strict=True)):
        location = {"name": f"Location {i}", "encodingType": "application/vnd.geo+json", "location": geometry}
        if thing is not None:
            location["Things"] = [{"@iot.id": ids["Things"][thing]}]
        ids["Locations"].append(_post(sta, "Locations", location))
        feature = {"name": f"FoI {i}", "encodingType": "application/geo+json", "feature": geometry}
        ids["FeaturesOfInterest"].append(_post(sta, "FeaturesOfInterest", feature))
    ids["Observations"] = [
        _post(
            sta,
            "Observations",
            {
                "phenomenonTime": f"2016-01-0{i + 1}T01:01:01.000Z",
                "result": i + 1,
                "Datastream": {"@iot.id": ids["Datastreams"][datastream]},
                "FeatureOfInterest": {"@iot.id": ids["FeaturesOfInterest"][i]},
            },
        )
        for i, datastream in enumerate(OBSERVATION_DATASTREAMS)
    ]
    return ids


def _ids(sta: httpx.Client, collection: str, text: str, extra: str = "") -> list[str]:
    answer = sta.get(f"/{collection}?$filter={quote(text)}&$top=1000{extra}")
    assert answer.status_code == 200, f"{text}: {answer.text}"
    return sorted(str(entity["@iot.id"]) for entity in answer.json()["value"])


def _expected(created: dict[str, list[Any]], collection: str, indexes: list[int]) -> list[str]:
    return sorted(str(created[collection][i]) for i in indexes)


def test_every_frost_geo_case_returns_exactly_the_expected_entities(
    sta: httpx.Client, created: dict[str, list[Any]]
) -> None:
    failures = []
    for collection, text, indexes in FROST_CASES:
        got, expected = _ids(sta, collection, text), _expected(created, collection, indexes)
        if got != expected:
            failures.append(f"{collection} {text!r}: expected {expected}, got {got}")
    assert failures == []


def test_things_and_datastreams_are_found_by_their_locations_through_links(
    sta: httpx.Client, created: dict[str, list[Any]]
) -> None:
    within = f"st_within(Locations/location, {BOX})"  # Locations 1 and 2: of Things 0 and 1
    assert _ids(sta, "Things", within) == _expected(created, "Things", [0, 1])
    assert _ids(sta, "Things", f"not {within}") == _expected(created, "Things", [2, 3])
    lambda_ = f"Locations/any(l: st_within(l/location, {BOX}))"
    assert _ids(sta, "Things", lambda_) == _expected(created, "Things", [0, 1])
    assert _ids(sta, "Things", f"{within} and name eq 'Thing 1'") == _expected(created, "Things", [1])
    assert _ids(sta, "Datastreams", f"st_within(Thing/Locations/location, {BOX})") == _expected(
        created, "Datastreams", [0, 1]
    )
    history = f"st_within(HistoricalLocations/Locations/location, {BOX})"
    assert _ids(sta, "Things", history) == _expected(created, "Things", [0, 1])
    observations = f"st_within(FeatureOfInterest/feature, {BOX})"
    assert _ids(sta, "Observations", observations) == _expected(created, "Observations", [1, 2])
    datastream = created["Datastreams"][0]
    answer = sta.get(f"/Datastreams({datastream})/Observations?$filter={quote(observations)}")
    assert [o["result"] for o in answer.json()["value"]] == [2]


def test_paging_counting_and_expanding_with_a_geospatial_filter(
    sta: httpx.Client, created: dict[str, list[Any]]
) -> None:
    near = quote("geo.distance(location, geography'POINT(8 52)') lt 1.5")  # Locations 0, 1, 2, 4, 7
    first = sta.get(f"/Locations?$filter={near}&$top=2&$count=true&$orderby=name").json()
    assert (first["@iot.count"], [e["name"] for e in first["value"]]) == (5, ["Location 0", "Location 1"])
    rest = sta.get(first["@iot.nextLink"]).json()
    assert [e["name"] for e in rest["value"]] == ["Location 2", "Location 4"]
    inner = quote(f"st_within(location, {BOX})")
    expanded = sta.get(f"/Things?$orderby=name&$expand=Locations($filter={inner};$select=name)").json()[
        "value"
    ]
    assert [[loc["name"] for loc in t["Locations"]] for t in expanded] == [
        ["Location 1"],
        ["Location 2"],
        [],
        [],
    ]


def test_a_stored_value_that_is_not_a_geometry_never_matches(
    sta: httpx.Client, created: dict[str, list[Any]]
) -> None:
    north = {"name": "north", "encodingType": "text/plain", "location": "north"}
    broken = {"name": "broken", "encodingType": "application/geo+json", "location": {"type": "Point"}}
    _post(sta, "Locations", north)
    _post(sta, "Locations", broken)
    within, outside = (
        sorted(e["name"] for e in sta.get(f"/Locations?$filter={quote(text)}").json()["value"])
        for text in (f"st_within(location, {BOX})", f"not st_within(location, {BOX})")
    )
    assert within == ["Location 1", "Location 2"]
    assert outside == [f"Location {i}" for i in (0, 3, 4, 5, 6, 7)]  # neither "north" nor "broken"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("st_within(location, geography'POLYGON((0 0, 1 0, 1 1))')", "geography'POLYGON((0 0, 1 0, 1 1))'"),
        ("geo.distance(location, geography'POINT(1)') lt 2", "geography'POINT(1)' is not a WKT geometry"),
        ("st_relate(location, geography'POINT(1 1)', 'X')", "DE-9IM pattern"),
        ("st_within(name, geography'POINT(1 1)')", "name is not a geometry"),
    ],
)
def test_a_bad_geospatial_filter_is_refused_with_the_reason(
    sta: httpx.Client, text: str, message: str
) -> None:
    answer = sta.get(f"/Locations?$filter={quote(text)}")
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["message"]

"""The geospatial $filter functions evaluated in Python (as on Observations), on hand-checked planar
geometries, and compiled for the catalog against a SQLite catalog on disk."""

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from iotstream.registry import models
from iotstream.registry.catalog import open_catalog
from iotstream.registry.sensorthings import pyfilter
from iotstream.registry.sensorthings.entities import ENTITY_SETS
from iotstream.registry.sensorthings.odata import QueryError, parse_filter, parse_query
from iotstream.registry.sensorthings.sql import FilterCompiler

SQUARE = "POLYGON((0 0, 2 0, 2 2, 0 2, 0 0))"  # the literal most cases test against


def point(x: float, y: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [x, y]}


def line(*points: tuple[float, float]) -> dict[str, Any]:
    return {"type": "LineString", "coordinates": [list(p) for p in points]}


def polygon(*points: tuple[float, float]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[list(p) for p in points]]}


def matches(text: str, value: Any) -> bool:
    """Whether `text` holds for an Observation whose FeatureOfInterest/feature is `value`."""
    return pyfilter.evaluate(parse_filter(text), lambda path: value)


# Each function: a case that holds and one that does not, checked by hand on the plane.
CASES = [
    ("geo.distance(f, geography'POINT(4 5)') lt 5.01", point(1, 1), True),  # a 3-4-5 triangle
    ("geo.distance(f, geography'POINT(4 5)') lt 4.99", point(1, 1), False),
    ("geo.distance(f, geography'POINT(1 3)') eq 1", line((0, 2), (2, 2)), True),  # to the nearest point
    ("geo.length(f) eq 5", line((0, 0), (3, 4)), True),
    (
        "geo.length(f) eq 7",
        {"type": "MultiLineString", "coordinates": [[[0, 0], [3, 4]], [[0, 0], [0, 2]]]},
        True,
    ),
    ("geo.length(f) eq 0", polygon((0, 0), (2, 0), (2, 2), (0, 0)), True),  # polygons have no length
    ("geo.length(f) gt 0", point(1, 1), False),
    (f"geo.intersects(f, geography'{SQUARE}')", line((-1, -1), (1, 1)), True),
    (f"geo.intersects(f, geography'{SQUARE}')", point(3, 3), False),
    ("st_equals(f, geography'LINESTRING(2 2, 1 1, 0 0)')", line((0, 0), (2, 2)), True),  # same points
    ("st_equals(f, geography'LINESTRING(0 0, 2 3)')", line((0, 0), (2, 2)), False),
    (f"st_disjoint(f, geography'{SQUARE}')", point(5, 5), True),
    (f"st_disjoint(f, geography'{SQUARE}')", point(2, 1), False),  # on the edge
    (f"st_touches(f, geography'{SQUARE}')", point(2, 1), True),
    (f"st_touches(f, geography'{SQUARE}')", point(1, 1), False),  # inside, not on the boundary
    (f"st_within(f, geography'{SQUARE}')", point(1, 1), True),
    (f"st_within(f, geography'{SQUARE}')", point(2, 1), False),  # the boundary is not within
    (f"st_within(f, geography'{SQUARE}')", polygon((0, 0), (2, 0), (2, 2), (0, 2), (0, 0)), True),
    (f"st_overlaps(f, geography'{SQUARE}')", polygon((1, 1), (3, 1), (3, 3), (1, 3), (1, 1)), True),
    (f"st_overlaps(f, geography'{SQUARE}')", polygon((0.5, 0.5), (1, 0.5), (1, 1), (0.5, 0.5)), False),
    (f"st_crosses(f, geography'{SQUARE}')", line((-1, 1), (3, 1)), True),
    (f"st_crosses(f, geography'{SQUARE}')", line((0.5, 1), (1.5, 1)), False),  # inside only
    (f"st_intersects(f, geography'{SQUARE}')", point(0, 2), True),  # a corner
    (f"st_intersects(f, geography'{SQUARE}')", line((3, 0), (3, 2)), False),
    ("st_contains(f, geography'POINT(1 1)')", polygon((0, 0), (2, 0), (2, 2), (0, 2), (0, 0)), True),
    ("st_contains(f, geography'POINT(2 1)')", polygon((0, 0), (2, 0), (2, 2), (0, 2), (0, 0)), False),
    (f"st_contains(geography'{SQUARE}', f)", point(1, 1), True),  # the literal may come first
    (f"st_relate(geography'{SQUARE}', f, '0F2FF1FF2')", point(1, 1), True),  # the full matrix
    (f"st_relate(geography'{SQUARE}', f, 'T*****FF*')", point(1, 1), True),  # "contains"
    (f"st_relate(geography'{SQUARE}', f, 'FF*FF****')", point(1, 1), False),  # "disjoint"
]


@pytest.mark.parametrize(("text", "value", "expected"), CASES)
def test_each_geospatial_function_on_hand_checked_geometries(text: str, value: Any, expected: bool) -> None:
    assert matches(text, value) is expected


def test_features_feature_collections_srid_and_the_geometry_spelling_are_understood() -> None:
    inside = point(1, 1)
    feature = {"type": "Feature", "geometry": inside, "properties": {"name": "x"}}
    assert matches(f"st_within(f, geography'{SQUARE}')", feature)
    assert matches(f"st_within(f, geography'{SQUARE}')", {"type": "FeatureCollection", "features": [feature]})
    assert matches("st_equals(f, geography'SRID=4326;POINT(1 1)')", inside)
    assert matches(f"st_within(f, geometry'{SQUARE}')", inside)
    assert matches(f"st_within(f, geography'{SQUARE.lower()}')", inside)


@pytest.mark.parametrize("value", ["north", None, 7, {"type": "Point"}, polygon((0, 0), (1, 0), (1, 1))])
def test_a_value_that_is_not_a_geometry_never_matches(value: Any) -> None:
    for text in (
        f"st_within(f, geography'{SQUARE}')",
        f"not st_within(f, geography'{SQUARE}')",
        "geo.distance(f, geography'POINT(1 1)') lt 100",
        "not (geo.distance(f, geography'POINT(1 1)') lt 100)",
        "geo.length(f) ge 0",
    ):
        assert not matches(text, value), text


def test_geospatial_conditions_combine_with_the_others() -> None:
    inside = point(1, 1)
    assert matches(
        f"st_within(f, geography'{SQUARE}') and geo.distance(f, geography'POINT(1 2)') eq 1", inside
    )
    assert matches(f"st_disjoint(f, geography'{SQUARE}') or st_within(f, geography'{SQUARE}')", inside)
    assert not matches(f"not st_within(f, geography'{SQUARE}')", inside)
    assert matches(f"st_within(f, geography'{SQUARE}') eq true", inside)
    assert matches("geo.distance(f, geography'POINT(4 5)') add 1 eq 6", inside)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "st_within(f, geography'POLYGON((0 0, 1 0, 1 1))')",
            "geography'POLYGON((0 0, 1 0, 1 1))' is not a WKT",
        ),
        ("st_within(f, geography'POINT(1 x)')", "geography'POINT(1 x)' is not a WKT geometry"),
        (
            "st_within(f, geography'POLYGON((0 0, 2 2, 2 0, 0 2, 0 0))')",
            "geography'POLYGON((0 0, 2 2, 2 0, 0 2, 0 0))' is not a valid geometry: Self-intersection",
        ),
        ("st_within(f)", "'st_within' takes 2 arguments. 1 given"),
        ("st_relate(f, geography'POINT(1 1)')", "'st_relate' takes 3 arguments. 2 given"),
        ("st_relate(f, geography'POINT(1 1)', 'T**')", "st_relate's third argument is a DE-9IM pattern"),
        ("st_within(f, 'POINT(1 1)')", "st_within() takes geometries"),
        ("f eq geography'POINT(1 1)'", "can only be an argument of a geospatial function"),
        ("st_nearby(f, geography'POINT(1 1)')", "Unknown function: 'st_nearby'"),
    ],
)
def test_a_bad_literal_or_call_is_a_query_error_that_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(QueryError) as raised:
        parse_filter(text)
    assert message in str(raised.value)


# FROST-Server's GeoTests (the OGC SensorThings test suite's geospatial checks): its eight Locations and
# each query with the indexes it expects.
FROST_LOCATIONS = [
    point(8, 51),
    point(8, 52),
    point(8, 53),
    point(8, 54),
    polygon((8, 53), (7, 52), (7, 53), (8, 53)),
    line((5, 52), (5, 53)),
    line((5, 52), (6, 53)),
    line((4, 52), (8, 52)),
]
BOX = "POLYGON((7.5 51.5, 7.5 53.5, 8.5 53.5, 8.5 51.5, 7.5 51.5))"
FROST_CASES = [
    ("geo.distance(location, geography'POINT(8 54.1)') lt 1", [3]),
    ("geo.distance(location, geography'POINT(8 54.1)') gt 1", [0, 1, 2, 4, 5, 6, 7]),
    ("geo.intersects(location, geography'LINESTRING(7.5 51, 7.5 54)')", [4, 7]),
    ("geo.length(location) gt 1", [6, 7]),
    ("geo.length(location) ge 1", [5, 6, 7]),
    ("geo.length(location) eq 1", [5]),
    ("geo.length(location) ne 1", [0, 1, 2, 3, 4, 6, 7]),
    ("geo.length(location) le 4", [0, 1, 2, 3, 4, 5, 6, 7]),
    ("geo.length(location) lt 4", [0, 1, 2, 3, 4, 5, 6]),
    (f"st_contains(geography'{BOX}', location)", [1, 2]),
    ("st_crosses(geography'LINESTRING(7.5 51.5, 7.5 53.5)', location)", [4, 7]),
    (f"st_disjoint(geography'{BOX}', location)", [0, 3, 5, 6]),
    ("st_equals(location, geography'POINT(8 53)')", [2]),
    ("st_intersects(location, geography'LINESTRING(7.5 51, 7.5 54)')", [4, 7]),
    (f"st_overlaps(geography'{BOX}', location)", [4]),
    (f"st_relate(geography'{BOX}', location, 'T********')", [1, 2, 4, 7]),
    ("st_touches(geography'POLYGON((8 53, 7.5 54.5, 8.5 54.5, 8 53))', location)", [2, 4]),
    ("st_within(geography'POINT(7.5 52.75)', location)", [4]),
]


@pytest.mark.parametrize(("text", "expected"), FROST_CASES)
def test_frost_geo_tests_in_python(text: str, expected: list[int]) -> None:
    node = parse_filter(text)
    found = [i for i, value in enumerate(FROST_LOCATIONS) if pyfilter.evaluate(node, lambda _p, v=value: v)]
    assert found == expected


def test_the_catalog_compiler_answers_with_ids_through_links_and_keeps_count_exact(tmp_path: Path) -> None:
    catalog = open_catalog(f"sqlite:///{tmp_path}/catalog.db")
    with catalog.session(write=True) as session:
        for index, value in enumerate([*FROST_LOCATIONS, "north"]):
            location = models.Location(
                name=f"L{index}", description="", encoding_type="application/geo+json", location=value
            )
            location.things.append(models.Thing(name=f"T{index}", description=""))
            session.add(location)
    with catalog.session() as session:

        def names(entity_set: str, text: str) -> list[str]:
            entities = ENTITY_SETS[entity_set]
            compiler = FilterCompiler(entities, "sqlite", session)
            rows = session.scalars(select(entities.model).where(compiler.where(parse_filter(text))))
            return sorted(row.name for row in rows)

        assert names("Locations", f"st_contains(geography'{BOX}', location)") == ["L1", "L2"]
        assert names("Things", f"st_contains(geography'{BOX}', Locations/location)") == ["T1", "T2"]
        assert names("Things", f"Locations/any(l: st_contains(geography'{BOX}', l/location))") == ["T1", "T2"]
        assert names("Things", f"st_contains(geography'{BOX}', Locations/location) and name eq 'T2'") == [
            "T2"
        ]
        # "north" is not a geometry: neither inside nor outside
        outside = names("Locations", f"not st_contains(geography'{BOX}', location)")
        assert outside == ["L0", "L3", "L4", "L5", "L6", "L7"]
        assert names("Locations", "st_equals(geography'POINT(1 1)', geography'POINT(1 1)')") == [
            f"L{i}" for i in range(9)
        ]
        compiler = FilterCompiler(ENTITY_SETS["Locations"], "sqlite", session)
        where = compiler.where(parse_filter("geo.length(location) lt 4"))
        count = session.scalar(
            select(func.count()).select_from(select(models.Location).where(where).subquery())
        )
        assert count == 7
        with pytest.raises(QueryError, match="one property only"):
            names("Locations", "geo.distance(location, geography'POINT(1 1)') lt properties/radius")
        with pytest.raises(QueryError, match="name is not a geometry"):
            names("Locations", "st_within(name, geography'POINT(1 1)')")
        with pytest.raises(QueryError, match="is a number, not true or false"):
            names("Locations", "geo.length(location)")
        with pytest.raises(QueryError, match=r"\$orderby by a geospatial function is not supported"):
            compiler.order(
                parse_query({"$orderby": "geo.distance(location, geography'POINT(1 1)')"}).orderby[0]
            )
    catalog.close()

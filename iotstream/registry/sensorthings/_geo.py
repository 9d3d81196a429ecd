"""The geospatial `$filter` functions of SensorThings 1.1 (`geo.distance`, `geo.length`, `geo.intersects`,
`st_equals`, `st_disjoint`, `st_touches`, `st_within`, `st_overlaps`, `st_crosses`, `st_intersects`,
`st_contains`, `st_relate`), evaluated with shapely.

Coordinates are planar: distances and lengths are in the units of the coordinates (degrees for
longitude/latitude) and the predicates are those of plane geometry (DE-9IM), as FROST-Server answers on
PostGIS with geometry columns. `geo.length` is the length of lines; points and polygons have none, as in
PostGIS's ST_Length. Literals are WKT written `geography'POINT(30 10)'`; an EWKT `SRID=4326;` prefix is
accepted and ignored. Stored values are GeoJSON: a geometry, a Feature or a FeatureCollection. A value that
is not a geometry makes a function answer None (unknown), so it never matches.
"""

import dataclasses
import functools
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import shapely
from odata_query import ast
from shapely.errors import GEOSException
from shapely.geometry.base import BaseGeometry

__all__ = [
    "ARITY",
    "FUNCTIONS",
    "NUMBERS",
    "GeometryError",
    "check",
    "geometry",
    "literal",
    "parse",
    "uses_geometry",
]

_RELATIONS = ("equals", "disjoint", "touches", "within", "overlaps", "crosses", "intersects", "contains")
ARITY: dict[str, int] = {
    "geo.distance": 2,
    "geo.length": 1,
    "geo.intersects": 2,
    **{f"st_{name}": 2 for name in _RELATIONS},
    "st_relate": 3,
}
NUMBERS = frozenset({"geo.distance", "geo.length"})  # the others are true or false
_SRID = re.compile(r"\s*SRID\s*=\s*\d+\s*;", re.IGNORECASE)
_PATTERN = re.compile(r"[TF*012]{9}", re.IGNORECASE)  # a DE-9IM intersection matrix pattern
_LINEAR = ("LineString", "LinearRing", "MultiLineString")


class GeometryError(ValueError):
    """A geography literal or a geospatial function call that cannot be understood."""


def literal(text: str) -> BaseGeometry:
    """The WKT of a `geography'…'` literal as a geometry; GeometryError names the literal."""
    return _literal(text)


@functools.lru_cache(maxsize=256)
def _literal(text: str) -> BaseGeometry:
    try:
        found = shapely.from_wkt(_SRID.sub("", text, count=1))
    except GEOSException as err:
        raise GeometryError(f"geography'{text}' is not a WKT geometry: {err}") from err
    if found is None or not found.is_valid:
        reason = "empty" if found is None else shapely.is_valid_reason(found)
        raise GeometryError(f"geography'{text}' is not a valid geometry: {reason}")
    shapely.prepare(found)  # before the cache shares it: predicates with it first run faster
    return found


def parse(value: Any) -> BaseGeometry | None:
    """A stored GeoJSON value as a geometry; None for anything that is not one."""
    if isinstance(value, BaseGeometry):
        return value
    if not isinstance(value, dict):
        return None
    return _from_geojson(json.dumps(value, sort_keys=True))


def geometry(value: Any) -> BaseGeometry | None:
    """`parse`, remembering recent GeoJSON: readings that share a FeatureOfInterest parse it once."""
    if isinstance(value, dict):
        return _cached_geojson(json.dumps(value, sort_keys=True))
    return parse(value)


def _from_geojson(text: str) -> BaseGeometry | None:
    try:
        found: BaseGeometry | None = shapely.from_geojson(text)
    except GEOSException:
        return None
    return found


_cached_geojson = functools.lru_cache(maxsize=256)(_from_geojson)


def uses_geometry(node: ast._Node) -> bool:
    """Whether an expression calls a geospatial function or holds a geography literal."""
    if isinstance(node, ast.Geography) or (isinstance(node, ast.Call) and _name(node) in ARITY):
        return True
    return any(uses_geometry(child) for child in _children(node))


def check(node: ast._Node) -> None:
    """Every geography literal parses and is an argument of a geospatial function, whose other
    arguments are geometries (or st_relate's pattern): checked before any row is read."""
    if isinstance(node, ast.Geography):
        raise GeometryError(
            f"geography'{node.val}' can only be an argument of a geospatial function such as st_equals"
        )
    children: Iterable[ast._Node] = _children(node)
    if isinstance(node, ast.Call) and _name(node) in ARITY:
        _check_call(node)
        children = [argument for argument in node.args if not isinstance(argument, ast._Literal)]
    for child in children:
        check(child)


def _check_call(call: ast.Call) -> None:
    name = _name(call)
    for index, argument in enumerate(call.args):
        if name == "st_relate" and index == 2:
            if not (isinstance(argument, ast.String) and _PATTERN.fullmatch(argument.val)):
                raise GeometryError(
                    "st_relate's third argument is a DE-9IM pattern of 9 characters from T, F, *, 0, 1 and 2,"
                    " e.g. 'T********'"
                )
        elif isinstance(argument, ast.Geography):
            literal(argument.val)
        elif isinstance(argument, ast._Literal):
            raise GeometryError(
                f"{name}() takes geometries: a property such as location, or a literal such as"
                " geography'POINT(30 10)'"
            )


def _name(call: ast.Call) -> str:
    return ".".join([*call.func.namespace, call.func.name])


def _children(node: ast._Node) -> Iterator[ast._Node]:
    """The nodes directly inside a node, whatever its kind (lambdas and lists included)."""
    for item in dataclasses.fields(node):
        value = getattr(node, item.name)
        for child in value if isinstance(value, list | tuple) else [value]:
            if isinstance(child, ast._Node):
                yield child


# the functions, on values that may be geometries


def _predicate(test: Callable[[Any, Any], Any]) -> Callable[[Any, Any], bool | None]:
    def predicate(first: Any, second: Any) -> bool | None:
        a, b = geometry(first), geometry(second)
        if a is None or b is None:
            return None
        try:
            return bool(test(a, b))
        except GEOSException:  # e.g. a stored polygon that crosses itself
            return None

    return predicate


def _distance(first: Any, second: Any) -> float | None:
    a, b = geometry(first), geometry(second)
    if a is None or b is None:
        return None
    distance = float(shapely.distance(a, b))
    return None if math.isnan(distance) else distance  # NaN: one of them is empty


def _length(value: Any) -> float | None:
    found = geometry(value)
    return None if found is None else _linear_length(found)


def _linear_length(found: BaseGeometry) -> float:
    if found.geom_type == "GeometryCollection":
        return sum(_linear_length(part) for part in shapely.get_parts(found))
    return float(shapely.length(found)) if found.geom_type in _LINEAR else 0.0


def _relate(first: Any, second: Any, pattern: Any) -> bool | None:
    if not (isinstance(pattern, str) and _PATTERN.fullmatch(pattern)):
        return None
    return _predicate(lambda a, b: shapely.relate_pattern(a, b, pattern.upper()))(first, second)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "geo.distance": _distance,
    "geo.length": _length,
    "geo.intersects": _predicate(shapely.intersects),
    **{f"st_{name}": _predicate(getattr(shapely, name)) for name in _RELATIONS},  # shapely.within…
    "st_relate": _relate,
}

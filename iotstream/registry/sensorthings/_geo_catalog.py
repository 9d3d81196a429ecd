"""Geospatial conditions on catalog entities, answered in Python with shapely.

The catalog keeps geometries as GeoJSON in JSON columns, on SQLite and on a PostgreSQL without PostGIS,
so neither database can test them. A condition on one geometry property (`st_within(location, …)`) is
evaluated here over every row of that property's table, and the SQL filter asks for `id IN (the ids that
match)`. Catalogs are small (Things, Locations, FeaturesOfInterest, not readings), and this keeps $top,
$skip and $count exact. Within one session each stored geometry is read and parsed once, and each
condition evaluated once, however many times a request compiles it (a filter inside $expand is compiled
for every parent); a flush forgets them, since it may have changed the rows.
"""

from dataclasses import dataclass, field
from typing import Any

from odata_query import ast
from shapely.geometry.base import BaseGeometry
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from iotstream.registry.sensorthings import _geo, pyfilter

__all__ = ["matching_ids"]

_KEY = "iotstream.sensorthings.geometries"
Rows = list[tuple[int, BaseGeometry | None]]


@dataclass
class _Cache:
    rows: dict[tuple[Any, str, tuple[str, ...]], Rows] = field(default_factory=dict)
    answers: dict[tuple[str, Any, str, tuple[str, ...]], tuple[list[int], list[int]]] = field(
        default_factory=dict
    )


def matching_ids(
    session: Session, node: ast._Node, model: Any, column: str, inner: tuple[str, ...]
) -> tuple[list[int], list[int]]:
    """The ids of `model`'s rows for which `node` holds, and those for which it is unknown (the value
    at `column`/`inner` is not a geometry, or the geometry cannot be tested)."""
    cache = _cache(session)
    key = (repr(node), model, column, inner)
    if key not in cache.answers:
        holds: list[int] = []
        unknown: list[int] = []
        for row_id, found in _geometries(session, cache, model, column, inner):
            answer = None if found is None else pyfilter.decide(node, _always(found))
            if answer is None:
                unknown.append(row_id)
            elif answer:
                holds.append(row_id)
        cache.answers[key] = (holds, unknown)
    return cache.answers[key]


def _always(found: BaseGeometry) -> pyfilter.Resolve:
    """The one property a geospatial condition uses, for one row."""
    return lambda _path: found


def _geometries(session: Session, cache: _Cache, model: Any, column: str, inner: tuple[str, ...]) -> Rows:
    key = (model, column, inner)
    if key not in cache.rows:
        rows = session.execute(select(model.id, getattr(model, column)))
        cache.rows[key] = [(row_id, _geo.parse(_inside(value, inner))) for row_id, value in rows]
    return cache.rows[key]


def _inside(value: Any, path: tuple[str, ...]) -> Any:
    """`properties/area` of a JSON value: a geometry kept inside another property."""
    for name in path:
        value = value.get(name) if isinstance(value, dict) else None
    return value


def _cache(session: Session) -> _Cache:
    cache = session.info.get(_KEY)
    if not isinstance(cache, _Cache):
        cache = session.info[_KEY] = _Cache()
        if not event.contains(session, "after_flush", _forget):
            event.listen(session, "after_flush", _forget)
    return cache


def _forget(session: Session, _context: Any) -> None:
    session.info.pop(_KEY, None)

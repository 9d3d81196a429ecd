"""`$filter` and `$orderby` compiled to SQL over the catalog (SQLite or PostgreSQL).

A navigation path becomes nested subqueries (`Datastreams/Thing/name` → `EXISTS (datastream … thing_id
IN (SELECT id FROM thing … WHERE name = …))`: EXISTS for to-many hops, IN for to-one, which is evaluated
once rather than per row), each hop on its own alias, so a path that comes back to the entity being
filtered (`Datastreams/Thing/Datastreams/…`) is not confused with it. A to-many path compared with null
has left-join meaning, as in FROST: `Datastreams/id eq null` holds for a Thing without Datastreams.
Properties inside JSON (`properties/field`) compare by JSON value: numbers as numbers, strings as text.
A geospatial condition (`st_within(Locations/location, geography'…')`) is answered in Python, over the
geometries of the entity set it names, and becomes `<that entity>.id IN (…)` at the end of its path
(see _geo_catalog): neither SQLite nor a PostgreSQL without PostGIS can test geometries.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from odata_query import ast
from sqlalchemy import (
    Float,
    Integer,
    and_,
    bindparam,
    case,
    cast,
    false,
    func,
    literal,
    literal_column,
    not_,
    null,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from iotstream.registry.sensorthings import _geo, _geo_catalog, pyfilter, values
from iotstream.registry.sensorthings.entities import ENTITY_SETS, EntitySet, Property
from iotstream.registry.sensorthings.odata import Order, QueryError

__all__ = ["FilterCompiler"]

Expr = ColumnElement[Any]


@dataclass(frozen=True)
class _Hop:
    relationship: Any  # the relationship attribute on the alias it starts from
    many: bool
    alias: Any  # the aliased class it leads to
    source: Any  # the alias (or class) it starts from


@dataclass(frozen=True)
class _Scope:
    entities: EntitySet
    alias: Any
    variables: dict[str, "_Scope"] = field(default_factory=dict)


@dataclass(frozen=True)
class _Value:
    expr: Expr
    kind: str  # text | json | time | number | bool | null
    hops: tuple[_Hop, ...] = ()
    text: Expr | None = None  # a JSON value as text, for string functions (PostgreSQL)
    literal: Any = values.NOTHING  # the Python value of a literal


class FilterCompiler:
    """Compiles expressions of one entity set, for one SQL dialect ("sqlite" or "postgresql").
    Geospatial conditions read the catalog while compiling, through `session`."""

    def __init__(self, entities: EntitySet, dialect: str, session: Session | None = None) -> None:
        self._root = _Scope(entities, entities.model)
        self._postgres = dialect == "postgresql"
        self._session = session

    def where(self, node: ast._Node) -> Expr:
        return self._bool(node, self._root)

    def order(self, order: Order) -> Expr:
        if _geo.uses_geometry(order.expression):
            raise QueryError("$orderby by a geospatial function is not supported; $filter with it instead")
        value = self._value(order.expression, self._root)
        if value.hops:
            raise QueryError(
                "$orderby on a linked entity's property is not supported; order by own properties"
            )
        return value.expr.desc() if order.descending else value.expr.asc()

    # booleans

    def _bool(self, node: ast._Node, scope: _Scope) -> Expr:
        if isinstance(node, ast.BoolOp):
            combine = and_ if isinstance(node.op, ast.And) else or_
            return combine(self._bool(node.left, scope), self._bool(node.right, scope))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return not_(self._bool(node.operand, scope))
        if isinstance(node, ast.Compare | ast.Call) and _geo.uses_geometry(node):
            return self._geometric(node, scope)
        if isinstance(node, ast.Compare):
            return self._compare(node, scope)
        if isinstance(node, ast.CollectionLambda):
            return self._lambda(node, scope)
        if isinstance(node, ast.Call | ast.Identifier | ast.Attribute | ast.Boolean):
            value = self._value(node, scope)
            if value.kind not in ("bool", "json"):
                raise QueryError(f"{values.show(node)} is not true or false")
            return _wrap(value.hops, value.expr == true() if value.kind == "json" else value.expr)
        raise QueryError(f"{values.show(node)} is not a condition")

    def _compare(self, node: ast.Compare, scope: _Scope) -> Expr:
        left, right = self._value(node.left, scope), self._value(node.right, scope)
        if left.hops and right.hops:
            raise QueryError(f"{values.show(node)}: only one side of a comparison may follow links")
        hops = left.hops or right.hops
        if isinstance(node.comparator, ast.In):
            if not isinstance(node.right, ast.List):
                raise QueryError("'in' needs a list: name in ('a', 'b')")
            items = [self._literal(item, left.kind) for item in node.right.val]
            return _wrap(hops, left.expr.in_(items))
        if right.kind == "null" or left.kind == "null":
            known = left if right.kind == "null" else right
            is_null = self._is_null(known)
            if isinstance(node.comparator, ast.Eq):
                return _wrap(hops, is_null, null_rows=True)
            if isinstance(node.comparator, ast.NotEq):
                return _wrap(hops, not_(is_null))
            raise QueryError(f"{values.show(node)}: null can only be compared with eq or ne")
        a, b = self._comparable(left, right)
        return _wrap(hops, values.COMPARATORS[type(node.comparator)](a, b))

    def _lambda(self, node: ast.CollectionLambda, scope: _Scope) -> Expr:
        hops, last = self._path(values.segments(node.owner), scope, collection=True)
        if node.lambda_ is None:
            return _wrap(hops, _having(last, true()))
        inner_set = _set_of(last.alias)
        variable = node.lambda_.identifier.name
        # Inside a lambda, a path without a variable still starts at the entity being filtered.
        bound = {**scope.variables, variable: _Scope(inner_set, last.alias)}
        inner = _Scope(scope.entities, scope.alias, bound)
        condition = self._bool(node.lambda_.expression, inner)
        if isinstance(node.operator, ast.All):
            return _wrap(hops, not_(_having(last, not_(condition))))
        return _wrap(hops, _having(last, condition))

    def _geometric(self, node: ast._Node, scope: _Scope) -> Expr:
        """A condition on one geometry property, answered in Python over that property's rows; where
        the value is not a geometry the condition is null, so that `not` does not match it either."""
        if isinstance(node, ast.Call) and ".".join([*node.func.namespace, node.func.name]) in _geo.NUMBERS:
            raise QueryError(f"{values.show(node)} is a number, not true or false: compare it, e.g. … lt 1")
        paths = {tuple(path) for path in values.members(node)}
        if not paths:  # literals only
            return true() if pyfilter.evaluate(node, lambda _path: None) else false()
        if len(paths) > 1:
            raise QueryError(
                f"{values.show(node)}: a geospatial condition can use one property only,"
                f" here it uses {', '.join(sorted('/'.join(p) for p in paths))}; join conditions with and/or"
            )
        if self._session is None:
            raise QueryError(f"{values.show(node)}: geospatial functions are not available here")
        hops, target, prop, inner = self._geometry(list(paths.pop()), scope)
        holds, unknown = _geo_catalog.matching_ids(
            self._session, node, target.entities.model, prop.column, inner
        )
        condition: Expr = target.alias.id.in_(_ids(holds))
        if unknown:
            condition = case((target.alias.id.in_(_ids(unknown)), null()), else_=condition)
        return _wrap(hops, condition)

    def _geometry(
        self, segments: list[str], scope: _Scope
    ) -> tuple[tuple[_Hop, ...], _Scope, Property, tuple[str, ...]]:
        """The hops to the entity holding a geometry, that entity, its JSON property and the path inside."""
        hops: list[_Hop] = []
        path = "/".join(segments)
        if segments[0] in scope.variables:
            scope = scope.variables[segments[0]]
            segments = segments[1:]
        for index, segment in enumerate(segments):
            prop = scope.entities.property(segment)
            if prop is not None and prop.kind == "json":
                return tuple(hops), scope, prop, tuple(segments[index + 1 :])
            if prop is not None or segment in ("id", "@iot.id"):
                break
            scope = self._hop(scope, segment, hops)
        raise QueryError(
            f"{path} is not a geometry: geospatial functions take a GeoJSON property such as"
            " location, feature or observedArea"
        )

    # values

    def _value(self, node: ast._Node, scope: _Scope) -> _Value:
        if isinstance(node, ast._Literal):
            python = values.literal(node)
            kind = values.kind_of(python, node)
            return _Value(null() if python is None else literal(python), kind, literal=python)
        if isinstance(node, ast.Identifier | ast.Attribute):
            return self._member(values.segments(node), scope)
        if isinstance(node, ast.Call):
            return self._call(node, scope)
        if isinstance(node, ast.BinOp):
            left, right = self._value(node.left, scope), self._value(node.right, scope)
            a, b = self._number(left), self._number(right)
            return _Value(_ARITHMETIC[type(node.op)](a, b), "number", left.hops or right.hops)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            operand = self._value(node.operand, scope)
            return _Value(-self._number(operand), "number", operand.hops)
        raise QueryError(f"{values.show(node)} is not a value")

    def _member(self, segments: list[str], scope: _Scope) -> _Value:
        hops: list[_Hop] = []
        if segments[0] in scope.variables:
            scope = scope.variables[segments[0]]
            segments = segments[1:]
        for index, segment in enumerate(segments):
            if segment in ("id", "@iot.id"):
                return _Value(scope.alias.id, "number", tuple(hops))
            prop = scope.entities.property(segment)
            if prop is not None:
                column = getattr(scope.alias, prop.column)
                if prop.kind == "json":
                    return self._json(column, segments[index + 1 :], tuple(hops))
                if index != len(segments) - 1:
                    raise QueryError(
                        f"{scope.entities.singular}/{segment} has no property {segments[index + 1]!r}"
                    )
                kind = "time" if prop.kind == "interval" else prop.kind  # an interval compares by its start
                return _Value(column, kind, tuple(hops))
            scope = self._hop(scope, segment, hops)
        raise QueryError(f"{'/'.join(segments)} is an entity, not a value: name one of its properties")

    def _hop(self, scope: _Scope, segment: str, hops: list[_Hop]) -> _Scope:
        link = scope.entities.link(segment)
        if link is None:
            raise QueryError(
                f"{scope.entities.singular} has no property or link {segment!r}; it has "
                + ", ".join(
                    [p.json for p in scope.entities.properties] + [k.json for k in scope.entities.links]
                )
            )
        if not link.attribute:
            raise QueryError(f"filtering {scope.entities.name} by their {link.json} is not supported")
        target = ENTITY_SETS[link.target]
        alias = aliased(target.model)
        hops.append(_Hop(getattr(scope.alias, link.attribute), link.many, alias, scope.alias))
        return _Scope(target, alias, scope.variables)

    def _path(self, segments: list[str], scope: _Scope, *, collection: bool) -> tuple[tuple[_Hop, ...], _Hop]:
        hops: list[_Hop] = []
        if segments[0] in scope.variables:
            scope = scope.variables[segments[0]]
            segments = segments[1:]
        for segment in segments:
            scope = self._hop(scope, segment, hops)
        if not hops or (collection and not hops[-1].many):
            raise QueryError(f"any()/all() need a collection such as Datastreams, got {'/'.join(segments)!r}")
        return tuple(hops[:-1]), hops[-1]

    def _json(self, column: Expr, path: list[str], hops: tuple[_Hop, ...]) -> _Value:
        if self._postgres and not path:  # the whole value (Sensor/metadata): its text is `#>> '{}'`
            return _Value(column, "json", hops, column.op("#>>")(literal_column("'{}'")))
        if self._postgres:
            return _Value(
                func.jsonb_extract_path(column, *path),
                "json",
                hops,
                func.jsonb_extract_path_text(column, *path),
            )
        selector = "$" + "".join(f'."{name}"' for name in path)
        return _Value(func.json_extract(column, selector), "json", hops)

    def _call(self, node: ast.Call, scope: _Scope) -> _Value:
        name = ".".join([*node.func.namespace, node.func.name])
        build = _FUNCTIONS.get(name)
        if build is None:
            raise QueryError(f"$filter function {name}() is not supported")
        args = [self._value(arg, scope) for arg in node.args]
        hops = next((a.hops for a in args if a.hops), ())
        expr, kind = build(self, args)
        return _Value(expr, kind, hops)

    # conversions

    def _text(self, value: _Value) -> Expr:
        return value.text if value.text is not None else value.expr

    def _number(self, value: _Value) -> Expr:
        if value.kind == "json" and self._postgres:
            return cast(self._text(value), Float)
        return value.expr

    def _is_null(self, value: _Value) -> Expr:
        if value.kind == "json" and self._postgres:
            return or_(value.expr.is_(None), value.expr == cast(literal("null"), JSONB))
        return value.expr.is_(None)

    def _literal(self, node: ast._Node, kind: str) -> Any:
        if not isinstance(node, ast._Literal):
            raise QueryError(f"{values.show(node)}: a list may only hold literals")
        python = values.literal(node)
        return values.to_ms(python) if kind == "time" else python

    def _comparable(self, left: _Value, right: _Value) -> tuple[Expr, Expr]:
        if "time" in (left.kind, right.kind):
            return self._as_time(left), self._as_time(right)
        if self._postgres and "json" in (left.kind, right.kind) and left.kind != right.kind:
            return self._as_jsonb(left), self._as_jsonb(right)
        return left.expr, right.expr

    def _as_time(self, value: _Value) -> Expr:
        if value.literal is not values.NOTHING:
            return literal(values.to_ms(value.literal))
        if value.kind in ("time", "number"):
            return value.expr
        raise QueryError(
            "a time can only be compared with a time, e.g. phenomenonTime gt 2024-01-01T00:00:00Z"
        )

    def _as_jsonb(self, value: _Value) -> Expr:
        if value.kind == "json":
            return value.expr
        if value.literal is not values.NOTHING:
            return cast(literal(json.dumps(value.literal, default=str)), JSONB)
        return func.to_jsonb(value.expr)

    def _time_part(self, value: _Value, part: str) -> Expr:
        ms = self._as_time(value)
        if self._postgres:
            moment = func.timezone("UTC", func.to_timestamp(ms / 1000.0))
            return cast(func.date_part(part, moment), Integer)
        pattern = {"year": "%Y", "month": "%m", "day": "%d", "hour": "%H", "minute": "%M", "second": "%S"}[
            part
        ]
        return cast(func.strftime(pattern, ms / 1000.0, "unixepoch"), Integer)


def _wrap(hops: tuple[_Hop, ...], condition: Expr, *, null_rows: bool = False) -> Expr:
    """The condition moved inside the EXISTS of each hop. With `null_rows`, an entity with nothing
    behind a hop counts as one row of nulls (left-join meaning)."""
    for hop in reversed(hops):
        if not hop.many and not null_rows:  # `fk IN (…)`: evaluated once, not once per row as EXISTS is
            ((local, remote),) = hop.relationship.property.local_remote_pairs
            keys = select(getattr(hop.alias, remote.key)).where(condition)
            condition = getattr(hop.source, local.key).in_(keys)
            continue
        if null_rows and hop.many:  # an entity with nothing behind the hop counts as one row of nulls
            condition = or_(_having(hop, condition), not_(_having(hop, true())))
        elif null_rows:
            related = hop.relationship.of_type(hop.alias)
            condition = or_(related.has(condition), not_(related.has()))
        else:
            condition = _having(hop, condition)
    return condition


def _having(hop: _Hop, condition: Expr) -> Expr:
    """Sources with a related row meeting `condition`, as `id IN (…)`: a subquery the database runs
    once on the related table's indexes, where a per-row EXISTS may scan every source row instead."""
    prop = hop.relationship.property
    if prop.secondary is None:  # the related row holds the key: Datastream.thing_id
        ((local, remote),) = prop.local_remote_pairs
        keys = select(getattr(hop.alias, remote.key)).where(condition)
        found: Expr = getattr(hop.source, local.key).in_(keys)
        return found
    ((own, own_key),) = prop.synchronize_pairs  # things.id, thing_locations.thing_id
    ((theirs, their_key),) = prop.secondary_synchronize_pairs  # locations.id, thing_locations.location_id
    keys = select(own_key).join(hop.alias, getattr(hop.alias, theirs.key) == their_key).where(condition)
    linked: Expr = getattr(hop.source, own.key).in_(keys)
    return linked


def _ids(ids: list[int]) -> Any:
    """A list of ids written into the SQL, so a long one does not run into the limit of parameters."""
    return bindparam(None, ids, expanding=True, literal_execute=True)


def _set_of(alias: Any) -> EntitySet:
    model = alias.__mapper__.class_ if hasattr(alias, "__mapper__") else alias
    return next(s for s in ENTITY_SETS.values() if s.model is model)


def _substring(c: FilterCompiler, args: list[_Value]) -> tuple[Expr, str]:
    text, start = c._text(args[0]), args[1].expr + 1
    return (func.substr(text, start, args[2].expr) if len(args) == 3 else func.substr(text, start)), "text"


def _like(
    pattern: Callable[[Expr, Expr], Expr],
) -> Callable[[FilterCompiler, list[_Value]], tuple[Expr, str]]:
    return lambda c, args: (pattern(c._text(args[0]), c._text(args[1])), "bool")


def _text_function(sql: str) -> Callable[[FilterCompiler, list[_Value]], tuple[Expr, str]]:
    return lambda c, args: (getattr(func, sql)(c._text(args[0])), "text")


def _part(name: str) -> Callable[[FilterCompiler, list[_Value]], tuple[Expr, str]]:
    return lambda c, args: (c._time_part(args[0], name), "number")


def _indexof(c: FilterCompiler, args: list[_Value]) -> tuple[Expr, str]:
    position = func.strpos if c._postgres else func.instr
    return position(c._text(args[0]), c._text(args[1])) - 1, "number"


_FUNCTIONS: dict[str, Callable[[FilterCompiler, list[_Value]], tuple[Expr, str]]] = {
    "substring": _substring,
    "startswith": _like(lambda a, b: a.startswith(b, autoescape=False)),
    "endswith": _like(lambda a, b: a.endswith(b, autoescape=False)),
    "contains": _like(lambda a, b: a.contains(b, autoescape=False)),
    "tolower": _text_function("lower"),
    "toupper": _text_function("upper"),
    "trim": _text_function("trim"),
    "length": lambda c, args: (func.length(c._text(args[0])), "number"),
    "concat": lambda c, args: (c._text(args[0]).concat(c._text(args[1])), "text"),
    "indexof": _indexof,
    "round": lambda c, args: (func.round(c._number(args[0])), "number"),
    "now": lambda c, args: (literal(values.now_ms()), "time"),
    **{name: _part(name) for name in ("year", "month", "day", "hour", "minute", "second")},
}


def _divide(a: Expr, b: Expr) -> Expr:
    return cast(a, Float) / b  # SQL would divide integers as integers


_ARITHMETIC: dict[type, Callable[[Expr, Expr], Expr]] = {**values.ARITHMETIC, ast.Div: _divide}

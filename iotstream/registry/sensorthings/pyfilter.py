"""`$filter` over Observations, which come from the time-series store rather than the catalog: the
expression is evaluated in Python on each reading the store returns for the requested range.

Values follow SQL's rules as the catalog's filter does: `eq` and `ne` treat a missing value as null,
numbers compare as numbers whatever their JSON spelling, times as instants. An order comparison (`lt`,
`gt`…) or a function of a missing value is unknown, as in SQL, so `not` does not turn it into a match
(the catalog's filter evaluates its geospatial conditions here too, and relies on that). The geospatial
functions, e.g. `st_within(FeatureOfInterest/feature, geography'…')`, are those of _geo.
"""

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

from odata_query import ast

from iotstream.registry.sensorthings import _geo, values
from iotstream.registry.sensorthings.odata import QueryError

__all__ = ["TIME_PROPERTIES", "Resolve", "decide", "evaluate", "time_bounds"]

TIME_PROPERTIES = frozenset({"phenomenonTime", "resultTime"})
Resolve = Callable[[list[str]], Any]  # a member path → its value for the current row


def evaluate(node: ast._Node, resolve: Resolve) -> bool:
    return _truth(_value(node, resolve))


def decide(node: ast._Node, resolve: Resolve) -> bool | None:
    """A condition as SQL has it: true, false, or None when it is unknown (it needs a missing value)."""
    value = _value(node, resolve)
    return value if value is None or isinstance(value, bool) else False


def time_bounds(node: ast._Node | None) -> tuple[int, int]:
    """[start, end) of phenomenonTime that every match lies in, from comparisons joined by `and`;
    the store is asked for this range only."""
    start, end = 0, values.END_OF_TIME_MS
    for comparison in _conjuncts(node):
        if not (isinstance(comparison, ast.Compare) and isinstance(comparison.right, ast.DateTime)):
            continue
        if not (isinstance(comparison.left, ast.Identifier) and comparison.left.name == "phenomenonTime"):
            continue
        at = values.to_ms(values.literal(comparison.right))
        operator = type(comparison.comparator)
        if operator in (ast.Gt, ast.GtE, ast.Eq):
            start = max(start, at + (1 if operator is ast.Gt else 0))
        if operator in (ast.Lt, ast.LtE, ast.Eq):
            end = min(end, at + (0 if operator is ast.Lt else 1))
    return start, end


def _conjuncts(node: ast._Node | None) -> list[ast._Node]:
    if node is None:
        return []
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
        return [*_conjuncts(node.left), *_conjuncts(node.right)]
    return [node]


def _truth(value: Any) -> bool:
    return value is True


def _value(node: ast._Node, resolve: Resolve) -> Any:
    if isinstance(node, ast.BoolOp):
        return _logic(node, resolve)
    if isinstance(node, ast.UnaryOp):
        operand = _value(node.operand, resolve)
        if isinstance(node.op, ast.Not):
            return None if operand is None else not _truth(operand)
        return -operand if _is_number(operand) else None
    if isinstance(node, ast.Geography):
        try:
            return _geo.literal(node.val)
        except _geo.GeometryError as err:
            raise QueryError(f"$filter: {err}") from err
    if isinstance(node, ast.Compare):
        return _compare(node, resolve)
    if isinstance(node, ast._Literal):
        return values.literal(node)
    if isinstance(node, ast.Identifier | ast.Attribute):
        return resolve(values.segments(node))
    if isinstance(node, ast.BinOp):
        return _arithmetic(node, _value(node.left, resolve), _value(node.right, resolve))
    if isinstance(node, ast.Call):
        name = ".".join([*node.func.namespace, node.func.name])
        function = _FUNCTIONS.get(name)
        if function is None:
            raise QueryError(f"$filter function {name}() is not supported on Observations")
        arguments = [_value(arg, resolve) for arg in node.args]
        return None if any(a is None for a in arguments) else function(*arguments)
    raise QueryError(f"{values.show(node)} is not supported in a filter on Observations")


def _logic(node: ast.BoolOp, resolve: Resolve) -> bool | None:
    """`and`/`or` with SQL's three values: false and unknown is false, true or unknown is true."""
    left = decide(node.left, resolve)
    decisive = isinstance(node.op, ast.Or)  # the value that settles it whatever the other side is
    if left is decisive:
        return left
    right = decide(node.right, resolve)
    if right is decisive:
        return right
    return None if left is None or right is None else not decisive


def _compare(node: ast.Compare, resolve: Resolve) -> bool | None:
    left = _value(node.left, resolve)
    if isinstance(node.comparator, ast.In):
        if not isinstance(node.right, ast.List):
            raise QueryError("'in' needs a list: result in (1, 2)")
        return any(_equal(left, values.literal(item)) for item in node.right.val)
    right = _value(node.right, resolve)
    left, right = _as_instants(left, right)
    if isinstance(node.comparator, ast.Eq):
        return _equal(left, right)
    if isinstance(node.comparator, ast.NotEq):
        return not _equal(left, right)
    if left is None or right is None:
        return None
    left, right = _as_texts(left, right)
    if _is_number(left) != _is_number(right):
        return False
    try:
        return bool(values.COMPARATORS[type(node.comparator)](left, right))
    except TypeError:
        return False


def _as_instants(left: Any, right: Any) -> tuple[Any, Any]:
    if isinstance(left, dt.datetime) or isinstance(right, dt.datetime):
        return _ms(left), _ms(right)
    return left, right


def _ms(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return values.to_ms(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _equal(left: Any, right: Any) -> bool:
    if left is None or right is None:
        return left is None and right is None
    if _is_number(left) and _is_number(right):
        return bool(left == right)
    return type(left) is type(right) and bool(left == right)


def _as_texts(left: Any, right: Any) -> tuple[Any, Any]:
    """`result gt '3'`: a number compared with text compares as text, its JSON text (as FROST does,
    and the conformance suite expects: 4…9 are greater than '3', 10…12 are not)."""
    if _is_number(left) and isinstance(right, str):
        return _json_text(left), right
    if _is_number(right) and isinstance(left, str):
        return left, _json_text(right)
    return left, right


def _json_text(number: Any) -> str:
    whole = isinstance(number, float) and number.is_integer() and abs(number) < 2**53
    return str(int(number)) if whole else str(number)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _arithmetic(node: ast.BinOp, left: Any, right: Any) -> Any:
    if not (_is_number(left) and _is_number(right)):
        return None
    if isinstance(node.op, ast.Div | ast.Mod) and right == 0:
        return None
    return values.ARITHMETIC[type(node.op)](left, right)


def _utc(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "substring": lambda s, start, length=None: str(s)[start : None if length is None else start + length],
    "startswith": lambda a, b: str(a).startswith(str(b)),
    "endswith": lambda a, b: str(a).endswith(str(b)),
    "contains": lambda a, b: str(b) in str(a),
    "tolower": lambda s: str(s).lower(),
    "toupper": lambda s: str(s).upper(),
    "trim": lambda s: str(s).strip(),
    "length": lambda s: len(str(s)),
    "concat": lambda a, b: f"{a}{b}",
    "indexof": lambda a, b: str(a).find(str(b)),
    "round": lambda x: math.floor(x + 0.5),
    "floor": math.floor,
    "ceiling": math.ceil,
    "now": lambda: values.now_ms(),
    "year": lambda ms: _utc(_ms(ms)).year,
    "month": lambda ms: _utc(_ms(ms)).month,
    "day": lambda ms: _utc(_ms(ms)).day,
    "hour": lambda ms: _utc(_ms(ms)).hour,
    "minute": lambda ms: _utc(_ms(ms)).minute,
    "second": lambda ms: _utc(_ms(ms)).second,
    **_geo.FUNCTIONS,
}

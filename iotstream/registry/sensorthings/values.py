"""Helpers both filter back ends share: literals as Python values, member paths as segments, times."""

import datetime as dt
import operator
import time
from collections.abc import Callable
from typing import Any

from odata_query import ast

from iotstream._units import END_OF_TIME_MS, parse_time_ms
from iotstream.registry.sensorthings.odata import QueryError

__all__ = [
    "END_OF_TIME_MS",
    "NOTHING",
    "kind_of",
    "literal",
    "members",
    "now_ms",
    "segments",
    "show",
    "to_ms",
]

NOTHING: Any = object()

# Python's operators work on numbers and on SQLAlchemy expressions alike: both filters use these.
COMPARATORS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
ARITHMETIC: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
}  # "not a literal" (None is the literal null)


def segments(node: ast._Node) -> list[str]:
    """`Datastreams/Thing/name` as ["Datastreams", "Thing", "name"]."""
    if isinstance(node, ast.Identifier):
        return [*node.namespace, node.name]
    if isinstance(node, ast.Attribute):
        return [*segments(node.owner), node.attr]
    raise QueryError(f"{show(node)} is not a property path")


def members(node: ast._Node | None) -> list[list[str]]:
    """Every property path an expression uses, to check them before any row is read."""
    if node is None or isinstance(node, ast._Literal):
        return []
    if isinstance(node, ast.Identifier | ast.Attribute):
        return [segments(node)]
    children = [
        getattr(node, name) for name in ("left", "right", "operand", "expression") if hasattr(node, name)
    ]
    children += list(getattr(node, "args", []))
    return [path for child in children for path in members(child)]


def literal(node: ast._Node) -> Any:
    if isinstance(node, ast.DateTime):
        return node.py_val if node.py_val.tzinfo else node.py_val.replace(tzinfo=dt.UTC)
    if isinstance(node, ast.Duration | ast.Geography | ast.GUID | ast.Time | ast.Date | ast.List):
        raise QueryError(f"{type(node).__name__} literals are not supported in $filter")
    if isinstance(node, ast._Literal):
        return node.py_val
    raise QueryError(f"{show(node)} is not a literal")


def kind_of(value: Any, node: ast._Node) -> str:
    if value is None:
        return "null"
    if isinstance(node, ast.DateTime):
        return "time"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "text"


def to_ms(value: Any) -> int:
    """A time literal (or ISO text) as epoch milliseconds."""
    if isinstance(value, dt.datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        parsed = parse_time_ms(value, 0, naive_is_utc=True)
        if isinstance(parsed, int):
            return parsed
    raise QueryError(f"{value!r} is not a time")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def show(node: ast._Node) -> str:
    """A node as the user wrote it, roughly, for error messages."""
    if isinstance(node, ast.Identifier | ast.Attribute):
        return "/".join(segments(node))
    if isinstance(node, ast.String):
        return repr(node.val)
    if isinstance(node, ast._Literal) and hasattr(node, "val"):
        return str(node.val)
    if isinstance(node, ast.Null):
        return "null"
    if isinstance(node, ast.Call):
        return f"{node.func.name}({', '.join(show(a) for a in node.args)})"
    if isinstance(node, ast.Compare):
        return f"{show(node.left)} {type(node.comparator).__name__.lower()} {show(node.right)}"
    return type(node).__name__

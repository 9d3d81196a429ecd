"""Comparisons and logic of stream apps' SQL, with SQL's NULL: a comparison with NULL is NULL, `AND`,
`OR` and `NOT` are three-valued, and values of different kinds (a number and a string) compare as NULL
rather than raising, so one odd reading never stops a stream.
"""

import operator
import re
from collections.abc import Callable
from typing import Any

from sqlglot import exp

from iotstream.processing.apps.dialect import unsupported
from iotstream.processing.apps.types import Builder, Compile, Compiled, Row

__all__ = ["PREDICATES", "comparable"]

_NUMBER = (int, float)


def comparable(x: Any, y: Any) -> bool:
    """Numbers with numbers, strings with strings, booleans with booleans: anything else is NULL."""
    if type(x) in _NUMBER and type(y) in _NUMBER:
        return True
    return type(x) is type(y) and type(x) in (str, bool)


def _comparison(op: Callable[[Any, Any], bool]) -> Builder:
    def build(node: exp.Expr, compile_: Compile) -> Compiled:
        left = compile_(node.this)
        right = compile_(node.expression)

        def compare(row: Row) -> bool | None:
            x, y = left(row), right(row)
            return op(x, y) if comparable(x, y) else None

        return compare

    return build


def _and(node: exp.Expr, compile_: Compile) -> Compiled:
    left, right = compile_(node.this), compile_(node.expression)

    def both(row: Row) -> bool | None:
        x = left(row)
        if x is False:
            return False
        y = right(row)
        if y is False:
            return False
        return None if x is None or y is None else True

    return both


def _or(node: exp.Expr, compile_: Compile) -> Compiled:
    left, right = compile_(node.this), compile_(node.expression)

    def either(row: Row) -> bool | None:
        x = left(row)
        if x is True:
            return True
        y = right(row)
        if y is True:
            return True
        return None if x is None or y is None else False

    return either


def _xor(node: exp.Expr, compile_: Compile) -> Compiled:
    left, right = compile_(node.this), compile_(node.expression)

    def one_of(row: Row) -> bool | None:
        x, y = _truth(left(row)), _truth(right(row))
        return None if x is None or y is None else x != y

    return one_of


def _not(node: exp.Expr, compile_: Compile) -> Compiled:
    inner = compile_(node.this)

    def negated(row: Row) -> bool | None:
        x = _truth(inner(row))
        return None if x is None else not x

    return negated


def _truth(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _is(node: exp.Expr, compile_: Compile) -> Compiled:
    if not isinstance(node.expression, exp.Null):
        raise unsupported(node, "IS other than IS [NOT] NULL")
    inner, negate = compile_(node.this), bool(node.args.get("negate"))
    return lambda row: (inner(row) is None) != negate


def _in(node: exp.Expr, compile_: Compile) -> Compiled:
    if node.args.get("query") is not None or node.args.get("unnest") is not None:
        raise unsupported(node, "IN with a subquery")
    inner = compile_(node.this)
    options = [compile_(option) for option in node.expressions]

    def member(row: Row) -> bool | None:
        x = inner(row)
        if x is None:
            return None
        unknown = False
        for option in options:
            y = option(row)
            if comparable(x, y) and x == y:
                return True
            unknown = unknown or y is None
        return None if unknown else False

    return member


def _between(node: exp.Expr, compile_: Compile) -> Compiled:
    inner = compile_(node.this)
    low, high = compile_(node.args["low"]), compile_(node.args["high"])

    def within(row: Row) -> bool | None:
        x, a, b = inner(row), low(row), high(row)
        return a <= x <= b if comparable(x, a) and comparable(x, b) else None

    return within


def _like(node: exp.Expr, compile_: Compile) -> Compiled:
    if node.args.get("escape") is not None:
        raise unsupported(node, "LIKE ... ESCAPE")
    inner, pattern = compile_(node.this), compile_(node.expression)
    flags = re.IGNORECASE if isinstance(node, exp.ILike) else 0
    negate = bool(node.args.get("negate"))
    cache: dict[str, re.Pattern[str]] = {}

    def matches(row: Row) -> bool | None:
        text, like = inner(row), pattern(row)
        if type(text) is not str or type(like) is not str:
            return None
        regex = cache.get(like)
        if regex is None:
            regex = cache[like] = _like_regex(like, flags)
        return (regex.fullmatch(text) is not None) != negate

    return matches


def _like_regex(like: str, flags: int) -> re.Pattern[str]:
    parts = [".*" if c == "%" else "." if c == "_" else re.escape(c) for c in like]
    return re.compile("".join(parts), flags | re.DOTALL)


PREDICATES: dict[type[exp.Expr], Builder] = {
    exp.EQ: _comparison(operator.eq),
    exp.NEQ: _comparison(operator.ne),
    exp.LT: _comparison(operator.lt),
    exp.LTE: _comparison(operator.le),
    exp.GT: _comparison(operator.gt),
    exp.GTE: _comparison(operator.ge),
    exp.And: _and,
    exp.Or: _or,
    exp.Xor: _xor,
    exp.Not: _not,
    exp.Is: _is,
    exp.In: _in,
    exp.Between: _between,
    exp.Like: _like,
    exp.ILike: _like,
}

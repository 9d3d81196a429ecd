"""Scalar SQL expressions compiled to Python closures over a row (a dict of column values).

Each supported sqlglot node becomes one closure, made once when the app starts; a reading then costs
one call per node. NULL follows SQL: a comparison or arithmetic with NULL is NULL, `AND`/`OR`/`NOT`
use three-valued logic, and a `WHERE` keeps a row only when its condition is TRUE. A stream must not
stop for one odd reading, so what SQL would raise on — comparing a number with a string, dividing by
zero, the square root of a negative number — is NULL here too.
"""

import math
import operator
import re
from collections.abc import Callable
from typing import Any

from sqlglot import exp

from iotstream.processing.apps.dialect import SqlError, position_of
from iotstream.processing.apps.functions import SCALAR, cast_to

__all__ = ["Compiled", "Row", "compile_expression", "unsupported"]

Row = dict[str, Any]
Compiled = Callable[[Row], Any]
Columns = Callable[[exp.Column], Compiled]  # how the caller resolves a column (and what it may name)

_NUMBER = (int, float)


def unsupported(node: exp.Expr, what: str | None = None) -> SqlError:
    line, column = position_of(node)
    name = what or _construct(node)
    return SqlError(f"{name} is not supported in stream apps", line, column)


def _construct(node: exp.Expr) -> str:
    if isinstance(node, exp.Anonymous):
        return f"function {node.name.upper()}()"
    if isinstance(node, exp.Func):
        return f"function {node.sql_name()}()"
    return node.key.upper()


def compile_expression(node: exp.Expr, columns: Columns) -> Compiled:
    """The closure computing `node`; `columns` compiles the column references (it knows the row)."""
    if isinstance(node, exp.Column):
        return columns(node)
    if isinstance(node, exp.Paren):
        return compile_expression(node.this, columns)
    constant = _constant(node)
    if constant is not _NOT_CONSTANT:
        return lambda row: constant
    compile_ = _COMPILERS.get(type(node))
    if compile_ is None:
        raise unsupported(node)
    return compile_(node, columns)


_NOT_CONSTANT = object()


def _constant(node: exp.Expr) -> Any:
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        text = node.this
        return float(text) if any(c in text for c in ".eE") else int(text)
    return _NOT_CONSTANT


# ---- comparisons and logic


def _comparable(x: Any, y: Any) -> bool:
    """Numbers with numbers, strings with strings, booleans with booleans: anything else is NULL."""
    if type(x) in _NUMBER and type(y) in _NUMBER:
        return True
    return type(x) is type(y) and type(x) in (str, bool)


def _comparison(op: Callable[[Any, Any], bool]) -> Callable[[exp.Expr, Columns], Compiled]:
    def build(node: exp.Expr, columns: Columns) -> Compiled:
        left = compile_expression(node.this, columns)
        right = compile_expression(node.expression, columns)

        def compare(row: Row) -> bool | None:
            x, y = left(row), right(row)
            return op(x, y) if _comparable(x, y) else None

        return compare

    return build


def _and(node: exp.Expr, columns: Columns) -> Compiled:
    left, right = compile_expression(node.this, columns), compile_expression(node.expression, columns)

    def both(row: Row) -> bool | None:
        x = left(row)
        if x is False:
            return False
        y = right(row)
        if y is False:
            return False
        return None if x is None or y is None else True

    return both


def _or(node: exp.Expr, columns: Columns) -> Compiled:
    left, right = compile_expression(node.this, columns), compile_expression(node.expression, columns)

    def either(row: Row) -> bool | None:
        x = left(row)
        if x is True:
            return True
        y = right(row)
        if y is True:
            return True
        return None if x is None or y is None else False

    return either


def _xor(node: exp.Expr, columns: Columns) -> Compiled:
    left, right = compile_expression(node.this, columns), compile_expression(node.expression, columns)

    def one_of(row: Row) -> bool | None:
        x, y = _truth(left(row)), _truth(right(row))
        return None if x is None or y is None else x != y

    return one_of


def _not(node: exp.Expr, columns: Columns) -> Compiled:
    inner = compile_expression(node.this, columns)

    def negated(row: Row) -> bool | None:
        x = _truth(inner(row))
        return None if x is None else not x

    return negated


def _truth(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _is(node: exp.Expr, columns: Columns) -> Compiled:
    if not isinstance(node.expression, exp.Null):
        raise unsupported(node, "IS other than IS [NOT] NULL")
    inner, negate = compile_expression(node.this, columns), bool(node.args.get("negate"))
    return lambda row: (inner(row) is None) != negate


def _in(node: exp.Expr, columns: Columns) -> Compiled:
    if node.args.get("query") is not None or node.args.get("unnest") is not None:
        raise unsupported(node, "IN with a subquery")
    inner = compile_expression(node.this, columns)
    options = [compile_expression(option, columns) for option in node.expressions]

    def member(row: Row) -> bool | None:
        x = inner(row)
        if x is None:
            return None
        unknown = False
        for option in options:
            y = option(row)
            if _comparable(x, y) and x == y:
                return True
            unknown = unknown or y is None
        return None if unknown else False

    return member


def _between(node: exp.Expr, columns: Columns) -> Compiled:
    inner = compile_expression(node.this, columns)
    low, high = compile_expression(node.args["low"], columns), compile_expression(node.args["high"], columns)

    def within(row: Row) -> bool | None:
        x, a, b = inner(row), low(row), high(row)
        return a <= x <= b if _comparable(x, a) and _comparable(x, b) else None

    return within


def _like(node: exp.Expr, columns: Columns) -> Compiled:
    if node.args.get("escape") is not None:
        raise unsupported(node, "LIKE ... ESCAPE")
    inner, pattern = compile_expression(node.this, columns), compile_expression(node.expression, columns)
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


# ---- arithmetic


def _arithmetic(op: Callable[[Any, Any], Any]) -> Callable[[exp.Expr, Columns], Compiled]:
    def build(node: exp.Expr, columns: Columns) -> Compiled:
        left = compile_expression(node.this, columns)
        right = compile_expression(node.expression, columns)

        def compute(row: Row) -> Any:
            x, y = left(row), right(row)
            if type(x) not in _NUMBER or type(y) not in _NUMBER:
                return None
            try:
                return op(x, y)
            except (ArithmeticError, ValueError):
                return None

        return compute

    return build


def _divide(x: float, y: float) -> float:
    """Real division, as the seed's stream apps had it (`7 / 2` is 3.5, not PostgreSQL's 3)."""
    return x / y


def _modulo(x: float, y: float) -> float:
    """The sign of the dividend, as in SQL (`-7 % 3` is -1), not Python's."""
    result = math.fmod(x, y)
    return int(result) if type(x) is int and type(y) is int else result


def _power(x: float, y: float) -> float:
    """`math.pow`: a float or an error (OverflowError, or ValueError for a negative number to a
    fractional power), never Python's complex result."""
    return math.pow(x, y)


def _negative(node: exp.Expr, columns: Columns) -> Compiled:
    inner = compile_expression(node.this, columns)
    return lambda row: -x if type(x := inner(row)) in _NUMBER else None


def _concatenate(node: exp.Expr, columns: Columns) -> Compiled:
    if isinstance(node, exp.Concat):  # CONCAT() skips NULLs; || is NULL with any
        pieces = [compile_expression(part, columns) for part in node.expressions]
        return lambda row: "".join(_text(x) for piece in pieces if (x := piece(row)) is not None)
    parts = [compile_expression(part, columns) for part in [node.this, node.expression]]

    def joined(row: Row) -> str | None:
        values = [part(row) for part in parts]
        return None if None in values else "".join(map(_text, values))

    return joined


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    return str(value)


# ---- functions, CASE and CAST

_FLAGS = frozenset(("ignore_nulls", "safe"))  # what the PostgreSQL dialect sets on functions it reads


def _function(node: exp.Expr, columns: Columns) -> Compiled:
    spec = SCALAR[type(node)]
    extra = [n for n, value in node.args.items() if value and n not in spec.arguments and n not in _FLAGS]
    if extra:
        raise unsupported(node, f"{_construct(node)} with {', '.join(extra)}")
    parts: list[Compiled] = []
    for name in spec.arguments:
        value = node.args.get(name)
        values = value if isinstance(value, list) else [] if value is None else [value]
        parts += [compile_expression(v, columns) for v in values]
    fn, strict = spec.fn, spec.strict

    def call(row: Row) -> Any:
        args = [part(row) for part in parts]
        if strict and any(a is None for a in args):
            return None
        try:
            return fn(*args)
        except (ArithmeticError, ValueError, TypeError):
            return None

    return call


def _case(node: exp.Expr, columns: Columns) -> Compiled:
    subject = None if node.this is None else compile_expression(node.this, columns)
    branches = [
        (compile_expression(branch.this, columns), compile_expression(branch.args["true"], columns))
        for branch in node.args["ifs"]
    ]
    default = node.args.get("default")
    otherwise = (lambda row: None) if default is None else compile_expression(default, columns)

    def choose(row: Row) -> Any:
        x = None if subject is None else subject(row)
        for condition, result in branches:
            c = condition(row)
            if (c is True) if subject is None else (x is not None and _comparable(x, c) and x == c):
                return result(row)
        return otherwise(row)

    return choose


def _cast(node: exp.Expr, columns: Columns) -> Compiled:
    convert = cast_to(node.args["to"])
    if convert is None:
        raise unsupported(node, f"CAST to {node.args['to'].sql()}")
    inner = compile_expression(node.this, columns)
    return lambda row: convert(inner(row))


_COMPILERS: dict[type[exp.Expr], Callable[[Any, Columns], Compiled]] = {
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
    exp.Add: _arithmetic(operator.add),
    exp.Sub: _arithmetic(operator.sub),
    exp.Mul: _arithmetic(operator.mul),
    exp.Div: _arithmetic(_divide),
    exp.Mod: _arithmetic(_modulo),
    exp.Pow: _arithmetic(_power),
    exp.Neg: _negative,
    exp.DPipe: _concatenate,
    exp.Concat: _concatenate,
    exp.Case: _case,
    exp.Cast: _cast,
    **{kind: _function for kind in SCALAR},
}

"""Scalar SQL expressions compiled to Python closures over a row (a dict of column values).

Each supported sqlglot node becomes one closure, made once when the app starts; a reading then costs
one call per node. NULL follows SQL: a comparison or arithmetic with NULL is NULL, `AND`/`OR`/`NOT`
use three-valued logic, and a `WHERE` keeps a row only when its condition is TRUE. A stream must not
stop for one odd reading, so what SQL would raise on — comparing a number with a string, dividing by
zero, the square root of a negative number — is NULL here too.
"""

import math
import operator
from collections.abc import Callable
from typing import Any

from sqlglot import exp

from iotstream.processing.apps.dialect import construct, unsupported
from iotstream.processing.apps.functions import SCALAR, cast_to
from iotstream.processing.apps.predicates import PREDICATES, comparable
from iotstream.processing.apps.types import Builder, Compile, Compiled, Row

__all__ = ["Columns", "compile_expression"]

Columns = Callable[[exp.Column], Compiled]  # how the caller resolves a column (and what it may name)

_NUMBER = (int, float)


def compile_expression(node: exp.Expr, columns: Columns) -> Compiled:
    """The closure computing `node`; `columns` compiles the column references (it knows the row)."""
    if isinstance(node, exp.Column):
        return columns(node)
    if isinstance(node, exp.Paren):
        return compile_expression(node.this, columns)
    constant = _constant(node)
    if constant is not _NOT_CONSTANT:
        return lambda row: constant
    build = _BUILDERS.get(type(node))
    if build is None:
        raise unsupported(node)
    return build(node, lambda part: compile_expression(part, columns))


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


# ---- arithmetic


def _arithmetic(op: Callable[[Any, Any], Any]) -> Builder:
    def build(node: exp.Expr, compile_: Compile) -> Compiled:
        left = compile_(node.this)
        right = compile_(node.expression)

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


def _negative(node: exp.Expr, compile_: Compile) -> Compiled:
    inner = compile_(node.this)
    return lambda row: -x if type(x := inner(row)) in _NUMBER else None


def _concatenate(node: exp.Expr, compile_: Compile) -> Compiled:
    if isinstance(node, exp.Concat):  # CONCAT() skips NULLs; || is NULL with any
        pieces = [compile_(part) for part in node.expressions]
        return lambda row: "".join(_text(x) for piece in pieces if (x := piece(row)) is not None)
    parts = [compile_(part) for part in [node.this, node.expression]]

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


def _function(node: exp.Expr, compile_: Compile) -> Compiled:
    spec = SCALAR[type(node)]
    extra = [n for n, value in node.args.items() if value and n not in spec.arguments and n not in _FLAGS]
    if extra:
        raise unsupported(node, f"{construct(node)} with {', '.join(extra)}")
    parts: list[Compiled] = []
    for name in spec.arguments:
        value = node.args.get(name)
        values = value if isinstance(value, list) else [] if value is None else [value]
        parts += [compile_(v) for v in values]
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


def _case(node: exp.Expr, compile_: Compile) -> Compiled:
    subject = None if node.this is None else compile_(node.this)
    branches = [(compile_(branch.this), compile_(branch.args["true"])) for branch in node.args["ifs"]]
    default = node.args.get("default")
    otherwise = (lambda row: None) if default is None else compile_(default)

    def choose(row: Row) -> Any:
        x = None if subject is None else subject(row)
        for condition, result in branches:
            c = condition(row)
            if (c is True) if subject is None else (x is not None and comparable(x, c) and x == c):
                return result(row)
        return otherwise(row)

    return choose


def _cast(node: exp.Expr, compile_: Compile) -> Compiled:
    convert = cast_to(node.args["to"])
    if convert is None:
        raise unsupported(node, f"CAST to {node.args['to'].sql()}")
    inner = compile_(node.this)
    return lambda row: convert(inner(row))


_BUILDERS: dict[type[exp.Expr], Builder] = {
    **PREDICATES,
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

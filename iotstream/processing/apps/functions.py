"""The scalar functions of stream apps, as plain Python functions over values.

Most are strict (a NULL argument makes the result NULL); `COALESCE`, `NULLIF`, `GREATEST` and `LEAST`
look at NULLs themselves, as in PostgreSQL. A function that fails on a value (the logarithm of zero, a
number where a string belongs) gives NULL: see `expressions`.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

__all__ = ["SCALAR", "Function", "cast_to"]

_NUMBER = (int, float)


@dataclass(frozen=True)
class Function:
    fn: Callable[..., Any]
    arguments: tuple[str, ...]  # the sqlglot argument names it takes, in order (a list argument last)
    strict: bool = True  # NULL in, NULL out, without calling `fn`


def _number(fn: Callable[..., Any]) -> Callable[..., Any]:
    def numeric(*args: Any) -> Any:
        if not all(type(a) in _NUMBER for a in args):
            return None
        return fn(*args)

    return numeric


def _text(fn: Callable[..., Any]) -> Callable[..., Any]:
    def textual(text: Any, *args: Any) -> Any:
        return fn(text, *args) if type(text) is str else None

    return textual


def _round(x: float, digits: int = 0) -> float:
    """Half away from zero, as SQL rounds (Python rounds half to even)."""
    scale = 10.0 ** int(digits)
    return math.copysign(math.floor(abs(x) * scale + 0.5) / scale, x)


def _log(first: float, second: float | None = None) -> float:
    """`LOG(x)` is the base-10 logarithm, `LOG(b, x)` the base-b one (PostgreSQL's)."""
    return math.log10(first) if second is None else math.log(second, first)


def _substring(text: str, start: int = 1, length: int | None = None) -> str:
    begin = max(int(start) - 1, 0)
    end = None if length is None else max(int(start) - 1 + int(length), 0)
    return text[begin:end]


def _extreme(pick: Callable[..., Any]) -> Callable[..., Any]:
    def choose(*values: Any) -> Any:
        present = [v for v in values if v is not None]
        if not present:
            return None
        if all(type(v) in _NUMBER for v in present) or all(type(v) is str for v in present):
            return pick(present)
        return None

    return choose


def _coalesce(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _nullif(a: Any, b: Any) -> Any:
    return None if a == b and type(a) is type(b) else a


SCALAR: dict[type[exp.Expr], Function] = {
    exp.Abs: Function(_number(abs), ("this",)),
    exp.Round: Function(_number(_round), ("this", "decimals")),
    exp.Ceil: Function(_number(math.ceil), ("this",)),
    exp.Floor: Function(_number(math.floor), ("this",)),
    exp.Sqrt: Function(_number(math.sqrt), ("this",)),
    exp.Ln: Function(_number(math.log), ("this",)),
    exp.Exp: Function(_number(math.exp), ("this",)),
    exp.Log: Function(_number(_log), ("this", "expression")),
    exp.Sign: Function(_number(lambda x: (x > 0) - (x < 0)), ("this",)),
    exp.Lower: Function(_text(str.lower), ("this",)),
    exp.Upper: Function(_text(str.upper), ("this",)),
    exp.Length: Function(_text(len), ("this",)),
    exp.Trim: Function(_text(str.strip), ("this",)),
    exp.Substring: Function(_text(_substring), ("this", "start", "length")),
    exp.Replace: Function(
        _text(lambda s, a, b: s.replace(a, b) if type(a) is str and type(b) is str else None),
        ("this", "expression", "replacement"),
    ),
    exp.Greatest: Function(_extreme(max), ("this", "expressions"), strict=False),
    exp.Least: Function(_extreme(min), ("this", "expressions"), strict=False),
    exp.Coalesce: Function(_coalesce, ("this", "expressions"), strict=False),
    exp.Nullif: Function(_nullif, ("this", "expression"), strict=False),
}


def cast_to(kind: exp.DataType) -> Callable[[Any], Any] | None:
    """The conversion of `CAST(x AS kind)` (None: a type apps do not have)."""
    if kind.is_type(*exp.DataType.REAL_TYPES):
        return _to_float
    if kind.is_type(*exp.DataType.INTEGER_TYPES):
        return lambda v: None if (f := _to_float(v)) is None or not math.isfinite(f) else int(f)
    if kind.is_type(*exp.DataType.TEXT_TYPES):
        return lambda v: None if v is None else _as_text(v)
    if kind.is_type(exp.DataType.Type.BOOLEAN):
        return _to_bool
    return None


def _to_float(value: Any) -> float | None:
    if type(value) in (*_NUMBER, bool):
        return float(value)
    if type(value) is str:
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _to_bool(value: Any) -> bool | None:
    if type(value) in (*_NUMBER, bool):
        return bool(value)
    if type(value) is str and value.strip().lower() in ("true", "t", "1", "yes", "false", "f", "0", "no"):
        return value.strip().lower() in ("true", "t", "1", "yes")
    return None


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

"""GROUP BY with an event-time window: the window (`TUMBLE`, `HOP`, `SESSION`), the grouping columns,
the aggregates, and how the SELECT list and HAVING see a group.

A stream has no end, so an aggregate needs a window to close: `GROUP BY datastream, TUMBLE(time,
INTERVAL '1' MINUTE)`. The window functions take Flink's (Calcite's) arguments: `TUMBLE(time, size)`,
`HOP(time, slide, size)`, `SESSION(time, gap)`. A group's row has its grouping columns,
`window_start` and `window_end` (also written `TUMBLE_START(...)` and the like) and its aggregates.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from iotstream.processing.apps.dialect import SqlError, position_of, unsupported
from iotstream.processing.apps.expressions import compile_expression
from iotstream.processing.apps.types import Compiled, Row
from iotstream.processing.exceptions import ProcessingConfigError
from iotstream.processing.windows import BaseWindows, Hopping, Sessions, Tumbling

__all__ = ["Aggregate", "Grouping", "group_by", "is_window_bound"]

_WINDOWS = ("TUMBLE", "HOP", "SESSION")
_BOUNDS = {f"{w}_{edge}".lower(): f"window_{edge}".lower() for w in _WINDOWS for edge in ("START", "END")}
_AGGREGATES: dict[type[exp.Expr], str] = {
    exp.Count: "count",
    exp.Sum: "sum",
    exp.Min: "min",
    exp.Max: "max",
    exp.Avg: "avg",
    exp.First: "first",
    exp.Last: "last",
    exp.Stddev: "stddev",
    exp.StddevSamp: "stddev",
    exp.StddevPop: "stddev_pop",
}
_UNITS_MS = {"millisecond": 1, "second": 1_000, "minute": 60_000, "hour": 3_600_000, "day": 86_400_000}


def is_window_bound(name: str) -> bool:
    return name in ("window_start", "window_end") or name in _BOUNDS


@dataclass(frozen=True)
class Aggregate:
    kind: str  # count, sum, min, max, avg, first, last, stddev (sample) or stddev_pop
    argument: Compiled | None  # of a reading's row; None: COUNT(*)


class Grouping:
    """The window, the grouping columns, and the aggregates the SELECT list and HAVING use (each once,
    however often it is written), collected as they are compiled."""

    def __init__(
        self,
        windows: BaseWindows,
        keys: tuple[tuple[str, Compiled], ...],
        column: "ColumnOf",
        name_of: Callable[[exp.Column], str],
    ) -> None:
        self.windows = windows
        self.keys = keys  # grouping columns: name, and how a reading's row gives it
        self.aggregates: list[Aggregate] = []
        self.having: Compiled | None = None  # of a group's row
        self._column = column
        self._name_of = name_of
        self._slots: dict[str, int] = {}
        self._key_names = frozenset(name for name, _ in keys)

    def compile(self, node: exp.Expr) -> Compiled:
        """A SELECT item or HAVING over a group's row: aggregates and window bounds become its slots;
        any other column must be a grouping column."""

        def replace(part: exp.Expr) -> exp.Expr:
            if isinstance(part, exp.AggFunc):
                return exp.column(f"__aggregate_{self._slot(part)}")
            if isinstance(part, exp.Anonymous) and part.name.lower() in _BOUNDS:
                return exp.column(_BOUNDS[part.name.lower()])
            return part

        return compile_expression(node.copy().transform(replace), self._group_column)

    def row(self, values: tuple[Any, ...], start: int, end: int, results: list[Any]) -> Row:
        row: Row = dict(zip((name for name, _ in self.keys), values, strict=True))
        row["window_start"], row["window_end"] = start, end
        for slot, result in enumerate(results):
            row[f"__aggregate_{slot}"] = result
        return row

    def _group_column(self, part: exp.Column) -> Compiled:
        name = part.name if part.name.startswith("__aggregate_") else self._name_of(part)
        if name.startswith("__aggregate_") or name in self._key_names or is_window_bound(name):
            return lambda row: row[name]
        line, col = position_of(part)
        raise SqlError(f"column {part.name!r} must be in GROUP BY or inside an aggregate", line, col)

    def _slot(self, node: exp.Func) -> int:
        text = node.sql()
        if text not in self._slots:
            self.aggregates.append(_aggregate(node, self._column))
            self._slots[text] = len(self.aggregates) - 1
        return self._slots[text]


ColumnOf = Callable[[exp.Column], Compiled]


def group_by(tree: exp.Select, column: ColumnOf, name_of: Callable[[exp.Column], str]) -> Grouping | None:
    """The grouping of a SELECT (None: the app has neither GROUP BY nor aggregates)."""
    group = tree.args.get("group")
    aggregated = any(True for item in tree.expressions for _ in item.find_all(exp.AggFunc))
    if group is None and not aggregated and tree.args.get("having") is None:
        return None
    items = [] if group is None else list(group.expressions)
    windows = [item for item in items if _window_call(item)]
    if len(windows) != 1:
        node = windows[1] if windows else (items[0] if items else tree)
        line, col = position_of(node)
        raise SqlError(
            "an app's aggregates need one event-time window in GROUP BY: TUMBLE(time, INTERVAL '1' MINUTE),"
            " HOP(time, slide, size) or SESSION(time, gap)",
            line,
            col,
        )
    keys = tuple(_key(item, column, name_of) for item in items if item is not windows[0])
    grouping = Grouping(_windows(windows[0]), keys, column, name_of)
    having = tree.args.get("having")
    if having is not None:
        grouping.having = grouping.compile(having.this)
    return grouping


def _window_call(node: exp.Expr) -> bool:
    return isinstance(node, exp.Anonymous) and node.name.upper() in _WINDOWS


def _key(node: exp.Expr, column: ColumnOf, name_of: Callable[[exp.Column], str]) -> tuple[str, Compiled]:
    if not isinstance(node, exp.Column):
        raise unsupported(node, f"GROUP BY {node.sql()} (group by columns)")
    name = name_of(node)
    if name == "time" or is_window_bound(name):
        raise unsupported(node, f"GROUP BY {node.sql()} (time is grouped by the window)")
    return name, column(node)


def _windows(call: exp.Expr) -> BaseWindows:
    kind, args = call.name.upper(), call.expressions
    wanted = {"TUMBLE": 2, "HOP": 3, "SESSION": 2}[kind]
    line, col = position_of(call)
    if (
        len(args) != wanted
        or not isinstance(args[0], exp.Column)
        or args[0].name.lower()
        not in (
            "time",
            "phenomenontime",
        )
    ):
        form = {
            "TUMBLE": "TUMBLE(time, size)",
            "HOP": "HOP(time, slide, size)",
            "SESSION": "SESSION(time, gap)",
        }
        raise SqlError(f"{kind} takes {form[kind]}", line, col)
    durations = [_interval_ms(arg) for arg in args[1:]]
    try:
        if kind == "TUMBLE":
            return Tumbling(durations[0])
        if kind == "HOP":
            return Hopping(durations[1], durations[0])
        return Sessions(durations[0])
    except ProcessingConfigError as err:
        raise SqlError(str(err), line, col) from None


def _interval_ms(node: exp.Expr) -> int:
    """`INTERVAL '1' MINUTE`, `INTERVAL '90 seconds'` or `INTERVAL '1.5' HOUR` in milliseconds."""
    line, col = position_of(node)
    if not isinstance(node, exp.Interval):
        raise SqlError(
            f"a window's size is an INTERVAL, like INTERVAL '1' MINUTE, not {node.sql()}", line, col
        )
    text = node.this.name if node.this is not None else ""
    unit = node.args.get("unit")
    words = text.split() + ([unit.name] if unit is not None else [])
    try:
        amount, name = float(words[0]), words[1].lower().rstrip("s")
        milliseconds = amount * _UNITS_MS[name]
    except (IndexError, ValueError, KeyError):
        raise SqlError(
            f"{node.sql()} is not a duration in milliseconds, seconds, minutes, hours or days",
            line,
            col,
        ) from None
    if len(words) != 2 or milliseconds <= 0 or milliseconds != int(milliseconds):
        raise SqlError(f"{node.sql()} must be one positive whole number of milliseconds", line, col)
    return int(milliseconds)


def _aggregate(node: exp.Func, column: ColumnOf) -> Aggregate:
    kind = _AGGREGATES.get(type(node))
    if kind is None:
        raise unsupported(node, f"the aggregate {node.sql_name()}()")
    argument = node.this
    if isinstance(argument, exp.Distinct):
        raise unsupported(node, f"{node.sql_name()}(DISTINCT ...)")
    if argument is not None and next(iter(argument.find_all(exp.AggFunc)), None) is not None:
        raise unsupported(node, "an aggregate inside an aggregate")
    if isinstance(argument, exp.Star):
        if kind != "count":
            raise unsupported(node, f"{node.sql_name()}(*)")
        return Aggregate(kind, None)
    return Aggregate(kind, compile_expression(argument, column))

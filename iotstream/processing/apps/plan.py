"""From an app's SELECT to a plan the engine can run: which readings pass, which columns come out, and
how they are grouped into event-time windows.

The table is `readings` (or the seed's `*`), one row per reading with the columns in `COLUMNS`; the
SensorThings names `result` and `phenomenonTime` and the seed's `name` are other names of `value`,
`time` and `datastream`. Anything else — joins, subqueries, ORDER BY, LIMIT, DISTINCT, window
functions — is refused with its name and position, never silently ignored.
"""

from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from iotstream.processing.apps.dialect import READINGS, SqlError, parse, position_of, unsupported
from iotstream.processing.apps.expressions import compile_expression
from iotstream.processing.apps.grouping import Aggregate, Grouping, group_by, is_window_bound
from iotstream.processing.apps.types import Compiled
from iotstream.processing.windows import BaseWindows

__all__ = ["COLUMNS", "Output", "Plan", "plan"]

COLUMNS = ("datastream", "time", "value", "thing", "location", "unit")
REGISTRY_COLUMNS = frozenset(("thing", "location", "unit"))  # joined from the registry's Datastreams
_SYNONYMS = {"result": "value", "phenomenontime": "time", "name": "datastream"}
_CLAUSES = {  # a SELECT's parts an app may not have, as users write them
    "with_": "WITH",
    "joins": "JOIN",
    "laterals": "LATERAL",
    "order": "ORDER BY",
    "limit": "LIMIT",
    "offset": "OFFSET",
    "distinct": "DISTINCT",
    "windows": "WINDOW",
    "qualify": "QUALIFY",
    "into": "INTO",
    "locks": "FOR UPDATE",
    "sample": "TABLESAMPLE",
    "connect": "CONNECT BY",
    "prewhere": "PREWHERE",
}
_ALLOWED = frozenset(("expressions", "from_", "where", "group", "having", "kind"))


@dataclass(frozen=True)
class Output:
    """One column of the app's rows: its name and how it is computed (from a reading's row, or from a
    group's row when the app is windowed)."""

    name: str
    compute: Compiled


@dataclass(frozen=True)
class Plan:
    where: Compiled | None
    outputs: tuple[Output, ...]
    grouping: Grouping | None
    registry: bool  # whether a column comes from the registry (thing, location, unit)

    @property
    def windows(self) -> BaseWindows | None:
        return None if self.grouping is None else self.grouping.windows

    @property
    def aggregates(self) -> tuple[Aggregate, ...]:
        return () if self.grouping is None else tuple(self.grouping.aggregates)


def plan(sql: str) -> Plan:
    """The plan of one app's SQL; a `SqlError` names what is wrong and where."""
    tree = parse(sql)
    if not isinstance(tree, exp.Select):
        raise unsupported(tree, f"{tree.key.upper()} (an app is one SELECT)")
    _check_clauses(tree)
    table_names = _table_names(tree)
    used: set[str] = set()

    def column(node: exp.Column) -> Compiled:
        name = _column_name(node, table_names)
        used.add(name)
        return lambda row: row[name]

    where = tree.args.get("where")
    condition = None if where is None else compile_expression(_no_aggregate(where.this, "WHERE"), column)
    grouping = group_by(tree, column, lambda node: _column_name(node, table_names))
    outputs = tuple(_outputs(tree, column, grouping))
    _check_outputs(tree, outputs, grouping)
    return Plan(condition, outputs, grouping, bool(used & REGISTRY_COLUMNS))


def _check_clauses(tree: exp.Select) -> None:
    for key, value in tree.args.items():
        if value and key not in _ALLOWED:
            node = value[0] if isinstance(value, list) else value
            what = _CLAUSES.get(key, key.upper())
            if not isinstance(node, exp.Expr):
                raise SqlError(f"{what} is not supported")
            refusal = unsupported(node, what)
            if key == "joins":  # the one construct with an alternative
                hint = '; join two datastreams with a [[jobs]] table of type "join"'
                raise SqlError(refusal.reason + hint, refusal.line, refusal.column)
            raise refusal
    for node in tree.find_all(exp.Subquery, exp.Select, exp.Window):
        if node is not tree:
            raise unsupported(
                node, "a window function (OVER)" if isinstance(node, exp.Window) else "a subquery"
            )


def _table_names(tree: exp.Select) -> frozenset[str]:
    """The names columns may be qualified with: the table's, and its alias."""
    source = tree.args.get("from_")
    if source is None:
        raise SqlError("an app reads FROM readings (or FROM *)")
    table = source.this
    if not isinstance(table, exp.Table) or table.name.lower() != READINGS or table.db or table.catalog:
        line, col = position_of(table)
        raise SqlError(f"an app reads FROM readings (or FROM *), not {table.sql()!r}", line, col)
    return frozenset(n.lower() for n in (table.name, table.alias) if n)


def _column_name(node: exp.Column, table_names: frozenset[str]) -> str:
    line, col = position_of(node)
    if node.table and node.table.lower() not in table_names:
        raise SqlError(f"unknown table {node.table!r}: an app reads only readings", line, col)
    if isinstance(node.this, exp.Star):
        raise SqlError("* is only allowed alone in the SELECT list", line, col)
    name = _SYNONYMS.get(node.name.lower(), node.name.lower())
    if name not in COLUMNS and not is_window_bound(name):
        raise SqlError(f"unknown column {node.name!r}; the columns are {', '.join(COLUMNS)}", line, col)
    return name


def _no_aggregate(node: exp.Expr, clause: str) -> exp.Expr:
    found = next(iter(node.find_all(exp.AggFunc)), None)
    if found is not None:
        line, col = position_of(found)
        raise SqlError(f"an aggregate cannot be used in {clause}; use HAVING", line, col)
    return node


def _outputs(tree: exp.Select, column: Any, grouping: Grouping | None) -> list[Output]:
    outputs: list[Output] = []
    for item in tree.expressions:
        if isinstance(item, exp.Star):
            if grouping is not None:
                raise unsupported(item, "SELECT * with GROUP BY")
            outputs += [Output(name, column(exp.column(name))) for name in ("datastream", "time", "value")]
            continue
        name = _output_name(item)
        inner = item.this if isinstance(item, exp.Alias) else item
        if grouping is None:
            outputs.append(
                Output(name, compile_expression(_no_aggregate(inner, "an app without GROUP BY"), column))
            )
        else:
            outputs.append(Output(name, grouping.compile(inner)))
    return outputs


def _output_name(item: exp.Expr) -> str:
    if isinstance(item, exp.Alias):
        return item.alias.lower()
    if isinstance(item, exp.Column):
        return _SYNONYMS.get(item.name.lower(), item.name.lower())
    if isinstance(item, exp.AggFunc):
        return item.key.lower()
    if isinstance(item, exp.Anonymous) and is_window_bound(item.name.lower()):
        return "window_end" if item.name.lower().endswith("_end") else "window_start"
    line, col = position_of(item)
    raise SqlError(f"name the expression {item.sql()!r} with AS", line, col)


def _check_outputs(tree: exp.Select, outputs: tuple[Output, ...], grouping: Grouping | None) -> None:
    names = [output.name for output in outputs]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise SqlError(f"the SELECT list names {', '.join(map(repr, repeated))} more than once")
    if not [name for name in names if name not in ("datastream", "time", "window_start", "window_end")]:
        line, col = position_of(tree.expressions[0] if tree.expressions else tree)
        raise SqlError("select at least one value: a column other than datastream and time", line, col)
    if grouping is not None and "time" in names:
        line, col = position_of(tree.expressions[names.index("time")])
        raise SqlError("a windowed app's rows are at their window's start: select window_start", line, col)

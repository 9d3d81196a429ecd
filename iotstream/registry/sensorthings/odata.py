"""The query options of a SensorThings request ($filter, $expand, $select, $orderby, $top, $skip, $count)
parsed into one `Query`. `$filter` uses odata-query's OData v4 grammar; the rest are simple enough to
split here. Every problem is a `QueryError` that names the option and what is wrong with it.

The grammar knows OData's geo.distance, geo.length and geo.intersects and its `geography'…'` literals;
SensorThings' st_* functions are added here, `geometry'…'` is read as `geography'…'`, and every
geography literal is parsed before any row is read (see _geo).
"""

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from odata_query import ast
from odata_query.exceptions import ArgumentCountException, ODataException
from odata_query.grammar import ODataLexer, ODataParser

from iotstream.registry.sensorthings import _geo
from iotstream.registry.sensorthings.errors import BadRequest

__all__ = ["DEFAULT_TOP", "MAX_TOP", "Order", "Query", "QueryError", "parse_filter", "parse_query"]

DEFAULT_TOP = 100
MAX_TOP = 10_000
_QUOTED = re.compile(r"((?<![\w./])geometry)?('(?:[^']|'')*')", re.IGNORECASE)
_OPTIONS = {"$filter", "$expand", "$select", "$orderby", "$top", "$skip", "$count", "$resultFormat"}


class QueryError(BadRequest):
    """A query option that cannot be understood: the client's mistake, answered with 400."""


@dataclass(frozen=True)
class Order:
    expression: ast._Node
    descending: bool


@dataclass(frozen=True)
class Query:
    filter: ast._Node | None = None
    orderby: tuple[Order, ...] = ()
    select: tuple[str, ...] = ()
    expand: dict[str, "Query"] = field(default_factory=dict)
    top: int | None = None
    skip: int = 0
    count: bool = False
    given: tuple[tuple[str, str], ...] = ()  # the options as written: an expansion's nextLink repeats them

    @property
    def limit(self) -> int:
        return DEFAULT_TOP if self.top is None else self.top


def parse_query(options: Mapping[str, str]) -> Query:
    unknown = [name for name in options if name.startswith("$") and name not in _OPTIONS]
    if unknown:
        raise QueryError(f"unknown query option {unknown[0]}; SensorThings has {', '.join(sorted(_OPTIONS))}")
    return Query(
        filter=parse_filter(options["$filter"]) if "$filter" in options else None,
        orderby=_orderby(options.get("$orderby")),
        select=_names("$select", options.get("$select")),
        expand=_expand(options.get("$expand")),
        top=_number("$top", options.get("$top"), MAX_TOP),
        skip=_number("$skip", options.get("$skip"), None) or 0,
        count=_boolean("$count", options.get("$count")),
        given=tuple(options.items()),
    )


def parse_filter(text: str) -> ast._Node:
    node = _parse("$filter", text)
    if node is None:
        raise QueryError("$filter is empty")
    return _not_outside(node)


def _not_outside(node: ast._Node) -> ast._Node:
    """odata-query binds `not` tighter than a comparison (`not result lt 1` as `(not result) lt 1`);
    OData's grammar negates the comparison, as FROST and the conformance suite read it."""
    if isinstance(node, ast.BoolOp):
        return ast.BoolOp(node.op, _not_outside(node.left), _not_outside(node.right))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return ast.UnaryOp(node.op, _not_outside(node.operand))
    if (
        isinstance(node, ast.Compare)
        and isinstance(node.left, ast.UnaryOp)
        and isinstance(node.left.op, ast.Not)
    ):
        inner = ast.Compare(node.comparator, node.left.operand, node.right)
        return ast.UnaryOp(node.left.op, _not_outside(inner))
    return node


def _orderby(text: str | None) -> tuple[Order, ...]:
    orders = []
    for item in _split(text or ""):
        words = item.rsplit(None, 1)
        descending = len(words) == 2 and words[1].lower() == "desc"
        expression = words[0] if len(words) == 2 and words[1].lower() in ("asc", "desc") else item
        orders.append(Order(_expression("$orderby", expression), descending))
    return tuple(orders)


def _expression(option: str, text: str) -> ast._Node:
    node = _parse(option, text)
    if node is None:
        raise QueryError(f"{option}: an expression is missing")
    return node


def _parse(option: str, text: str) -> ast._Node | None:
    try:
        node: ast._Node | None = _parser().parse(ODataLexer().tokenize(_geometry_as_geography(text)))
        if node is not None:
            _geo.check(node)
    except ODataException as err:
        raise QueryError(f"{option} {text!r}: {err}") from err
    except _geo.GeometryError as err:
        raise QueryError(f"{option}: {err}") from err
    return node


def _parser() -> ODataParser:
    """OData's parser, knowing SensorThings' st_* functions too (it refuses functions it does not know)."""
    parser = ODataParser()
    standard = parser._function_call

    def function_call(func: ast.Identifier, args: list[ast._Node]) -> ast.Call:
        arity = _geo.ARITY.get(func.name) if not func.namespace else None
        if arity is None:
            call: ast.Call = standard(func, args)
            return call
        if len(args) != arity:
            raise ArgumentCountException(func.name, arity, arity, len(args))
        return ast.Call(func, args)

    parser._function_call = function_call  # type: ignore[method-assign]
    return parser


def _geometry_as_geography(text: str) -> str:
    """`geometry'POINT(1 2)'`, OData's other spelling (FROST takes both), as `geography'…'`; string
    literals are matched whole, so their content is left alone."""
    return _QUOTED.sub(lambda match: ("geography" if match[1] else "") + match[2], text)


def _names(option: str, text: str | None) -> tuple[str, ...]:
    names = tuple(name.strip() for name in (text or "").split(",") if name.strip())
    bad = [name for name in names if not name.replace("@iot.", "").replace("/", "").isalnum()]
    if bad:
        raise QueryError(f"{option}: {bad[0]!r} is not a property name")
    return names


def _expand(text: str | None) -> dict[str, Query]:
    """`Datastreams($top=1),Datastreams/Observations` → {"Datastreams": Query(top=1, expand={...})}."""
    expanded: dict[str, Query] = {}
    for item in _split(text or ""):
        path, _, rest = item.partition("(")
        head, slash, deeper = item.partition("/") if "/" in path else (path, "", "")
        head = head.strip()
        if not head:
            raise QueryError(f"$expand {item!r}: a navigation property name is missing")
        if slash:  # the options belong to the last step of the path
            inner = Query(expand=_expand(deeper))
        elif rest and not rest.endswith(")"):
            raise QueryError(f"$expand {item!r}: options must be closed with ')'")
        else:
            inner = parse_query(_options(rest[:-1]) if rest else {})
        expanded[head] = _merge(expanded[head], inner) if head in expanded else inner
    return expanded


def _merge(first: Query, second: Query) -> Query:
    expand = dict(first.expand)
    for name, query in second.expand.items():
        expand[name] = _merge(expand[name], query) if name in expand else query
    options = second if second.filter or second.select or second.orderby or second.top else first
    return dataclasses.replace(options, expand=expand)


def _options(text: str) -> dict[str, str]:
    options = {}
    for part in _split(text, ";"):
        name, equals, value = part.partition("=")
        if not equals:
            raise QueryError(f"$expand option {part!r} must look like $name=value")
        options[name.strip()] = value.strip()
    return options


def _split(text: str, separator: str = ",") -> list[str]:
    """Split at separators outside parentheses and quotes."""
    parts, depth, quoted, start = [], 0, False, 0
    for index, char in enumerate(text):
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and char == separator:
            parts.append(text[start:index])
            start = index + 1
    if depth != 0 or quoted:
        raise QueryError(f"unbalanced parentheses or quotes in {text!r}")
    parts.append(text[start:])
    return [part.strip() for part in parts if part.strip()]


def _number(option: str, text: str | None, maximum: int | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit():
        raise QueryError(f"{option} must be a whole number ≥ 0, got {text!r}")
    value = int(text)
    if maximum is not None and value > maximum:
        raise QueryError(f"{option} {value} is more than the maximum {maximum}")
    return value


def _boolean(option: str, text: str | None) -> bool:
    if text is None or text == "false":
        return False
    if text == "true":
        return True
    raise QueryError(f"{option} must be true or false, got {text!r}")

"""The platform's read endpoints as plans (see `_http`), and their answers as columns for DataFrames.

`GET /api/v1/readings` answers a page at a time, with a `Link: <...after=...>; rel="next"` header
while more follow; `readings_plan` follows it to the end. Aggregates, series and alerts come whole.
Times go out as ISO-8601 text (a bare number below 1e11 would be read as seconds) and come back as
epoch ms, which `frames` turns into timezone-aware UTC datetimes.
"""

from collections.abc import Iterable, Sequence
from typing import Any, Literal

import httpx

from iotstream.client._http import Call, Plan, decoded
from iotstream.client._time import TimeLike, iso, to_ms

__all__ = [
    "AGGREGATE_COLUMNS",
    "ALERT_COLUMNS",
    "READING_COLUMNS",
    "SERIES_COLUMNS",
    "Columns",
    "aggregates_plan",
    "alerts_plan",
    "columns_of",
    "export_call",
    "range_params",
    "readings_plan",
    "series_plan",
]

API = "/api/v1"
Columns = dict[str, list[Any]]
# (frame column, answer field, is a time); the first column of each is `time`
READING_COLUMNS = (("time", "time", True), ("value", "value", False), ("id", "id", False))
AGGREGATE_COLUMNS = (
    ("time", "start", True),
    ("end", "end", True),
    *((name, name, False) for name in ("value", "count", "min", "max", "sum", "avg")),
)
SERIES_COLUMNS = (("time", "time", True), *((n, n, False) for n in ("value", "min", "max", "count")))
ALERT_COLUMNS = (
    ("time", "start", True),
    *((name, name, False) for name in ("rule", "datastream", "state")),
    ("last", "last", True),
    ("closed_at", "closed_at", True),
    *((name, name, False) for name in ("duration_s", "max", "avg", "threshold")),
)
ColumnSpec = Sequence[tuple[str, str, bool]]


def range_params(start: TimeLike | None, end: TimeLike | None) -> list[tuple[str, str]]:
    """`from` and `to` (exclusive) as ISO-8601; absent ones mean "all time"."""
    params = []
    if start is not None:
        params.append(("from", iso(to_ms(start))))
    if end is not None:
        params.append(("to", iso(to_ms(end))))
    return params


def readings_plan(
    datastream: str, start: TimeLike | None, end: TimeLike | None, page_size: int
) -> Plan[list[dict[str, Any]]]:
    """Every raw reading in the range, oldest first, page after page."""
    params = [("datastream", datastream), *range_params(start, end), ("limit", str(page_size))]
    rows: list[dict[str, Any]] = []
    after: list[tuple[str, str]] = []
    while True:
        answer = yield Call("GET", f"{API}/readings", params + after)
        rows += decoded(answer)
        following = _next_after(answer)
        if following is None:
            return rows
        after = [("after", following)]


def _next_after(answer: httpx.Response) -> str | None:
    """The `after` of the next page, from the Link header (its host may be the server's own view of
    itself, e.g. behind a proxy, so only the parameter is taken)."""
    link = answer.links.get("next")
    if link is None:
        return None
    following: str | None = httpx.URL(link["url"]).params.get("after")
    return following


def aggregates_plan(
    datastream: str, window: str, start: TimeLike | None, end: TimeLike | None
) -> Plan[list[dict[str, Any]]]:
    params = [("datastream", datastream), ("window", window), *range_params(start, end)]
    rows: list[dict[str, Any]] = decoded((yield Call("GET", f"{API}/aggregates", params)))
    return rows


def series_plan(
    datastream: str,
    start: TimeLike | None,
    end: TimeLike | None,
    span: str,
    points: int,
    max_points: int | None,
) -> Plan[dict[str, Any]]:
    params = [("datastream", datastream), *range_params(start, end), ("span", span), ("points", str(points))]
    if max_points is not None:
        params.append(("max_points", str(max_points)))
    document: dict[str, Any] = decoded((yield Call("GET", f"{API}/series", params)))
    return document


def alerts_plan(
    datastream: str | None,
    state: Literal["open", "closed"] | None,
    start: TimeLike | None,
    end: TimeLike | None,
) -> Plan[list[dict[str, Any]]]:
    params = range_params(start, end)
    params += [("datastream", datastream)] if datastream is not None else []
    params += [("state", state)] if state is not None else []
    rows: list[dict[str, Any]] = decoded((yield Call("GET", f"{API}/alerts", params)))
    return rows


def export_call(
    datastream: str,
    start: TimeLike | None,
    end: TimeLike | None,
    format: Literal["csv", "parquet"],
    window: Literal["1m", "1h", "1d"] | None,
) -> Call:
    params = [("datastream", datastream), *range_params(start, end), ("format", format)]
    if window is not None:
        params.append(("window", window))
    return Call("GET", f"{API}/export", params)


def columns_of(rows: Iterable[dict[str, Any]], spec: ColumnSpec) -> tuple[Columns, list[str]]:
    """Rows of an answer as named columns (times as epoch ms, None where absent), and which are times."""
    columns: Columns = {name: [] for name, _, _ in spec}
    for row in rows:
        for name, field, is_time in spec:
            value = row.get(field)
            columns[name].append(to_ms(value) if is_time and value is not None else value)
    return columns, [name for name, _, is_time in spec if is_time]

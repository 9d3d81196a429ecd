"""Grafana's SimpleJSON datasource protocol under `/grafana`, so existing Grafana dashboards can chart
iotstream without a plugin of ours.

Targets are datastream names (readings, downsampled to the panel's width through the rollups) and
`NAME@WINDOW` for window results such as `Etot@1d` or `Etot.diff@1d`. The target names of the seed
project's backend also work (`TH1_raw`, `TH1_aggr`, `Etot_DailyDiff`, `Etot_AggDayRest`), so its
recorded dashboard runs unchanged. Alerts are served as annotations.
"""

import fnmatch
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from iotstream._units import parse_time_ms
from iotstream.api._http import json_response
from iotstream.api.access import principal_of
from iotstream.api.openapi import Responses, problem
from iotstream.api.services import Services
from iotstream.models import Alert
from iotstream.registry.access import Scope, ScopeError
from iotstream.storage import BaseStorage

__all__ = ["router"]

router = APIRouter(prefix="/grafana", tags=["grafana"])
_BAD_RANGE: Responses = {
    400: problem("A range time is not understood or `from` is not before `to`, or a target unknown")
}
_PLACEHOLDER = "select metric"  # what the query editor sends before a metric is chosen
_ALIASES = {"_raw": "{}", "_aggr": "{}@1d", "_DailyDiff": "{}.diff@1d", "_AggDayRest": "{}.rest@1d"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class TimeRange(_Model):
    start: Annotated[str | int, Field(alias="from")]
    to: str | int


class Target(_Model):
    target: str = ""
    ref_id: Annotated[str, Field(alias="refId")] = "A"
    type: Literal["timeserie", "table"] = "timeserie"
    hide: bool = False


class QueryRequest(_Model):
    range: TimeRange
    interval_ms: Annotated[int | None, Field(alias="intervalMs", ge=1)] = None
    max_data_points: Annotated[int, Field(alias="maxDataPoints", ge=1, le=100_000)] = 1_000
    targets: list[Target]


class SearchRequest(_Model):
    target: str = ""


class AnnotationRequest(_Model):
    range: TimeRange
    annotation: dict[str, Any] = Field(default_factory=dict)


class TagValuesRequest(_Model):
    key: str


@router.get("/", summary="Health check of the Grafana datasource")
def health() -> Response:
    return json_response({"status": "ok", "message": "iotstream SimpleJSON datasource"})


@router.post(
    "/search",
    summary="Target names matching what was typed",
    responses={400: problem("The body is not JSON")},
)
def search(request: Request, body: SearchRequest | None = None) -> Response:
    typed = "" if body is None or body.target == _PLACEHOLDER else body.target.lower()
    storage = _services(request).storage
    scope = principal_of(request).scope
    windowed = [(name, window) for key, window in storage.windowed() if (name := scope.name(key)) is not None]
    names = sorted(scope.visible_keys(set(storage.latest())).values())
    names += [f"{name}@{window}" for name, window in windowed]
    return json_response([name for name in names if typed in name.lower()])


@router.post("/query", summary="Time series or tables of the targets over the range", responses=_BAD_RANGE)
def query(request: Request, body: QueryRequest) -> Response:
    services = _services(request)
    scope = principal_of(request).scope
    start, end = _range(body.range)
    wanted = [t for t in body.targets if not t.hide and t.target not in ("", _PLACEHOLDER)]
    results: list[dict[str, Any]] = []
    for target in wanted:
        points = _points(services, scope, target.target, (start, end), body)
        if target.type == "table":
            results.append(_table([[time_ms, value] for value, time_ms in points]))
        else:
            results.append({"target": target.target, "datapoints": points})
    return json_response(results)


@router.post("/annotations", summary="Alert episodes in the range as annotations", responses=_BAD_RANGE)
def annotations(request: Request, body: AnnotationRequest) -> Response:
    """`annotation.query` may name datastreams or rules (glob patterns allowed); empty means all."""
    start, end = _range(body.range)
    pattern = str(body.annotation.get("query") or "*")
    scope = principal_of(request).scope
    alerts = _services(request).storage.alerts(start_ms=start, end_ms=end)
    named = [(name, a) for a in alerts if (name := scope.name(a.datastream)) is not None]
    chosen = [(n, a) for n, a in named if fnmatch.fnmatchcase(n, pattern) or a.rule == pattern]
    return json_response([_annotation(alert, name, body.annotation) for name, alert in chosen])


@router.post("/tag-keys", summary="Keys for ad-hoc filters")
def tag_keys() -> Response:
    return json_response([{"type": "string", "text": "datastream"}])


@router.post(
    "/tag-values",
    summary="Values of an ad-hoc filter key",
    responses={400: problem("A key other than 'datastream'")},
)
def tag_values(request: Request, body: TagValuesRequest) -> Response:
    if body.key != "datastream":
        raise HTTPException(400, f"unknown tag key {body.key!r}; the only key is 'datastream'")
    visible = principal_of(request).scope.visible_keys(set(_services(request).storage.latest()))
    return json_response([{"text": name} for name in sorted(visible.values())])


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _range(time_range: TimeRange) -> tuple[int, int]:
    bounds = []
    for name, raw in (("range.from", time_range.start), ("range.to", time_range.to)):
        parsed = parse_time_ms(raw, 0, naive_is_utc=True)
        if isinstance(parsed, str):
            raise HTTPException(400, f"{name}: {parsed}")
        bounds.append(parsed)
    if bounds[0] >= bounds[1]:
        raise HTTPException(400, f"range.from ({time_range.start}) must be before range.to ({time_range.to})")
    return bounds[0], bounds[1]


def _width(body: QueryRequest, start: int, end: int) -> int:
    """How many points the panel can show: its interval's worth, never more than maxDataPoints."""
    if body.interval_ms is None:
        return body.max_data_points
    return max(1, min(body.max_data_points, (end - start) // body.interval_ms))


def _points(
    services: Services, scope: Scope, target: str, span: tuple[int, int], body: QueryRequest
) -> list[list[Any]]:
    """`[value, epoch_ms]` pairs, oldest first (SimpleJSON's datapoint order)."""
    start, end = span
    resolved = _resolve(services.storage, scope, target)
    if resolved is None:
        raise HTTPException(400, f"unknown target {target!r}: POST /grafana/search lists the targets")
    datastream, window = resolved
    if window is None:
        width = _width(body, start, end)
        series = services.storage.series(datastream, start, end, width, at_most=body.max_data_points)
        return [[bucket.avg, bucket.start_ms] for bucket in series.buckets]
    rows = services.storage.aggregates(datastream, window, start, end)
    return [[services.window_value(row), row.start_ms] for row in rows]


def _resolve(storage: BaseStorage, scope: Scope, target: str) -> tuple[str, str | None] | None:
    """(stream key, window or None for readings), or None when nothing the caller sees is stored
    under that name."""
    at = target.find("@", 1)  # a name shared by another tenant begins with "@<owner>/"
    datastream, window = (target, "") if at < 0 else (target[:at], target[at + 1 :])
    try:
        key = scope.read_key(datastream)
    except ScopeError:
        return None
    if window:
        return (key, window) if (key, window) in storage.windowed() else None
    if storage.latest([key]):
        return key, None
    for suffix, pattern in _ALIASES.items():
        if target.endswith(suffix):
            aliased = _resolve(storage, scope, pattern.format(target.removesuffix(suffix)))
            if aliased is not None:
                return aliased
    return None


def _table(rows: list[list[Any]]) -> dict[str, Any]:
    columns = [{"text": "Time", "type": "time"}, {"text": "value", "type": "number"}]
    return {"type": "table", "columns": columns, "rows": rows}


def _annotation(alert: Alert, datastream: str, echo: dict[str, Any]) -> dict[str, Any]:
    end = alert.closed_ms if alert.closed_ms is not None else alert.last_ms
    return {
        "annotation": echo,
        "time": alert.start_ms,
        "timeEnd": end,
        "isRegion": end > alert.start_ms,
        "title": f"{alert.rule}: {datastream} {alert.state}",
        "tags": [alert.rule, datastream, alert.state],
        "text": _annotation_text(alert),
    }


def _annotation_text(alert: Alert) -> str:
    if alert.max is None:  # a staleness rule: the threshold is the silence allowed
        return f"no data for {alert.duration_s:g} s (allowed {alert.threshold:g} s)"
    return f"max {alert.max}, average {alert.avg}, threshold {alert.threshold}"

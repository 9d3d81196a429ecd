"""Read endpoints over the store: window aggregates, late readings, the list of datastreams."""

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response

from iotstream._units import parse_duration_ms
from iotstream.api._http import TimeRange, iso, json_response, time_param
from iotstream.api.access import key_of, principal_of
from iotstream.api.services import Services
from iotstream.registry.access import Principal, Scope

__all__ = ["datastream_list", "job_list", "router"]

router = APIRouter(prefix="/api/v1", tags=["queries"])
_WINDOW = r"^\d+(ms|s|m|h|d|w)$"


@router.get("/aggregates", summary="Window results of a datastream (e.g. the daily meter values)")
def get_aggregates(
    request: Request,
    datastream: str,
    time_range: TimeRange,
    window: Annotated[str, Query(pattern=_WINDOW, description='The window name, e.g. "1d"')] = "1d",
) -> Response:
    """`value` is the aggregate the job was configured with for this datastream (avg when unknown)."""
    services: Services = request.app.state.services
    key = key_of(principal_of(request).scope, datastream)
    rows = services.storage.aggregates(key, window, *time_range)
    body = [
        {
            "start": iso(r.start_ms),
            "end": iso(r.end_ms),
            "value": services.window_value(r),
            "count": r.count,
            "min": r.min,
            "max": r.max,
            "sum": r.sum,
            "avg": r.avg,
        }
        for r in rows
    ]
    return json_response(body)


@router.get("/series", summary="A datastream over a range, downsampled for a chart")
def get_series(
    request: Request,
    datastream: str,
    from_: Annotated[str | None, Query(alias="from", description="Default: `span` before `to`")] = None,
    to: Annotated[str | None, Query(description="Default: just after the latest reading, or now")] = None,
    span: Annotated[str, Query(pattern=_WINDOW, description="The range when `from` is not given")] = "1d",
    points: Annotated[
        int, Query(ge=1, le=100_000, description="At least this many points if possible")
    ] = 500,
    max_points: Annotated[
        int | None, Query(ge=1, le=100_000, description="Merge into at most this many equal steps")
    ] = None,
) -> Response:
    """Uses the coarsest rollup (1m, 1h, 1d) that still gives `points` values, raw readings when none
    does. Each point is the bucket's average with its min, max and count. The shape suits Grafana's JSON
    API and Infinity datasources (fields `$.points[*].time` and `$.points[*].value`)."""
    services: Services = request.app.state.services
    key = key_of(principal_of(request).scope, datastream)
    latest = services.storage.latest([key]).get(key)
    after_latest = time.time_ns() // 1_000_000 if latest is None else latest.phenomenon_time_ms + 1
    end = time_param("to", to, after_latest)
    start = time_param("from", from_, max(end - parse_duration_ms(span), 0))
    if start >= end:
        raise HTTPException(400, f"'from' ({iso(start)}) must be before 'to' ({iso(end)})")
    series = services.storage.series(key, start, end, points, at_most=max_points)
    body = {
        "datastream": datastream,
        "from": iso(start),
        "to": iso(end),
        "resolution": series.resolution,
        "points": [
            {"time": iso(b.start_ms), "value": b.avg, "min": b.min, "max": b.max, "count": b.count}
            for b in series.buckets
        ],
    }
    return json_response(body)


@router.get("/alerts", summary="Alert episodes that started in the range, oldest first")
def get_alerts(
    request: Request,
    time_range: TimeRange,
    datastream: str | None = None,
    state: Annotated[Literal["open", "closed"] | None, Query()] = None,
) -> Response:
    services: Services = request.app.state.services
    scope = principal_of(request).scope
    key = None if datastream is None else key_of(scope, datastream)
    episodes = [
        (name, a)
        for a in services.storage.alerts(key, state, *time_range)
        if (name := scope.name(a.datastream)) is not None
    ]
    body = [
        {"rule": a.rule, "datastream": name, "state": a.state, "start": iso(a.start_ms)}
        | {"last": iso(a.last_ms), "duration_s": a.duration_s, "max": a.max, "avg": a.avg}
        | {"threshold": a.threshold, "closed_at": None if a.closed_ms is None else iso(a.closed_ms)}
        for name, a in episodes
    ]
    return json_response(body)


@router.get("/jobs", summary="The configured stream jobs")
def get_jobs(request: Request) -> Response:
    return json_response(job_list(request.app.state.services, principal_of(request)))


def job_list(services: Services, principal: Principal) -> list[dict[str, Any]]:
    """The jobs of the caller's tenant (`tenant` in their `[[jobs]]` table)."""
    mine = [job for job in services.settings.jobs if principal.everything or job.tenant == principal.tenant]
    return [job.model_dump(mode="json") for job in mine]


@router.get("/late", summary="Readings that arrived after their windows were final")
def get_late(request: Request, datastream: str, time_range: TimeRange) -> Response:
    services: Services = request.app.state.services
    rows = services.storage.late(key_of(principal_of(request).scope, datastream), *time_range)
    body = [
        {"time": iso(r.observation.phenomenon_time_ms), "value": r.observation.result}
        | {"late_by_s": r.late_by_ms / 1000, "job": r.job}
        for r in rows
    ]
    return json_response(body)


_UNREGISTERED = {"registry_id": None, "unit": None, "thing": None, "placeholder": None}  # + its name


@router.get("/datastreams", summary="Every datastream with its latest reading, unit and Thing")
def get_datastreams(request: Request) -> Response:
    return json_response(datastream_list(request.app.state.services, principal_of(request).scope))


def datastream_list(services: Services, scope: Scope) -> list[dict[str, Any]]:
    """Every stored or registered datastream the caller sees, by the name it uses (`key`), with its
    latest reading, configured aggregate and what the registry knows of it (name, unit, Thing; for a
    datastream the catalog does not have, the name is the key and the rest None)."""
    latest = services.storage.latest()
    described = services.describe_datastreams()
    listing = []
    for key, name in sorted(scope.visible_keys(set(latest) | set(described)).items(), key=lambda kv: kv[1]):
        reading = latest.get(key)
        last = None if reading is None else {"time": iso(reading.phenomenon_time_ms), "value": reading.result}
        registry = described.get(key, _UNREGISTERED)
        registry = registry | {"name": name if registry.get("name") in (None, key) else registry["name"]}
        listing.append({"key": name, "latest": last, "aggregate": services.value_of(key)} | registry)
    return listing


@router.get(
    "/stats", summary="Counters of this process: readings accepted and stored, ingest → stored latency"
)
def get_stats(request: Request) -> Response:
    """`sink.latency_ms` is a histogram (counts per upper bound in ms) that only grows: subtract two."""
    services: Services = request.app.state.services
    return json_response(services.stats())

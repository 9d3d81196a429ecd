"""`POST /api/v1/readings` (ingestion) and `GET /api/v1/readings` (raw readings of a datastream)."""

import asyncio
import functools
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response

from iotstream.api._http import TimeRange, iso, json_response, time_param
from iotstream.api.access import key_of, principal_of, retry_after_s
from iotstream.api.services import Services
from iotstream.exceptions import IotStreamError
from iotstream.ingest.avro import MEDIA_TYPE
from iotstream.ingest.ingestor import IngestBusyError, RegistrationNeededError
from iotstream.ingest.readings import InvalidPayloadError
from iotstream.log.exceptions import LogError
from iotstream.registry.access import Principal, Scope

__all__ = ["accept", "is_avro", "router", "too_large"]

router = APIRouter(prefix="/api/v1", tags=["readings"])

_EXAMPLE = [{"datastream": "kitchen/temp", "time": "2024-05-01T10:00:00Z", "value": 21.5}]
_AVRO_BODY = {
    "schema": {"type": "string", "format": "binary"},
    "description": "Confluent-framed Avro records back to back (a zero byte, the schema id, the record)",
}


def is_avro(content_type: str | None) -> bool:
    """Whether a request's Content-Type says its body is Avro frames (parameters ignored)."""
    return (content_type or "").partition(";")[0].strip().lower() == MEDIA_TYPE


@router.post(
    "/readings",
    status_code=202,
    summary="Send readings: one JSON object or an array of them, or Avro frames",
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"example": _EXAMPLE}, MEDIA_TYPE: _AVRO_BODY},
            "required": True,
        }
    },
    responses={
        202: {"description": '`{"accepted": n, "rejected": [{"index": i, "error": "..."}]}`'},
        400: {
            "description": "The body is not JSON, or not a reading object or array, or holds no Avro frame"
        },
        413: {"description": "The body is larger than [ingest] max_body_bytes"},
        429: {"description": "Beyond the tenant's readings per second; retry after Retry-After seconds"},
        503: {"description": "The log cannot keep up; retry after the Retry-After header's seconds"},
    },
)
async def post_readings(request: Request) -> Response:
    """Answered only once the log has every accepted reading, so "accepted" survives a crash.

    The server normally answers this route through `ReadingsFastPath`; this one serves the OpenAPI
    document and the deployments where CORS middleware must see every response."""
    services: Services = request.app.state.services
    limit = services.settings.ingest.max_body_bytes
    if int(request.headers.get("content-length") or 0) > limit:
        raise HTTPException(413, too_large(limit))
    avro = is_avro(request.headers.get("content-type"))
    status, document, headers = await accept(services, await request.body(), principal_of(request), avro)
    return json_response(document, status, headers)


async def accept(
    services: Services, body: bytes, principal: Principal, avro: bool = False
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, JSON document and headers of the answer to one POST of readings (`avro`: of frames)."""
    rate = principal.max_readings_per_s
    if rate is not None and services.access is not None:
        wait_s = services.access.limiter.admit(principal.tenant, rate)
        if wait_s is not None:
            detail = f"tenant {principal.tenant!r} may send {rate:g} readings per second; retry later"
            return 429, {"detail": detail}, {"Retry-After": str(retry_after_s(wait_s))}
    scope = None if principal.everything else principal.scope
    status, document, headers = await _accept(services, body, scope, avro)
    if rate is not None and services.access is not None and status == 202:
        services.access.limiter.take(principal.tenant, document["accepted"])
    return status, document, headers


async def _accept(
    services: Services, body: bytes, scope: Scope | None, avro: bool
) -> tuple[int, dict[str, Any], dict[str, str]]:
    loop = asyncio.get_running_loop()
    acknowledged: asyncio.Future[Exception | None] = loop.create_future()

    def done(error: Exception | None) -> None:
        loop.call_soon_threadsafe(_resolve, acknowledged, error)

    submit = services.ingestor.submit
    in_thread = functools.partial(submit, body, done, scope=scope, avro=avro)
    try:
        if avro:  # a schema not seen before is asked of the registry, which may be slow to answer
            result = await asyncio.to_thread(in_thread)
        else:
            try:
                result = submit(body, done, may_register=False, scope=scope)
            except RegistrationNeededError:  # the catalog's commit and the log's flush take milliseconds
                result = await asyncio.to_thread(in_thread)
    except InvalidPayloadError as err:
        return 400, {"detail": str(err)}, {}
    except IngestBusyError as err:
        return _busy(str(err), err.retry_after_s)
    except LogError as err:
        return _busy(f"the readings were not taken: {err}", services.settings.ingest.retry_after_s)
    except IotStreamError as err:  # the catalog, registering a new datastream, could not write
        if not err.retriable:
            raise
        return _busy(f"the readings were not taken: {err}", services.settings.ingest.retry_after_s)
    error = await acknowledged
    if error is not None:
        return _busy(f"the log did not acknowledge the readings: {error}", 1)
    rejected = [{"index": e.position, "error": e.error} for e in result.rejected]
    return 202, {"accepted": result.accepted, "rejected": rejected}, {}


def _resolve(future: "asyncio.Future[Exception | None]", error: Exception | None) -> None:
    if not future.done():
        future.set_result(error)


def _busy(message: str, retry_after_s: int) -> tuple[int, dict[str, Any], dict[str, str]]:
    return 503, {"detail": message}, {"Retry-After": str(retry_after_s)}


def too_large(limit: int) -> str:
    return f"body larger than [ingest] max_body_bytes = {limit} bytes"


@router.get("/readings", summary="Raw readings of one datastream, oldest first")
def get_readings(
    request: Request,
    datastream: str,
    time_range: TimeRange,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1_000,
    after: Annotated[str | None, Query(description="Continue after this time (from the Link header)")] = None,
) -> Response:
    services: Services = request.app.state.services
    key = key_of(principal_of(request).scope, datastream)
    start, end = time_range
    after_ms = None if after is None else time_param("after", after, 0, seconds=False)
    rows = services.storage.raw(key, start, end, limit=limit, after_ms=after_ms)
    body = [{"time": iso(r.phenomenon_time_ms), "value": r.result, "id": r.id} for r in rows]
    headers = {}
    if len(rows) == limit:
        following = request.url.include_query_params(after=str(rows[-1].phenomenon_time_ms))
        headers["Link"] = f'<{following}>; rel="next"'
    return json_response(body, headers=headers)

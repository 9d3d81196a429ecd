"""The SensorThings v1.1 HTTP API under `/v1.1`.

Errors are `{"code": status, "type": "error", "message": "..."}` (FROST's shape) with 400 for bad
bodies and query options, 404 for missing entities, 409 for conflicts (a stream key in use, an
entity still referenced).
"""

import dataclasses
from typing import Any

import msgspec
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from iotstream.api._http import json_response
from iotstream.api.access import principal_of
from iotstream.registry.sensorthings.batch import parse_batch, run_batch
from iotstream.registry.sensorthings.data_array import as_data_array, check_result_format, rows_to_bodies
from iotstream.registry.sensorthings.entities import ENTITY_SETS
from iotstream.registry.sensorthings.errors import BadRequest, Forbidden, MethodNotAllowed, NotFound, StaError
from iotstream.registry.sensorthings.json import link_path
from iotstream.registry.sensorthings.odata import parse_query
from iotstream.registry.sensorthings.openapi import documented_error
from iotstream.registry.sensorthings.paths import Resource, methods_of, parse_path
from iotstream.registry.sensorthings.service import NOTHING_THERE, SensorThings

__all__ = ["error_response", "error_shape", "router"]

router = APIRouter(prefix="/v1.1", tags=["SensorThings"])
_decoder = msgspec.json.Decoder()
_ACTIONS = ("$batch", "CreateObservations")  # POST-only routes the catch-alls would otherwise take
_ANSWERS: dict[int | str, dict[str, Any]] = {
    400: documented_error("The body cannot be used; `message` says why"),
    404: documented_error("No such Datastream"),
}
_CONFORMANCE = [
    "http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/resource-path/resource-path-to-entities",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/request-data",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/create-update-delete",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/create-observations-via-mqtt/observations-creation",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/receive-updates-via-mqtt/receive-updates",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/data-array/data-array",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/batch-request/batch-request",
    "https://fraunhoferiosb.github.io/FROST-Server/extensions/JsonBatchRequest.html",
]


def _service(request: Request) -> SensorThings:
    """The API over the caller's tenant's entities."""
    service: SensorThings | None = getattr(request.app.state, "sensorthings", None)
    if service is None:
        raise NotFound("the SensorThings API needs the registry, which this process does not run")
    principal = principal_of(request)
    if principal.everything:
        return service
    if principal.system is not None:
        raise Forbidden(
            f"{principal} is confined to system {principal.system!r}; SensorThings entities belong to"
            " a whole tenant: use a token of the tenant"
        )
    return service.scoped(principal.tenant)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/v1.1"


async def error_response(_request: Request, err: Exception) -> Response:
    """The app's handler for `StaError`: every client mistake below, answered in FROST's shape."""
    status = err.status if isinstance(err, StaError) else 500
    headers = {"Allow": ", ".join(err.allow)} if isinstance(err, MethodNotAllowed) else {}
    return error_shape(status, str(err), headers)


def error_shape(status: int, message: str, headers: dict[str, str]) -> Response:
    """FROST's error document, also for the HTTP errors raised before a route is found."""
    return json_response({"code": status, "type": "error", "message": message}, status, headers)


def _resource(request: Request, path: str) -> Resource:
    """The path parsed, refused with 405 when the request's method is not one it takes."""
    if path in _ACTIONS:
        raise MethodNotAllowed(request.method, ("POST",))
    resource = parse_path(path)
    methods = methods_of(resource)
    if request.method not in methods:
        raise MethodNotAllowed(request.method, methods)
    return resource


@router.get("", summary="The entity sets and the server's conformance classes")
def root(request: Request) -> Response:
    base = _base(request)
    sets = [{"name": name, "url": f"{base}/{name}"} for name in ENTITY_SETS]
    return json_response({"value": sets, "serverSettings": {"conformance": _CONFORMANCE}})


@router.get("/{path:path}", summary="Entities, collections, linked entities and properties")
async def get(request: Request, path: str) -> Response:
    resource = _resource(request, path)
    query = parse_query(dict(request.query_params))
    observations = resource.steps[-1].entities.name == "Observations" and resource.steps[-1].key is None
    data_array = check_result_format(request.query_params.get("$resultFormat"), observations=observations)
    url = str(request.url)
    whole = dataclasses.replace(query, select=()) if data_array else query  # components select, later
    result = await run_in_threadpool(_service(request).get, resource, whole, _base(request), url)
    if data_array:
        result = as_data_array(result, query.select, _base(request))
    if result is NOTHING_THERE:
        return Response(status_code=204)
    if resource.raw_value and resource.property is not None:
        return Response(str(result.get(resource.property)), media_type="text/plain")
    return json_response(result)


@router.post(
    "/CreateObservations",
    status_code=201,
    summary="Many Observations in the dataArray format",
    responses=_ANSWERS,
)
async def create_observations(request: Request) -> Response:
    """A row that cannot be created is answered "error: <why>" in its place; the others are created."""
    groups = _data_arrays(await _body(request))
    service = _service(request)
    answers: list[str] = []
    for owner, datastream_id, bodies in groups:
        ids = await run_in_threadpool(service.create_observations, owner, datastream_id, bodies)
        created = [i for i in ids if not i.startswith("error")]
        if created:
            await run_in_threadpool(service.wait_until_stored, created[-1])
        answers += [i if i.startswith("error") else f"{_base(request)}/Observations('{i}')" for i in ids]
    return json_response(answers, 201)


@router.post(
    "/$batch",
    summary="Many requests in one: JSON (application/json) or multipart/mixed",
    responses=_ANSWERS | {415: documented_error("Neither JSON nor multipart/mixed")},
)
async def batch(request: Request) -> Response:
    """One answer per request; an atomicity group (change set) is written whole or not at all."""
    parsed = parse_batch(await request.body(), request.headers.get("content-type"))
    answer, media_type = await run_in_threadpool(run_batch, _service(request), _base(request), parsed)
    return Response(answer, media_type=media_type)


@router.post("/{path:path}", status_code=201, summary="Create an entity (deep insert allowed)")
async def create(request: Request, path: str) -> Response:
    resource = _resource(request, path)
    body = await _body(request)
    service = _service(request)
    name, entity_id = await run_in_threadpool(service.create, resource, body)
    if name == "Observations":
        await run_in_threadpool(service.wait_until_stored, entity_id)
    created_path = link_path(ENTITY_SETS[name], entity_id)
    created = await run_in_threadpool(
        service.get, parse_path(created_path), parse_query({}), _base(request), ""
    )
    return json_response(created, 201, {"Location": f"{_base(request)}/{created_path}"})


@router.patch(
    "/{path:path}", summary="Change an entity: JSON merge, or JSON patch (application/json-patch+json)"
)
async def patch(request: Request, path: str) -> Response:
    resource = _resource(request, path)
    body = await _body(request)
    json_patch = request.headers.get("content-type", "").startswith("application/json-patch+json")
    await run_in_threadpool(lambda: _service(request).update(resource, body, json_patch=json_patch))
    return Response(status_code=200)


@router.put("/{path:path}", summary="Replace an entity")
async def put(request: Request, path: str) -> Response:
    resource = _resource(request, path)
    body = await _body(request)
    await run_in_threadpool(lambda: _service(request).update(resource, body, replace=True))
    return Response(status_code=200)


@router.delete("/{path:path}", summary="Delete an entity that nothing uses any more")
async def delete(request: Request, path: str) -> Response:
    await run_in_threadpool(_service(request).delete, _resource(request, path))
    return Response(status_code=200)


async def _body(request: Request) -> Any:
    raw = await request.body()
    try:
        return _decoder.decode(raw)
    except msgspec.DecodeError as err:
        raise BadRequest(f"body is not JSON: {err}") from err


def _data_arrays(body: Any) -> list[tuple[str, int, list[dict[str, Any]]]]:
    if not isinstance(body, list):
        raise BadRequest("CreateObservations takes an array of {Datastream, components, dataArray} objects")
    groups = []
    for index, group in enumerate(body):
        if not isinstance(group, dict):
            raise BadRequest(f"item {index} must be an object")
        owner = "MultiDatastream" if "MultiDatastream" in group else "Datastream"
        datastream = group.get(owner)
        if not isinstance(datastream, dict) or not isinstance(datastream.get("@iot.id"), int):
            raise BadRequest(f"item {index}: {owner} must be {{'@iot.id': n}}")
        bodies = rows_to_bodies(index, group.get("components"), group.get("dataArray"))
        groups.append((owner + "s", datastream["@iot.id"], bodies))
    return groups

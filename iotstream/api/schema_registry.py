"""Confluent's Schema Registry REST API under `/schema-registry`, for the clients Kafka users already
have (confluent-kafka's `SchemaRegistryClient`, Kafka Connect, ksqlDB). Errors are Confluent's:
`{"error_code": 40401, "message": "Subject 'x' not found."}` with its HTTP status."""

from typing import Any

import msgspec
from fastapi import APIRouter, Request, Response
from starlette.responses import JSONResponse

from iotstream._urls import without_password
from iotstream.api.openapi import Responses
from iotstream.api.services import Services
from iotstream.registry.schemas.compatibility import LEVELS
from iotstream.registry.schemas.records import Reference, SchemaValue
from iotstream.registry.schemas.store import MODES, SchemaRegistry, SchemaRegistryError, no_subject_level

__all__ = ["error_response", "error_shape", "router"]

_MEDIA = "application/vnd.schemaregistry.v1+json"
_encode = msgspec.json.Encoder().encode


class RegistryJSON(JSONResponse):
    media_type = _MEDIA


def _error(description: str) -> dict[str, Any]:
    schema = {
        "type": "object",
        "required": ["error_code", "message"],
        "properties": {"error_code": {"type": "integer"}, "message": {"type": "string"}},
    }
    return {"description": description, "content": {_MEDIA: {"schema": schema}}}


def _body_of(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "required": required}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


router = APIRouter(
    prefix="/schema-registry",
    tags=["schema registry"],
    default_response_class=RegistryJSON,
    responses={
        404: _error("No such subject, version or schema (40401, 40402, 40403), or no registry here"),
        422: _error("The body, schema, version, level or mode cannot be used (422xx)"),
    },
)
_SCHEMA_BODY = _body_of(
    {
        "schema": {"type": "string", "description": "The Avro schema as JSON text"},
        "schemaType": {"type": "string", "enum": ["AVRO"], "default": "AVRO"},
        "references": {"type": "array", "items": {"type": "object"}},
    },
    ["schema"],
)
_LEVEL_BODY = _body_of({"compatibility": {"type": "string", "enum": list(LEVELS)}}, ["compatibility"])
_MODE_BODY = _body_of({"mode": {"type": "string", "enum": list(MODES)}}, ["mode"])
_NOT_STORED: Responses = {500: _error("The log did not take it (50001)")}
_STORED: Responses = {409: _error("Incompatible with an earlier version"), **_NOT_STORED}


class _NewSchema(msgspec.Struct):
    schema: str
    schemaType: str = "AVRO"
    references: list[Reference] = msgspec.field(default_factory=list)


def _answer(document: Any, status: int = 200) -> Response:
    return Response(_encode(document), status, media_type=_MEDIA)


def error_response(request: Request, err: Exception) -> Response:
    assert isinstance(err, SchemaRegistryError)  # noqa: S101 - registered for this type only
    return JSONResponse({"error_code": err.code, "message": err.message}, err.status, media_type=_MEDIA)


def error_shape(status: int, message: str, headers: dict[str, str]) -> Response:
    """Confluent's answer to a path or method it has no endpoint for: the status as the error code."""
    document = {"error_code": status, "message": f"HTTP {status} {message}"}
    return JSONResponse(document, status, headers, media_type=_MEDIA)


def _registry(request: Request) -> SchemaRegistry:
    services: Services = request.app.state.services
    if services.schemas is None:
        elsewhere = services.settings.schemas.url
        where = f"; it uses the one at {without_password(elsewhere)} ([schemas] url)" if elsewhere else ""
        raise SchemaRegistryError(404, 40401, f"this process serves no schema registry{where}")
    return services.schemas


async def _body(request: Request, kind: type[Any]) -> Any:
    try:
        return msgspec.json.decode(await request.body(), type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError) as err:
        raise SchemaRegistryError(422, 42201, f"Invalid schema: {err}") from None


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "false").lower() == "true"


def _schema_document(value: SchemaValue, *, with_subject: bool) -> dict[str, Any]:
    document: dict[str, Any] = {"subject": value.subject, "version": value.version} if with_subject else {}
    document |= {"id": value.id, "schema": value.schema}
    if value.schemaType:
        document["schemaType"] = value.schemaType
    if value.references:
        document["references"] = msgspec.to_builtins(value.references)
    return document


@router.get("", include_in_schema=False)
@router.get("/", summary="The registry's root (Confluent answers an empty object)")
def root() -> Response:
    return _answer({})


@router.get("/schemas/types", summary="Schema types this registry takes")
def schema_types() -> Response:
    return _answer(["AVRO"])


@router.get("/schemas/ids/{schema_id}", summary="A schema by its id")
def schema_by_id(request: Request, schema_id: int) -> Response:
    document = _schema_document(_registry(request).by_id(schema_id), with_subject=False)
    return _answer({key: value for key, value in document.items() if key != "id"})


@router.get("/schemas/ids/{schema_id}/schema", summary="A schema by its id, the schema alone")
def schema_text(request: Request, schema_id: int) -> Response:
    return Response(_registry(request).by_id(schema_id).schema, media_type=_MEDIA)


@router.get("/schemas/ids/{schema_id}/versions", summary="The subject versions registered with this id")
def schema_versions(request: Request, schema_id: int) -> Response:
    registry = _registry(request)
    registry.by_id(schema_id)  # 40403 for an unknown id
    uses = registry.state().uses(schema_id)
    return _answer([{"subject": subject, "version": version} for subject, version in uses])


@router.get("/subjects", summary="Every subject")
def subjects(request: Request) -> Response:
    return _answer(_registry(request).state().subjects(deleted=_flag(request, "deleted")))


@router.get("/subjects/{subject}/versions", summary="A subject's versions")
def versions(request: Request, subject: str) -> Response:
    return _answer(_registry(request).versions(subject, deleted=_flag(request, "deleted")))


@router.get("/subjects/{subject}/versions/{version}", summary="One version of a subject (or `latest`)")
def version(request: Request, subject: str, version: str) -> Response:
    value = _registry(request).version(subject, version, deleted=_flag(request, "deleted"))
    return _answer(_schema_document(value, with_subject=True))


@router.get("/subjects/{subject}/versions/{version}/schema", summary="One version's schema alone")
def version_schema(request: Request, subject: str, version: str) -> Response:
    return Response(_registry(request).version(subject, version).schema, media_type=_MEDIA)


@router.get("/subjects/{subject}/versions/{version}/referencedby", summary="Ids of schemas referring to it")
def referenced_by(request: Request, subject: str, version: str) -> Response:
    registry = _registry(request)
    value = registry.version(subject, version)
    return _answer(registry.state().referenced_by(value.subject, value.version))


@router.post(
    "/subjects/{subject}/versions",
    summary="Register a schema under a subject",
    openapi_extra=_SCHEMA_BODY,
    responses=_STORED,
)
async def register(request: Request, subject: str) -> Response:
    body = await _body(request, _NewSchema)
    schema_id = _registry(request).register(subject, body.schema, body.schemaType, body.references)
    return _answer({"id": schema_id})


@router.post(
    "/subjects/{subject}",
    summary="Whether a schema is registered under a subject",
    openapi_extra=_SCHEMA_BODY,
)
async def lookup(request: Request, subject: str) -> Response:
    body = await _body(request, _NewSchema)
    value = _registry(request).lookup(
        subject, body.schema, body.schemaType, deleted=_flag(request, "deleted")
    )
    return _answer(_schema_document(value, with_subject=True))


@router.delete(
    "/subjects/{subject}",
    summary="Delete a subject (soft, or `permanent=true` after that)",
    responses=_NOT_STORED,
)
def delete_subject(request: Request, subject: str) -> Response:
    return _answer(_registry(request).delete_subject(subject, permanent=_flag(request, "permanent")))


@router.delete(
    "/subjects/{subject}/versions/{version}",
    summary="Delete one version of a subject",
    responses=_NOT_STORED,
)
def delete_version(request: Request, subject: str, version: str) -> Response:
    return _answer(_registry(request).delete_version(subject, version, permanent=_flag(request, "permanent")))


@router.post(
    "/compatibility/subjects/{subject}/versions/{version}",
    summary="Test a schema against a version",
    openapi_extra=_SCHEMA_BODY,
)
async def compatible_with(request: Request, subject: str, version: str) -> Response:
    body = await _body(request, _NewSchema)
    messages = _registry(request).compatible(subject, body.schema, version, body.schemaType)
    return _compatibility(request, messages)


@router.post(
    "/compatibility/subjects/{subject}/versions",
    summary="Test a schema as the subject's level asks",
    openapi_extra=_SCHEMA_BODY,
)
async def compatible(request: Request, subject: str) -> Response:
    body = await _body(request, _NewSchema)
    return _compatibility(request, _registry(request).compatible(subject, body.schema, None, body.schemaType))


def _compatibility(request: Request, messages: list[str]) -> Response:
    document: dict[str, Any] = {"is_compatible": not messages}
    if _flag(request, "verbose"):
        document["messages"] = messages
    return _answer(document)


@router.get("/config", summary="The global compatibility level")
def global_level(request: Request) -> Response:
    return _answer({"compatibilityLevel": _registry(request).state().level(None)})


@router.put("/config", summary="Set the global compatibility level", openapi_extra=_LEVEL_BODY)
async def set_global_level(request: Request) -> Response:
    level = (await _body(request, dict[str, str])).get("compatibility", "")
    return _answer({"compatibility": _registry(request).set_level(None, level)})


@router.get("/config/{subject}", summary="A subject's compatibility level")
def subject_level(request: Request, subject: str) -> Response:
    state = _registry(request).state()
    if subject not in state.levels and not _flag(request, "defaultToGlobal"):
        raise no_subject_level(subject)
    return _answer({"compatibilityLevel": state.level(subject)})


@router.put("/config/{subject}", summary="Set a subject's compatibility level", openapi_extra=_LEVEL_BODY)
async def set_subject_level(request: Request, subject: str) -> Response:
    level = (await _body(request, dict[str, str])).get("compatibility", "")
    return _answer({"compatibility": _registry(request).set_level(subject, level)})


@router.delete("/config/{subject}", summary="Drop a subject's level: the global one applies again")
def delete_subject_level(request: Request, subject: str) -> Response:
    return _answer({"compatibilityLevel": _registry(request).delete_level(subject)})


@router.get("/mode", summary="The global mode")
def global_mode(request: Request) -> Response:
    return _answer({"mode": _registry(request).state().mode(None)})


@router.put("/mode", summary="Set the global mode", openapi_extra=_MODE_BODY)
async def set_global_mode(request: Request) -> Response:
    mode = (await _body(request, dict[str, str])).get("mode", "")
    return _answer({"mode": _registry(request).set_mode(None, mode)})


@router.get("/mode/{subject}", summary="A subject's mode")
def subject_mode(request: Request, subject: str) -> Response:
    return _answer({"mode": _registry(request).state().mode(subject)})


@router.put("/mode/{subject}", summary="Set a subject's mode", openapi_extra=_MODE_BODY)
async def set_subject_mode(request: Request, subject: str) -> Response:
    mode = (await _body(request, dict[str, str])).get("mode", "")
    return _answer({"mode": _registry(request).set_mode(subject, mode)})


@router.get("/associations/{rest:path}", include_in_schema=False)
def associations(rest: str) -> Response:
    """Newer clients ask for topic associations first and fall back to subject names on a 404."""
    raise SchemaRegistryError(404, 40401, "associations are not kept by this registry")

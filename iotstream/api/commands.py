"""`POST /api/v1/commands` (a command to a device, answered with its ticket) and `GET` of where it stands.

The command waits in the catalog; the `mqtt` role delivers it to `iotstream/<device>/commands`, the
`lwm2m` role to a device registered with the LwM2M server (as a CoAP request, when a device in queue
mode next wakes), and a command with a `site` travels through the relay to that site instead.
`GET /api/v1/commands/{ticket}` follows it: queued, sent, delivered, then succeeded (with the
device's `value`), failed (with its `error`) or expired.
"""

from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from iotstream._units import parse_duration_ms
from iotstream.api._http import iso, json_response
from iotstream.api.access import principal_of
from iotstream.api.openapi import problem
from iotstream.api.services import Services
from iotstream.registry.access import OPEN, Principal, Scope, ScopeError
from iotstream.relay.command_rules import (
    MAX_TIMEOUT_MS,
    ActionName,
    Command,
    InvalidCommandError,
    StateName,
)
from iotstream.relay.commands import CommandStore

__all__ = ["command_document", "router"]

router = APIRouter(prefix="/api/v1", tags=["commands"])
DEFAULT_TIMEOUT = "30s"
_FIELDS = ("device", "action", "path", "value", "timeout", "site")


# The OpenAPI document's view of the body: the route checks it itself, so that each refusal names its
# field in one sentence (pydantic's would be a list of error objects).
class CommandRequest(BaseModel):
    """A command to a device."""

    device: str = Field(description="The device's id: one MQTT topic level (no '/', '+', '#')")
    action: ActionName
    path: str = Field(description='What on the device, e.g. the LwM2M path "/3311/0/5850"')
    value: Any = Field(
        default=None,
        description="Required for write, write-attributes and create; optional for execute (its arguments);"
        " none for read, discover and delete",
    )
    timeout: str = Field(
        default=DEFAULT_TIMEOUT, description='A duration such as "250ms", "30s", "5m"; at most 1d'
    )
    site: str | None = Field(default=None, description="The edge site the device belongs to; none: this one")


_EXAMPLE = {"device": "pump-1", "action": "write", "path": "/3311/0/5850", "value": True, "timeout": "30s"}


@router.post(
    "/commands",
    status_code=202,
    summary="Send a command to a device; answered with its ticket at once",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": CommandRequest.model_json_schema(), "example": _EXAMPLE}
            },
            "required": True,
        }
    },
    responses={
        202: {"description": '`{"ticket": "..."}`; `Location` is where the command can be followed'},
        400: {"description": "The body is not a JSON object"},
        422: {"description": "A field is missing or unusable; the message names it"},
    },
)
async def post_command(request: Request) -> Response:
    """A tenant commands its own devices (by the names they have in its namespace); commands through
    edge sites are an operator's."""
    store, principal = _store(request), principal_of(request)
    body = _body(await request.body())
    timeout_ms = _timeout_ms(body.get("timeout", DEFAULT_TIMEOUT))
    site = await run_in_threadpool(_site, request.app.state.services, body.get("site"))
    if site is not None and not (principal.operator or principal.everything):
        raise HTTPException(403, f"{principal} may not command devices of edge sites: that is an operator's")
    device = _device_key(principal, body["device"])
    try:
        command = await run_in_threadpool(
            store.create, device, body["action"], body["path"], body.get("value"), timeout_ms, site
        )
    except InvalidCommandError as err:
        raise HTTPException(422, str(err)) from err
    location = f"/api/v1/commands/{command.ticket}"
    return json_response({"ticket": command.ticket}, 202, {"Location": location})


@router.get(
    "/commands/{ticket}",
    summary="Where a command stands, with the device's answer once it came",
    responses={404: problem("No command has this ticket")},
)
def get_command(request: Request, ticket: str) -> Response:
    command = _store(request).get(ticket)
    scope = principal_of(request).scope
    if command is None or scope.name(command.device) is None:
        raise HTTPException(404, f"no command with ticket {ticket!r}")
    return json_response(command_document(command, scope))


@router.get("/commands", summary="Commands, newest first")
def list_commands(
    request: Request,
    device: str | None = None,
    site: str | None = None,
    state: Annotated[StateName | None, Query(description="Only commands in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
) -> Response:
    principal = principal_of(request)
    key = None if device is None else _device_key(principal, device)
    tenant = None if principal.everything else principal.tenant
    commands = _store(request).list(device=key, site=site, state=state, limit=limit, tenant=tenant)
    return json_response([command_document(command, principal.scope) for command in commands])


def _device_key(principal: Principal, device: Any) -> Any:
    """A device as its tenant names it, under the tenant's key (`@acme/pump-1`), as MQTT reaches it."""
    if principal.system is not None:
        raise HTTPException(403, f"{principal} is confined to a system; devices belong to a whole tenant")
    if not isinstance(device, str) or principal.everything:
        return device  # the store says what is wrong with it
    try:
        return principal.scope.key(device)
    except ScopeError as err:
        raise HTTPException(422, f"'device': {err}") from None


def command_document(command: Command, scope: Scope = OPEN.scope) -> dict[str, Any]:
    """A command as the API shows it, its device named as the caller's tenant does; times in ISO-8601."""
    asked: dict[str, Any] = {"action": command.action, "path": command.path}
    if command.value is not None:
        asked["value"] = command.value
    document: dict[str, Any] = {
        "ticket": command.ticket,
        "state": command.state,
        "site": command.site,
        "device": scope.name(command.device) or command.device,
        "transport": command.transport,
        "command": asked,
    }
    if command.result is not None:
        document["value"] = command.result
    if command.error is not None:
        document["error"] = command.error
    return document | {
        "created": iso(command.created_ms),
        "expires": iso(command.expires_ms),
        "updated": iso(command.updated_ms),
    }


def _site(services: Services, site: Any) -> str | None:
    """None for this platform's own devices; else an edge site that relays here (its commands go back
    through its relay)."""
    if site is None or site == services.settings.site:
        return None
    if not isinstance(site, str) or not site:
        raise HTTPException(422, f"'site' must be a non-empty string or absent; got {site!r}")
    known = [] if services.relay_receiver is None else [s.site for s in services.relay_receiver.sites()]
    if site not in known:
        sites = ", ".join(known) or "none"
        raise HTTPException(422, f"'site': no site {site!r} relays to this platform (sites: {sites})")
    return site


def _store(request: Request) -> CommandStore:
    services: Services = request.app.state.services
    store = services.commands
    if store is None:
        raise HTTPException(
            503, "commands need the catalog ([registry] url), which this process has not opened"
        )
    return store


def _body(raw: bytes) -> dict[str, Any]:
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError as err:
        raise HTTPException(400, f"the body is not JSON: {err}") from err
    if not isinstance(body, dict):
        raise HTTPException(400, f"the body must be a JSON object with the fields {', '.join(_FIELDS)}")
    unknown = [name for name in body if name not in _FIELDS]
    if unknown:
        raise HTTPException(422, f"unknown field {unknown[0]!r}; the fields are {', '.join(_FIELDS)}")
    for name in ("device", "action", "path"):
        if name not in body:
            raise HTTPException(422, f"{name!r} is required")
    return body


def _timeout_ms(raw: Any) -> int:
    if not isinstance(raw, str):
        raise HTTPException(422, f"'timeout' must be a duration such as \"30s\"; got {raw!r}")
    try:
        timeout_ms = parse_duration_ms(raw)
    except ValueError as err:
        raise HTTPException(422, f"'timeout': {err}") from err
    if not 0 < timeout_ms <= MAX_TIMEOUT_MS:
        raise HTTPException(422, f"'timeout' must be more than 0 and at most 1d; got {raw!r}")
    return timeout_ms

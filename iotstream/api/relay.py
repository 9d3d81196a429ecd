"""Sites over HTTP: the endpoint edge sites relay to (`POST /api/v1/relay/{site}`), what the central
site knows of them (`GET /api/v1/sites`), and an edge site's view of its link (`GET /api/v1/relay`)."""

import asyncio
import hmac
import time
from typing import Annotated

import msgspec
from fastapi import APIRouter, Header, HTTPException, Path, Request, Response
from pydantic import SecretStr
from sqlalchemy.exc import SQLAlchemyError

from iotstream.api._http import json_response
from iotstream.api.services import Services
from iotstream.log.exceptions import LogError
from iotstream.relay.channel import SiteCommands, SiteReport, apply_report, wait_for_commands
from iotstream.relay.config import SITE_NAME
from iotstream.relay.receiver import RelayReceiver, SiteMismatchError
from iotstream.relay.wire import MEDIA_TYPE, decode_batch

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["sites"])
_report_decoder = msgspec.json.Decoder(SiteReport)

SiteName = Annotated[str, Path(pattern=SITE_NAME.pattern, description="The edge site's `site` name")]


@router.post(
    "/relay/{site}",
    summary="Take a batch an edge site relays (its relay role calls this)",
    openapi_extra={"requestBody": {"content": {MEDIA_TYPE: {}}, "required": True}},
    responses={
        200: {"description": '`{"cursors": [{"topic", "partition", "offset"}], "accepted": n}`'},
        400: {"description": "The body is not a relay batch"},
        401: {"description": "[sites] token is set and the request does not carry it"},
        404: {"description": "This platform takes no relayed data (no catalog)"},
        409: {"description": "The batch comes from another log than the site's earlier ones"},
        413: {"description": "The batch is larger than [ingest] max_body_bytes"},
        503: {"description": "The central log did not take the batch; the edge retries"},
    },
)
async def post_relay(
    request: Request,
    site: SiteName,
    content_encoding: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> Response:
    services: Services = request.app.state.services
    receiver = _receiver(services)
    _check_token(services.settings.sites.token, authorization)
    limit = services.settings.ingest.max_body_bytes
    if int(request.headers.get("content-length") or 0) > limit:
        raise HTTPException(
            413, f"batch larger than [ingest] max_body_bytes = {limit} bytes; lower [relay] batch_records"
        )
    try:
        batch = decode_batch(await request.body(), content_encoding)
    except ValueError as err:
        raise HTTPException(400, str(err)) from err
    try:
        answer = await asyncio.to_thread(receiver.receive, site, batch)
    except SiteMismatchError as err:
        raise HTTPException(409, str(err)) from err
    except (LogError, SQLAlchemyError, TimeoutError) as err:
        detail = f"the central site did not take the batch: {type(err).__name__}: {err}"
        return json_response({"detail": detail}, 503, {"Retry-After": "1"})
    return json_response(answer)


@router.post(
    "/relay/{site}/commands",
    summary="An edge site's reverse channel: its command states up, its queued commands down",
    openapi_extra={"requestBody": {"content": {"application/json": {}}, "required": True}},
    responses={
        200: {
            "description": '`{"commands": [{"ticket", "device", "action", "path", "value"?, "expires_ms"}]}`'
        },
        400: {"description": "The body is not a site report"},
        401: {"description": "[sites] token is set and the request does not carry it"},
    },
)
async def post_site_commands(
    request: Request, site: SiteName, authorization: Annotated[str | None, Header()] = None
) -> Response:
    """Held open up to the report's `wait_s` (at most 10 s) while the site has no queued command."""
    services: Services = request.app.state.services
    _check_token(services.settings.sites.token, authorization)
    store = services.commands
    if store is None:
        raise HTTPException(
            503, "commands need the catalog ([registry] url), which this process has not opened"
        )
    try:
        report = _report_decoder.decode(await request.body())
    except msgspec.DecodeError as err:
        raise HTTPException(400, f"body is not a site report: {err}") from err
    await asyncio.to_thread(apply_report, store, site, report)
    return json_response(SiteCommands(await wait_for_commands(store, site, report.wait_s)))


@router.get("/sites", summary="The edge sites that relay to this one, and how far behind each is")
def get_sites(request: Request) -> Response:
    receiver = _receiver(request.app.state.services)
    now_ms = time.time_ns() // 1_000_000
    return json_response([status.view(now_ms) for status in receiver.sites()])


@router.delete(
    "/sites/{site}",
    status_code=204,
    summary="Forget a site: its cursors and status (so a site whose log was replaced can start afresh)",
    responses={404: {"description": "No such site relays here"}},
)
def delete_site(request: Request, site: SiteName) -> Response:
    if not _receiver(request.app.state.services).forget(site):
        raise HTTPException(404, f"no site {site!r} relays to this platform")
    return Response(status_code=204)


@router.get(
    "/relay",
    summary="This edge site's link to the central site",
    responses={404: {"description": "This platform relays nothing ([relay] to is not set)"}},
)
def get_relay(request: Request) -> Response:
    services: Services = request.app.state.services
    status = services.stats().get("relay")
    if status is None:
        raise HTTPException(
            404, "this platform relays nothing: [relay] to is not set (or no relay role runs here)"
        )
    return json_response(status)


def _receiver(services: Services) -> RelayReceiver:
    if services.relay_receiver is None:
        raise HTTPException(404, "this platform takes no relayed data: it has no registry catalog")
    return services.relay_receiver


def _check_token(expected: SecretStr | None, authorization: str | None) -> None:
    if expected is None:
        return
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
        raise HTTPException(401, "relaying here needs [sites] token as `Authorization: Bearer <token>`")

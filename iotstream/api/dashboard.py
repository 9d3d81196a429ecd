"""The web dashboard: static files under `/ui` (plain ES modules and a vendored uPlot, no build step),
the one request that fills its overview, and a WebSocket that pushes pipeline health every second.

The overview is a single query for every datastream at once (latest value plus a day of hourly
averages), so the first paint stays fast with thousands of datastreams.
"""

import asyncio
import time
from pathlib import Path

import msgspec
from fastapi import APIRouter, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from iotstream.api._http import json_response
from iotstream.api.access import principal_of
from iotstream.api.queries import datastream_list, job_list
from iotstream.api.services import Services

__all__ = ["STATIC", "router", "static_files"]

STATIC = Path(__file__).parent / "static"
SPARK_SPAN_MS = 86_400_000
HEALTH_EVERY_S = 1.0

router = APIRouter(tags=["dashboard"])


def static_files() -> StaticFiles:
    return StaticFiles(directory=STATIC, html=True)


@router.get("/", include_in_schema=False)
def index() -> RedirectResponse:
    return RedirectResponse("/ui/")


@router.get("/api/v1/overview", summary="Every datastream with its latest value and a day of hourly averages")
def overview(request: Request) -> Response:
    """`spark` holds the hourly averages of the day before each datastream's own latest reading, so one
    that went quiet still shows its last day."""
    services: Services = request.app.state.services
    principal = principal_of(request)
    scope = principal.scope
    recent = services.storage.recent_averages("1h", SPARK_SPAN_MS)
    sparks = {name: recent[key] for key, name in scope.visible_keys(set(recent)).items()}
    rows = [row | {"spark": sparks.get(row["key"], [])} for row in datastream_list(services, scope)]
    return json_response({"datastreams": rows, "jobs": job_list(services, principal)})


@router.websocket("/api/v1/live/health")
async def health(websocket: WebSocket) -> None:
    """The counters of `GET /api/v1/stats`, pushed every second with the server's time (`now_ms`), so a
    page derives rates without polling."""
    services: Services = websocket.app.state.services
    await websocket.accept()
    gone = asyncio.ensure_future(websocket.receive())
    try:
        while not gone.done():
            stats = await asyncio.to_thread(services.stats)
            stats["now_ms"] = int(time.time() * 1000)
            await websocket.send_text(msgspec.json.encode(stats).decode())
            await asyncio.wait({gone}, timeout=HEALTH_EVERY_S)
    except WebSocketDisconnect:
        return
    finally:
        gone.cancel()

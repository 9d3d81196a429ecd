"""The HTTP API: `create_app(services)` builds it; `iotstream up` serves `serve(services)` with uvicorn.

OpenAPI docs are at `/docs`. Errors are JSON `{"detail": "..."}` with a 4xx status that says what to
fix; a 503 carries `Retry-After`.
"""

import time

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from iotstream import __version__
from iotstream.api import (
    admin,
    apps,
    commands,
    dashboard,
    export,
    grafana,
    health,
    live,
    login,
    metrics,
    queries,
    readings,
    recompute,
    relay,
    schema_registry,
)
from iotstream.api._http import json_response
from iotstream.api.fast_readings import ReadingsFastPath
from iotstream.api.gate import PUBLIC, AccessGate
from iotstream.api.openapi import Shape
from iotstream.api.openapi import install as complete_openapi
from iotstream.api.services import Services
from iotstream.exceptions import IotStreamError
from iotstream.registry.schemas.store import SchemaRegistryError
from iotstream.registry.sensorthings import routes as sensorthings
from iotstream.registry.sensorthings.errors import StaError

__all__ = ["ROUTERS", "create_app", "serve"]

ROUTERS = [
    readings.router,
    queries.router,
    export.router,
    recompute.router,
    apps.router,
    commands.router,
    relay.router,
    admin.router,
    login.router,
    metrics.router,
    health.router,
    live.router,
    grafana.router,
    schema_registry.router,
    dashboard.router,
    sensorthings.router,
]


class ServerTiming:
    """Adds `Server-Timing: app;dur=MS` to every HTTP response: the time from the request to its response
    headers, which browsers' developer tools show and the dashboard benchmark reports."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()

        async def send_timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                timing = f"app;dur={(time.perf_counter() - began) * 1000:.2f}".encode()
                message = {**message, "headers": [*message.get("headers", []), (b"server-timing", timing)]}
            await send(message)

        await self.app(scope, receive, send_timed)


async def _unavailable(_request: Request, err: Exception) -> Response:
    """A platform error that the same request may not meet later (a full disk, a database gone)."""
    if not (isinstance(err, IotStreamError) and err.retriable):
        raise err
    return json_response({"detail": str(err)}, 503, {"Retry-After": "1"})


def create_app(services: Services) -> FastAPI:
    app = FastAPI(
        title="iotstream",
        version=__version__,
        description="Open IoT live streaming: send readings; query raw data, window results, late readings.",
        max_body_size=services.settings.ingest.max_body_bytes,  # every route: 413 beyond it
    )
    app.state.services = services
    app.state.metrics = metrics.registry_for(services.stats, services.metric_labels)
    app.state.live = services.live
    app.state.sensorthings = services.sensorthings
    app.state.problems = services.problems
    origins = services.settings.api.cors_origins
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["*"], allow_headers=["*"])
    for router in ROUTERS:
        app.include_router(router)
    shapes: dict[str, Shape] = {
        "/v1.1/": sensorthings.error_shape,
        "/schema-registry/": schema_registry.error_shape,
    }
    complete_openapi(app, gated=services.access is not None, public=set(PUBLIC), shapes=shapes)
    app.add_exception_handler(IotStreamError, _unavailable)
    app.add_exception_handler(StaError, sensorthings.error_response)
    app.add_exception_handler(SchemaRegistryError, schema_registry.error_response)
    app.mount("/ui", dashboard.static_files(), name="ui")
    return app


def serve(services: Services) -> ASGIApp:
    """What the server runs: the app behind the fast path for readings (unless CORS must see them),
    behind the access gate when `[auth] enabled`, every answer timed."""
    app = create_app(services)
    inner: ASGIApp = app if services.settings.api.cors_origins else ReadingsFastPath(app, services)
    access = services.access
    if access is not None:
        inner = AccessGate(inner, access.verifier, access.store, access.settings)
    return ServerTiming(inner)

"""The HTTP API: `create_app(services)` builds it; `iotstream up` serves it with uvicorn.

OpenAPI docs are at `/docs`. Errors are JSON `{"detail": "..."}` with a 4xx status that says what to
fix; a 503 carries `Retry-After`.
"""

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from iotstream import __version__
from iotstream.api import dashboard, grafana, live, metrics, queries, readings
from iotstream.api.services import Services

__all__ = ["create_app"]


def create_app(services: Services) -> FastAPI:
    app = FastAPI(
        title="iotstream",
        version=__version__,
        description="Open IoT live streaming: send readings; query raw data, window results, late readings.",
    )
    app.state.services = services
    app.state.metrics = metrics.registry_for(services.stats)
    app.state.live = services.live
    origins = services.settings.api.cors_origins
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["*"], allow_headers=["*"])
    app.include_router(readings.router)
    app.include_router(queries.router)
    app.include_router(metrics.router)
    app.include_router(live.router)
    app.include_router(grafana.router)
    app.include_router(dashboard.router)
    app.mount("/ui", dashboard.static_files(), name="ui")
    return app

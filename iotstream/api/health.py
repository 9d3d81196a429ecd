"""`GET /healthz` (the process works) and `GET /readyz` (and can reach what it needs), on every
process: in the API, and on a small listener of its own in a process without the API (which also
serves that process's `/metrics` and `/api/v1/stats`).

Load balancers and Kubernetes probes read the status code: 200 when nothing is wrong, 503 with the
problems otherwise. Liveness covers the roles' own loops; readiness adds the log, the store and the
catalog the process opened, each asked a trivial question.
"""

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from iotstream import __version__
from iotstream.api import metrics
from iotstream.api._http import json_response

__all__ = ["Problems", "health_app", "router"]

Problems = Callable[[bool], list[str]]  # ready=True adds what the process connects to

router = APIRouter(tags=["health"])
_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": '`{"status": "ok"}`'},
    503: {"description": '`{"status": "failing", "problems": ["sink: iotstream-sink stopped", ...]}`'},
}


@router.get("/healthz", summary="Whether this process's roles are working", responses=_ANSWERS)
def healthz(request: Request) -> JSONResponse:
    return _answer(request.app.state.problems(False))


@router.get("/readyz", summary="Whether it also reaches its log, store and catalog", responses=_ANSWERS)
def readyz(request: Request) -> JSONResponse:
    return _answer(request.app.state.problems(True))


def _answer(problems: list[str]) -> JSONResponse:
    if problems:
        return JSONResponse({"status": "failing", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ok"})


def health_app(
    problems: Problems, stats: Callable[[], dict[str, Any]], metric_labels: dict[str, str]
) -> FastAPI:
    """What a process without the API serves: health, readiness, its Prometheus metrics and its
    counters."""
    app = FastAPI(title="iotstream (health)", version=__version__)
    app.state.problems = problems
    app.state.metrics = metrics.registry_for(stats, metric_labels)
    app.include_router(router)
    app.include_router(metrics.router)

    @app.get("/api/v1/stats", summary="Counters of this process's roles, as the API serves its own")
    def get_stats() -> Response:
        return json_response(stats())

    return app

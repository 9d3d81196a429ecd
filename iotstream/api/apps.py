"""Stream apps: SQL over the tenant's readings, run by the `jobs` role, written back as datastreams.

`POST /api/v1/apps` checks the SQL before it stores the app (a 400 names the construct and its
position); the `jobs` role starts it within a second and reports its counters, watermark and lag,
which `GET /api/v1/apps/{name}` shows. An app's output is the datastreams `apps/<name>/…`; with
`share_with`, other tenants read them as `@<owner>/apps/<name>/…` — and nothing else of the owner.
"""

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from iotstream._units import DurationMs
from iotstream.api._http import json_response
from iotstream.api.access import principal_of
from iotstream.api.services import Services
from iotstream.processing.apps import AppSpec, SqlError, app_job
from iotstream.registry.access import Principal
from iotstream.registry.apps.store import AppError, AppInfo, AppStore

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/apps", tags=["apps"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "SQL an app cannot run (`detail`, with `line` and `column`), or a bad name"},
    403: {"description": "The caller's role (or its system scope) may not do this"},
    404: {"description": "No such app of the caller's tenant"},
    409: {"description": "An app of that name exists, or it is declared in iotstream.toml"},
}


class NewApp(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Its datastreams are apps/<name>/…")
    sql: str = Field(description="One SELECT over `readings`, e.g. SELECT * FROM readings WHERE value > 4")
    share_with: list[str] = Field(default_factory=list, description="Tenants that may read the output")
    out_of_orderness: Annotated[DurationMs, Field(ge=0)] = 0
    allowed_lateness: Annotated[DurationMs, Field(ge=0)] = 0


class AppChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    paused: bool | None = None
    share_with: list[str] | None = Field(default=None, description="Replaces the tenants it is shared with")


@router.post("", status_code=201, summary="Create and start a stream app", responses=_ERRORS)
def create_app(request: Request, body: NewApp) -> Response:
    store, principal = _store(request), principal_of(request)
    _whole_tenant(principal)
    spec = AppSpec(principal.tenant, body.name, body.sql, body.out_of_orderness, body.allowed_lateness)
    try:
        app_job(spec)
    except SqlError as err:
        return json_response({"detail": str(err), "line": err.line, "column": err.column}, 400)
    timing = {"out_of_orderness_ms": body.out_of_orderness, "allowed_lateness_ms": body.allowed_lateness}
    info = _run(
        store.create,
        principal.tenant,
        body.name,
        body.sql,
        actor=str(principal),
        share_with=body.share_with,
        **timing,
    )
    return json_response(_document(info), 201)


@router.get("", summary="The caller's tenant's apps, with their status")
def list_apps(request: Request) -> Response:
    store, principal = _store(request), principal_of(request)
    return json_response([_document(info) for info in store.apps(principal.tenant)])


@router.get("/{name}", summary="One app: its SQL, shares and status", responses=_ERRORS)
def get_app(request: Request, name: str) -> Response:
    store, principal = _store(request), principal_of(request)
    return json_response(_document(_run(store.app, principal.tenant, name)))


@router.patch("/{name}", summary="Pause or resume an app, or change whom it shares with", responses=_ERRORS)
def change_app(request: Request, name: str, body: AppChange) -> Response:
    store, principal = _store(request), principal_of(request)
    _whole_tenant(principal)
    info = _run(store.app, principal.tenant, name)
    if body.share_with is not None:
        info = _run(store.share, principal.tenant, name, body.share_with, actor=str(principal))
    if body.paused is not None and body.paused != info.paused:
        info = _run(store.pause, principal.tenant, name, body.paused, actor=str(principal))
    return json_response(_document(info))


@router.post("/{name}/pause", summary="Pause an app (it keeps its state and position)", responses=_ERRORS)
def pause_app(request: Request, name: str) -> Response:
    store, principal = _store(request), principal_of(request)
    _whole_tenant(principal)
    return json_response(_document(_run(store.pause, principal.tenant, name, True, actor=str(principal))))


@router.post("/{name}/resume", summary="Resume a paused app where it stopped", responses=_ERRORS)
def resume_app(request: Request, name: str) -> Response:
    store, principal = _store(request), principal_of(request)
    _whole_tenant(principal)
    return json_response(_document(_run(store.pause, principal.tenant, name, False, actor=str(principal))))


@router.delete(
    "/{name}", status_code=204, summary="Stop and delete an app (its stored output stays)", responses=_ERRORS
)
def delete_app(request: Request, name: str) -> Response:
    store, principal = _store(request), principal_of(request)
    _whole_tenant(principal)
    _run(store.delete, principal.tenant, name, actor=str(principal))
    return Response(status_code=204)


def _document(info: AppInfo) -> dict[str, Any]:
    spec = AppSpec(info.tenant, info.name, info.sql)
    status = info.status or {}
    return {
        "name": info.name,
        "sql": info.sql,
        "share_with": info.share_with,
        "out_of_orderness_ms": info.out_of_orderness_ms,
        "allowed_lateness_ms": info.allowed_lateness_ms,
        "state": _state(info),
        "declared": info.declared,
        "outputs": f"apps/{info.name}/",
        "job": spec.job_name,
        "created_ms": info.created_ms,
        "status": {**status, "reported_ms": info.status_ms},
    }


def _state(info: AppInfo) -> str:
    """paused, starting (not reported by the jobs role yet), failed (it could not start) or running."""
    if info.paused:
        return "paused"
    if info.status_ms is None:
        return "starting"
    return "failed" if (info.status or {}).get("error") else "running"


def _store(request: Request) -> AppStore:
    services: Services = request.app.state.services
    if services.apps is None:
        raise HTTPException(404, "this process has no catalog ([registry] url): no stream apps here")
    return services.apps


def _whole_tenant(principal: Principal) -> None:
    """An app reads all of its tenant's readings, so a token scoped to one system may not run one."""
    if principal.system is not None:
        raise HTTPException(
            403, f"{principal} is scoped to system {principal.system!r}: apps read the whole tenant"
        )


def _run(call: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except AppError as err:
        raise HTTPException(err.status, str(err)) from None

"""The admin API: tenants, systems, tokens, users and the audit trail, as the CLI offers them.

An operator (an admin of the default tenant) manages every tenant; a tenant's admin manages its own
(a system's admin, that system's tokens), and another tenant is a 404 to them, as if it did not exist.
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from iotstream._units import parse_duration_ms
from iotstream.api._http import json_response
from iotstream.api.access import principal_of
from iotstream.api.services import Services
from iotstream.registry.access import AccessError, AccessStore, Principal, Role

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "A name, role or lifetime that cannot be used"},
    403: {"description": "The caller's role may not do this"},
    404: {"description": "No such tenant, system or token (or not the caller's)"},
    409: {"description": "It exists already"},
}


RoleName = Literal["reader", "writer", "admin"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewTenant(_Body):
    name: str
    max_readings_per_s: Annotated[float | None, Field(gt=0)] = None
    max_datastreams: Annotated[int | None, Field(ge=0)] = None


class NewSystem(_Body):
    name: str


class NewToken(_Body):
    tenant: str | None = None  # the caller's own when not given
    role: RoleName
    system: str | None = None
    expires: str | None = Field(default=None, description='A lifetime such as "30d"; none: until revoked')
    description: str = ""


class NewUser(_Body):
    name: str
    password: SecretStr
    tenant: str | None = None
    role: RoleName
    system: str | None = None


@router.get("/tenants", summary="Tenants: every one for an operator, else the caller's")
def list_tenants(request: Request) -> Response:
    store, principal = _store(request), principal_of(request)
    if principal.operator:
        return json_response(store.tenants())
    return json_response([_run(store.tenant, principal.tenant)])


@router.post("/tenants", status_code=201, summary="Create a tenant (operators only)", responses=_ERRORS)
def create_tenant(request: Request, body: NewTenant) -> Response:
    store, principal = _store(request), principal_of(request)
    if not principal.operator:
        raise HTTPException(403, f"{principal} may not create tenants: only an admin of the default tenant")
    limits = {"max_readings_per_s": body.max_readings_per_s, "max_datastreams": body.max_datastreams}
    return json_response(_run(store.create_tenant, body.name, actor=str(principal), **limits), 201)


@router.get("/tenants/{tenant}/systems", summary="A tenant's systems", responses=_ERRORS)
def list_systems(request: Request, tenant: str) -> Response:
    store = _store(request)
    _own(principal_of(request), tenant)
    return json_response(_run(store.systems, tenant))


@router.post("/tenants/{tenant}/systems", status_code=201, summary="Create a system", responses=_ERRORS)
def create_system(request: Request, tenant: str, body: NewSystem) -> Response:
    store, principal = _store(request), principal_of(request)
    _own(principal, tenant, whole=True)
    return json_response(_run(store.create_system, tenant, body.name, actor=str(principal)), 201)


@router.get("/tokens", summary="Tokens (never their secrets)", responses=_ERRORS)
def list_tokens(request: Request, tenant: Annotated[str | None, Query()] = None) -> Response:
    store, principal = _store(request), principal_of(request)
    if not principal.operator:
        tenant = _own(principal, tenant or principal.tenant)
    tokens = _run(store.tokens, tenant)
    if principal.system is not None:
        tokens = [t for t in tokens if t.system == principal.system]
    return json_response([t.document() for t in tokens])


@router.post(
    "/tokens",
    status_code=201,
    summary="Create a token; the answer is the only time it is shown",
    responses=_ERRORS,
)
def create_token(request: Request, body: NewToken) -> Response:
    store, principal = _store(request), principal_of(request)
    tenant = _own(principal, body.tenant or principal.tenant)
    system = _system(principal, body.system)
    lifetime = None if body.expires is None else _lifetime(body.expires)
    info, token = _run(
        store.create_token,
        tenant,
        Role[body.role],
        actor=str(principal),
        system=system,
        expires_in_ms=lifetime,
        description=body.description,
    )
    return json_response(info.document() | {"token": token}, 201)


@router.delete("/tokens/{token_id}", summary="Revoke a token: refused at once, everywhere", responses=_ERRORS)
def revoke_token(request: Request, token_id: str) -> Response:
    store, principal = _store(request), principal_of(request)
    tenant = None if principal.operator else principal.tenant
    if principal.system is not None:
        mine = {t.id for t in _run(store.tokens, principal.tenant) if t.system == principal.system}
        if token_id not in mine:
            raise HTTPException(404, f"no token {token_id!r}")
    info = _run(store.revoke_token, token_id, actor=str(principal), tenant=tenant)
    return json_response(info.document())


@router.post("/users", status_code=201, summary="Create a dashboard user", responses=_ERRORS)
def create_user(request: Request, body: NewUser) -> Response:
    store, principal = _store(request), principal_of(request)
    tenant = _own(principal, body.tenant or principal.tenant)
    system = _system(principal, body.system)
    password, role = body.password.get_secret_value(), Role[body.role]
    user = _run(store.create_user, body.name, password, tenant, role, actor=str(principal), system=system)
    return json_response(user, 201)


@router.get("/audit", summary="Administrative actions, newest first", responses=_ERRORS)
def audit(
    request: Request,
    tenant: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> Response:
    store, principal = _store(request), principal_of(request)
    if not principal.operator:
        tenant = _own(principal, tenant or principal.tenant, whole=True)
    return json_response(store.audit(tenant, limit))


def _store(request: Request) -> AccessStore:
    services: Services = request.app.state.services
    if services.access_store is None:
        raise HTTPException(404, "this process has no catalog ([registry] url): no tenants or tokens here")
    principal = principal_of(request)
    if not principal.may(Role.admin):
        raise HTTPException(403, f"{principal} may not manage access: it needs the admin role")
    return services.access_store


def _own(principal: Principal, tenant: str, *, whole: bool = False) -> str:
    """`tenant` when the caller may manage it (`whole`: all of it, not one system), else a 404."""
    if principal.operator:
        return tenant
    if tenant != principal.tenant:
        raise HTTPException(404, f"no tenant {tenant!r}")
    if whole and principal.system is not None:
        raise HTTPException(403, f"{principal} manages only system {principal.system!r}")
    return tenant


def _system(principal: Principal, system: str | None) -> str | None:
    if principal.system is None or system == principal.system:
        return system
    if system is None:
        return principal.system  # a system's admin makes tokens of its system
    raise HTTPException(404, f"no system {system!r}")


def _lifetime(text: str) -> int:
    try:
        return parse_duration_ms(text)
    except ValueError as err:
        raise HTTPException(400, f"'expires': {err}") from None


def _run(call: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except AccessError as err:
        raise HTTPException(err.status, str(err)) from None

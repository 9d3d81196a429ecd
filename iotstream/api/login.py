"""The dashboard's login: a user's name and password become a session token in an HttpOnly,
SameSite=Strict cookie, which the gate takes like a bearer token. `GET /api/v1/whoami` tells a page
(or a script) who it is signed in as."""

from typing import Any
from urllib.parse import parse_qs

import msgspec
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from iotstream.api._http import json_response
from iotstream.api.access import principal_of
from iotstream.api.gate import SESSION_COOKIE
from iotstream.api.openapi import problem
from iotstream.api.services import Services
from iotstream.registry.access.secrets import split_token

__all__ = ["router"]

router = APIRouter(tags=["access"])


@router.post(
    "/login",
    summary="Log in with a user's name and password: a session cookie",
    responses={
        303: {"description": "A form's login: to the dashboard, or back to the page on failure"},
        400: problem("No 'username' and 'password' text in a form or JSON object"),
        401: problem("A JSON login with a wrong user name or password"),
        404: problem("Access control is off: nobody logs in"),
    },
)
async def login(request: Request) -> Response:
    """Takes a form (`username`, `password`; answered with a redirect, as the login page expects) or a
    JSON object with the same fields (answered with JSON). Either way the session is an HttpOnly,
    SameSite=Strict cookie that expires after `[auth] session_ttl`."""
    services: Services = request.app.state.services
    access = services.access
    if access is None:
        raise HTTPException(404, "access control is off ([auth] enabled = false): nobody needs to log in")
    is_form = request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
    fields = _fields(await request.body(), is_form)
    name, password = fields.get("username"), fields.get("password")
    if not isinstance(name, str) or not isinstance(password, str):
        raise HTTPException(400, "'username' and 'password' are needed, as text")
    session = await run_in_threadpool(access.store.login, name, password, access.settings.session_ttl)
    if session is None:
        if is_form:
            return RedirectResponse("/ui/login.html?failed=1", 303)
        raise HTTPException(401, "wrong user name or password")
    token, info = session
    answer: Response = RedirectResponse("/ui/", 303) if is_form else json_response(info.document())
    answer.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=access.settings.session_ttl // 1000,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return answer


@router.post(
    "/logout",
    summary="End the session of the cookie",
    status_code=303,
    response_class=RedirectResponse,
    responses={303: {"description": "To the login page", "content": {}}},
)
def logout(request: Request) -> Response:
    services: Services = request.app.state.services
    token = request.cookies.get(SESSION_COOKIE)
    parts = None if token is None else split_token(token)
    if services.access is not None and token is not None and parts is not None:
        principal = services.access.verifier.verify(token)
        if principal is not None:
            services.access.store.revoke_token(parts[0], actor=str(principal))
    answer = RedirectResponse("/ui/login.html", 303)
    answer.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
    return answer


@router.get("/api/v1/whoami", summary="Who the request's credentials are")
def whoami(request: Request) -> Response:
    principal = principal_of(request)
    services: Services = request.app.state.services
    return json_response(
        {
            "auth": services.access is not None,
            "tenant": principal.tenant,
            "system": principal.system,
            "role": str(principal.role),
            "user": principal.user,
            "token": principal.token_id,
            "operator": principal.operator,
        }
    )


def _fields(body: bytes, is_form: bool) -> dict[str, Any]:
    if is_form:
        return {name: values[-1] for name, values in parse_qs(body.decode("utf-8", "replace")).items()}
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError as err:
        raise HTTPException(400, f"body is neither a form nor JSON: {err}") from None
    if not isinstance(document, dict):
        raise HTTPException(400, "body must be a JSON object with 'username' and 'password'")
    return document

"""The door every HTTP request and WebSocket passes with `[auth] enabled`: who is asking, and may their
role do this at all. Which data they then see is each route's business, through the principal's scope.

Credentials, in the order they are looked for: `Authorization: Bearer <token>`; `Authorization: Basic`
(Grafana's basic auth) with a token as the password or a user's name and password; the dashboard's
session cookie. Tokens in URLs are not taken: they end up in logs and browser histories.

The role a request needs follows from its path and method, in one table (`required`), so a new route
is protected before anyone thinks of it: reads need `reader`, changes `writer`, the admin API `admin`,
the platform's own surfaces (/metrics, the relay between sites) an operator (an admin of the default
tenant). Liveness and readiness probes and the login page need nothing.
"""

import asyncio
import base64
import binascii
import hashlib
import hmac
import re
import threading
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Literal

import msgspec
from starlette.types import ASGIApp, Receive, Scope, Send

from iotstream.registry.access import AccessStore, Principal, Role, TokenVerifier
from iotstream.registry.access.config import AuthSettings

__all__ = ["PRINCIPAL", "PUBLIC", "SESSION_COOKIE", "AccessGate", "Need", "required"]

PRINCIPAL = "iotstream.principal"  # the key of the principal in the ASGI scope
SESSION_COOKIE = "iotstream_session"
PUBLIC = frozenset({"/healthz", "/readyz", "/login", "/logout", "/ui/login.html", "/ui/app.css"})
_PAGES = ("/", "/ui", "/ui/")  # a browser without a session is sent to the login page
_READS = frozenset({"GET", "HEAD"})
_OPERATORS = ("/api/v1/relay", "/api/v1/sites", "/api/v1/stats", "/api/v1/live/health")  # the platform's
_SCHEMAS = "/schema-registry"
# POSTs that change nothing: a compatibility test, and a lookup (`POST /subjects/{subject}`)
_SCHEMA_QUERIES = re.compile(r"^/schema-registry/(compatibility/.*|subjects/[^/]+/?)$")
_GRAFANA_READS = ("/grafana/search", "/grafana/query", "/grafana/annotations", "/grafana/tag-")
_encode = msgspec.json.Encoder().encode
_SCRAPER = Principal("default", Role.reader, user="[auth] scrape_token")  # may read /metrics only
_PASSWORD = Principal("default", Role.reader, user="(a password still to check)")  # never let through

Need = Role | Literal["public", "operator", "metrics"]


def required(method: str, path: str) -> Need:
    """What a request needs; a WebSocket's method is GET."""
    if path == "/api/v1/readings" and method == "POST":  # by far the most frequent
        return Role.writer
    if path in PUBLIC or method == "OPTIONS":  # a CORS preflight carries no credentials
        return "public"
    if path == "/metrics":
        return "metrics"
    if path.startswith("/api/v1/admin/"):
        return Role.admin
    if path.startswith(_OPERATORS):
        return "operator"
    if path.startswith(_SCHEMAS):  # one registry for every tenant: only the platform's admins change it
        query = method in _READS or (method == "POST" and _SCHEMA_QUERIES.match(path) is not None)
        return Role.reader if query else "operator"
    if method in _READS or path.startswith(_GRAFANA_READS):
        return Role.reader
    return Role.writer


@dataclass
class AccessGate:
    app: ASGIApp
    verifier: TokenVerifier
    store: AccessStore
    settings: AuthSettings

    def __post_init__(self) -> None:
        self._sessions: dict[str, str] = {}  # sha256 of a user's name and password → a session token
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope.get("method", "GET")
        need = required(method, path)
        if need == "public":
            await self.app(scope, receive, send)
            return
        principal = self._principal(scope, need)
        if principal is _PASSWORD:  # argon2 takes tens of milliseconds on purpose: not on the loop
            principal = await asyncio.to_thread(self._basic_password, scope)
        refusal = self._refusal(principal, need, path)
        if refusal is not None:
            status, detail = refusal
            await _refuse(scope, send, status, detail, page=path in _PAGES and principal is None)
            return
        scope[PRINCIPAL] = principal
        await self.app(scope, receive, send)

    def _refusal(self, principal: Principal | None, need: Need, path: str) -> tuple[int, str] | None:
        if principal is None:
            return 401, "credentials needed: Authorization: Bearer <token>, or log in at /ui/login.html"
        if need == "metrics":
            need = "operator"
        if need == "operator":
            if principal.operator or (principal is _SCRAPER and path == "/metrics"):
                return None
            return 403, f"{principal} may not do this: it needs an admin of the default tenant"
        if isinstance(need, Role) and not principal.may(need):
            return 403, f"{principal} may not do this: it needs the {need} role"
        return None

    def _principal(self, scope: Scope, need: Need) -> Principal | None:
        authorization = cookie = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"cookie":
                cookie = value
        if authorization is not None:
            scheme, _, credentials = authorization.partition(" ")
            scheme = scheme.lower()
            if scheme == "bearer":
                return self._bearer(credentials.strip(), need)
            if scheme == "basic":
                return self._basic(credentials.strip())
        session = _cookie(cookie)
        return None if session is None else self.verifier.verify(session)

    def _bearer(self, token: str, need: Need) -> Principal | None:
        scrape = self.settings.scrape_token
        if need == "metrics" and scrape is not None and hmac.compare_digest(token, scrape.get_secret_value()):
            return _SCRAPER
        return self.verifier.verify(token)

    def _basic(self, credentials: str) -> Principal | None:
        try:
            user, _, password = base64.b64decode(credentials, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        if password.startswith("iot_"):
            return self.verifier.verify(password)
        with self._lock:
            session = self._sessions.get(_digest(user, password))
        if session is not None and (principal := self.verifier.verify(session)) is not None:
            return principal
        return _PASSWORD  # to be checked with argon2

    def _basic_password(self, scope: Scope) -> Principal | None:
        credentials = dict(scope["headers"])[b"authorization"].decode("latin-1").partition(" ")[2]
        user, _, password = base64.b64decode(credentials.strip()).decode().partition(":")
        return self._user(user, password)

    def _user(self, user: str, password: str) -> Principal | None:
        """A name and password, checked with argon2 once per session (Grafana sends them with every
        request, and argon2 takes tens of milliseconds on purpose): a check opens a login session that
        later requests with the same name and password reuse until it expires or is revoked."""
        login = self.store.login(user, password, self.settings.session_ttl)
        if login is None:
            return None
        token, _ = login
        with self._lock:
            self._sessions[_digest(user, password)] = token
        return self.verifier.verify(token)


def _digest(user: str, password: str) -> str:
    return hashlib.sha256(f"{user}\0{password}".encode()).hexdigest()


def _cookie(raw: bytes | None) -> str | None:
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw.decode("latin-1"))
    except Exception:  # a malformed Cookie header is no session
        return None
    morsel = jar.get(SESSION_COOKIE)
    return None if morsel is None else morsel.value


async def _refuse(scope: Scope, send: Send, status: int, detail: str, *, page: bool) -> None:
    if scope["type"] == "websocket":
        await _refuse_websocket(scope, send, status, detail)
        return
    if page:
        headers = [(b"location", b"/ui/login.html"), (b"content-length", b"0")]
        await send({"type": "http.response.start", "status": 303, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    body = _encode({"detail": detail})
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="iotstream", Basic realm="iotstream"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _refuse_websocket(scope: Scope, send: Send, status: int, detail: str) -> None:
    """An HTTP answer to the handshake where the server can send one, else a close before accepting."""
    if "websocket.http.response" in scope.get("extensions", {}):
        body = _encode({"detail": detail})
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
        return
    await send({"type": "websocket.close", "code": 4000 + status, "reason": detail[:120]})

"""The one table that says what each request needs: a route nobody listed is still protected."""

import pytest
from fastapi import APIRouter

from iotstream.api.app import ROUTERS
from iotstream.api.gate import Need, required
from iotstream.registry.access import Role
from iotstream.registry.sensorthings import routes as sensorthings


@pytest.mark.parametrize(
    ("method", "path", "need"),
    [
        ("GET", "/healthz", "public"),
        ("POST", "/login", "public"),
        ("GET", "/ui/login.html", "public"),
        ("OPTIONS", "/api/v1/readings", "public"),
        ("GET", "/ui/", Role.reader),
        ("GET", "/api/v1/datastreams", Role.reader),
        ("POST", "/grafana/query", Role.reader),
        ("POST", "/api/v1/readings", Role.writer),
        ("DELETE", "/v1.1/Things(1)", Role.writer),
        ("GET", "/v1.1/Things", Role.reader),
        ("POST", "/api/v1/some-route-added-later", Role.writer),
        ("GET", "/api/v1/admin/tokens", Role.admin),
        ("GET", "/metrics", "metrics"),
        ("POST", "/api/v1/relay/batches", "operator"),
        ("GET", "/api/v1/stats", "operator"),
        ("GET", "/schema-registry/subjects", Role.reader),
        ("POST", "/schema-registry/subjects/readings-value", Role.reader),  # a lookup
        ("POST", "/schema-registry/compatibility/subjects/s/versions/latest", Role.reader),
        ("POST", "/schema-registry/subjects/readings-value/versions", "operator"),
        ("PUT", "/schema-registry/config", "operator"),
        ("DELETE", "/schema-registry/subjects/readings-value", "operator"),
    ],
)
def test_what_a_request_needs(method: str, path: str, need: Need) -> None:
    assert required(method, path) == need


def routes(router: APIRouter) -> list[tuple[str, str]]:
    found = []
    for route in router.routes:
        path = getattr(route, "path", "")
        found += [(method, path) for method in getattr(route, "methods", None) or {"GET"}]  # WebSockets: GET
    return found


def test_every_route_but_the_probes_and_the_login_needs_credentials() -> None:
    every = [route for router in ROUTERS if router is not sensorthings.router for route in routes(router)]
    public = {(method, path) for method, path in every if required(method, path) == "public"}
    assert public == {("GET", "/healthz"), ("GET", "/readyz"), ("POST", "/login"), ("POST", "/logout")}
    sta = {(method, required(method, path)) for method, path in routes(sensorthings.router)}
    assert sta == {
        ("GET", Role.reader),
        ("POST", Role.writer),
        ("PATCH", Role.writer),
        ("PUT", Role.writer),
    } | {("DELETE", Role.writer)}

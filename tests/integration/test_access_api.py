"""The admin API, logins and their cookies, Grafana's basic auth, /metrics' scrape token and the
tenants' rate limits, on a running platform with `[auth] enabled`."""

import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform
from iotstream.registry.access import AccessStore, Role
from iotstream.registry.catalog import open_catalog

SCRAPE = "prometheus-scrape-secret"
T0 = 1_767_225_600_000


@dataclass
class Running:
    url: str
    operator: str
    store: AccessStore


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    settings = load_settings(
        data_dir=tmp_path, api={"port": 0}, auth={"enabled": True, "scrape_token": SCRAPE}
    )
    catalog = open_catalog(settings.registry.url)
    store = AccessStore(catalog)
    _, operator = store.create_token("default", Role.admin, actor="test")
    with EmbeddedPlatform(settings) as platform:
        assert platform.api is not None
        yield Running(platform.api.url, operator, store)
    catalog.close()


def client(running: Running, token: str | None = None) -> httpx.Client:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return httpx.Client(base_url=running.url, headers=headers)


def test_an_operator_creates_tenants_and_their_admins_manage_only_their_own(running: Running) -> None:
    with client(running, running.operator) as operator:
        assert operator.post("/api/v1/admin/tenants", json={"name": "acme"}).status_code == 201
        assert operator.post("/api/v1/admin/tenants", json={"name": "globex"}).status_code == 201
        assert operator.post("/api/v1/admin/tenants", json={"name": "acme"}).status_code == 409
        assert operator.post("/api/v1/admin/tenants", json={"name": "Bad Name"}).status_code == 400
        made = operator.post("/api/v1/admin/tokens", json={"tenant": "acme", "role": "admin"})
        assert made.status_code == 201
        acme_admin = made.json()["token"]
        globex = operator.post("/api/v1/admin/tokens", json={"tenant": "globex", "role": "reader"}).json()
    with client(running, acme_admin) as admin:
        assert admin.post("/api/v1/admin/tenants", json={"name": "evil"}).status_code == 403
        assert [t["name"] for t in admin.get("/api/v1/admin/tenants").json()] == ["acme"]
        assert admin.get("/api/v1/admin/tokens", params={"tenant": "globex"}).status_code == 404
        assert admin.delete(f"/api/v1/admin/tokens/{globex['id']}").status_code == 404
        assert (
            admin.post("/api/v1/admin/tokens", json={"tenant": "globex", "role": "admin"}).status_code == 404
        )
        assert admin.post("/api/v1/admin/tenants/acme/systems", json={"name": "b1"}).status_code == 201
        writer = admin.post(
            "/api/v1/admin/tokens", json={"role": "writer", "system": "b1", "expires": "30d"}
        ).json()
        assert (writer["tenant"], writer["system"], writer["role"]) == ("acme", "b1", "writer")
        assert writer["expires_ms"] - writer["created_ms"] == 30 * 86_400_000
        listed = admin.get("/api/v1/admin/tokens").json()
        assert {t["tenant"] for t in listed} == {"acme"}
        assert all("token" not in t for t in listed)  # never shown again
        assert admin.delete(f"/api/v1/admin/tokens/{writer['id']}").json()["revoked_ms"] is not None
        trail = admin.get("/api/v1/admin/audit").json()
    with client(running, writer["token"]) as revoked:
        assert revoked.get("/api/v1/datastreams").status_code == 401
    assert {e["tenant"] for e in trail} == {"acme"}
    assert [e["action"] for e in trail[:3]] == ["token.revoke", "token.create", "system.create"]
    assert trail[0]["actor"].startswith(f"token {made.json()['id']} (admin of acme)")
    with client(running, running.operator) as operator:
        every = operator.get("/api/v1/admin/audit").json()
    assert {"default", "acme", "globex"} <= {e["tenant"] for e in every}


def test_a_login_sets_an_httponly_samesite_cookie_that_logout_ends(running: Running) -> None:
    running.store.create_user("ann", "correct horse", "default", Role.reader, actor="test")
    with client(running) as browser:
        assert browser.post("/login", json={"username": "ann", "password": "wrong horse"}).status_code == 401
        form = browser.post("/login", data={"username": "ann", "password": "wrong"}, follow_redirects=False)
        assert (form.status_code, form.headers["location"]) == (303, "/ui/login.html?failed=1")
        answer = browser.post(
            "/login", data={"username": "ann", "password": "correct horse"}, follow_redirects=False
        )
        assert (answer.status_code, answer.headers["location"]) == (303, "/ui/")
        cookie = answer.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert browser.get("/api/v1/whoami").json()["user"] == "ann"
        assert browser.get("/ui/").status_code == 200
        assert browser.post("/api/v1/readings", json={"datastream": "x", "value": 1}).status_code == 403
        browser.post("/logout", follow_redirects=False)
        assert browser.get("/api/v1/whoami").status_code == 401


def test_grafana_sends_basic_auth_with_a_password_or_a_token(running: Running) -> None:
    running.store.create_user("grafana", "a long password", "default", Role.reader, actor="test")
    _, token = running.store.create_token("default", Role.reader, actor="test")
    for user, password in [("grafana", "a long password"), ("anything", token)]:
        basic = base64.b64encode(f"{user}:{password}".encode()).decode()
        with httpx.Client(base_url=running.url, headers={"Authorization": f"Basic {basic}"}) as grafana:
            for _ in range(3):  # the password is checked once, then its session is reused
                assert grafana.post("/grafana/search", json={"target": ""}).status_code == 200
    wrong = base64.b64encode(b"grafana:wrong password").decode()
    answer = httpx.post(f"{running.url}/grafana/search", headers={"Authorization": f"Basic {wrong}"}, json={})
    assert answer.status_code == 401


def test_metrics_need_an_operator_or_the_scrape_token(running: Running) -> None:
    _, reader = running.store.create_token("default", Role.reader, actor="test")
    with client(running, reader) as api:
        assert api.get("/metrics").status_code == 403
    with client(running, SCRAPE) as prometheus:
        assert prometheus.get("/metrics").status_code == 200
        assert prometheus.get("/api/v1/datastreams").status_code == 401  # the scrape token reads nothing else
    with client(running, running.operator) as api:
        assert api.get("/metrics").status_code == 200


def test_a_tenant_beyond_its_rate_gets_429_with_retry_after_counted_in_metrics(running: Running) -> None:
    running.store.create_tenant("acme", actor="test", max_readings_per_s=50)
    _, token = running.store.create_token("acme", Role.writer, actor="test")
    batch = [{"datastream": "meter", "time": T0 + i, "value": i} for i in range(100)]
    with client(running, token) as device:
        assert device.post("/api/v1/readings", json=batch).status_code == 202
        refused = device.post("/api/v1/readings", json=batch[:1])
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 2
        assert "50 readings per second" in refused.json()["detail"]
        time.sleep(1.1)
        assert device.post("/api/v1/readings", json=batch[:1]).status_code == 202
    _, other = running.store.create_token("default", Role.writer, actor="test")
    with client(running, other) as neighbour:  # another tenant is not held back
        assert neighbour.post("/api/v1/readings", json=batch).status_code == 202
        assert neighbour.post("/api/v1/readings", json=batch).status_code == 202
    with client(running, SCRAPE) as prometheus:
        families = {f.name: f for f in text_string_to_metric_families(prometheus.get("/metrics").text)}
    samples = families["iotstream_rate_limited_requests"].samples
    assert [(s.labels["tenant"], s.value) for s in samples] == [("acme", 1.0)]


def test_a_tenant_at_its_datastream_quota_gets_no_new_ones(running: Running) -> None:
    running.store.create_tenant("acme", actor="test", max_datastreams=2)
    _, token = running.store.create_token("acme", Role.writer, actor="test")
    _, other = running.store.create_token("default", Role.writer, actor="test")
    batch = [{"datastream": name, "time": T0, "value": 1} for name in ("a", "b", "c")]
    with client(running, token) as device:
        answer = device.post("/api/v1/readings", json=batch).json()
        assert answer["accepted"] == 2
        [refused] = answer["rejected"]
        assert refused == {
            "index": 2,
            "error": "datastream 'c' is new, and tenant 'acme' has its 2 datastreams (max_datastreams)",
        }
        again = device.post("/api/v1/readings", json=[{"datastream": "a", "time": T0 + 1, "value": 2}])
        assert again.json() == {"accepted": 1, "rejected": []}
    with client(running, other) as neighbour:
        assert neighbour.post("/api/v1/readings", json=batch).json()["accepted"] == 3
    with client(running, SCRAPE) as prometheus:
        families = {f.name: f for f in text_string_to_metric_families(prometheus.get("/metrics").text)}
    samples = families["iotstream_quota_refused_datastreams"].samples
    assert [(s.labels["tenant"], s.value) for s in samples] == [("acme", 1.0)]

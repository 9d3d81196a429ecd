"""Tenants on one platform: each token reaches only its own tenant's data, through every door.

Three tenants (`default`, `acme`, `globex`) use the same datastream names. Each one's values lie in its
own range (default 3000s, acme 1000s, globex 2000s), so a leak shows as a value out of range wherever
it appears. Every token then lists everything it can reach — datastreams, readings, window results,
series, late readings, alerts, the overview, Grafana's search, queries, annotations and tag values,
the live WebSocket — and each value is checked to be its tenant's.
"""

import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from iotstream.config import Settings, load_settings
from iotstream.embedded import EmbeddedPlatform
from iotstream.models import Alert, LateObservation, Observation, WindowAggregate
from iotstream.registry.access import AccessStore, Role
from iotstream.registry.catalog import open_catalog

T0 = 1_767_225_600_000  # 2026-01-01
DAY = 86_400_000
NAMES = ("house1/power", "house2/power", "b1/temp")
BASE = {"default": 3000, "acme": 1000, "globex": 2000}  # each tenant's values: BASE + i, i < 1000
PREFIX = {"default": "", "acme": "@acme/", "globex": "@globex/"}


@dataclass
class Tenants:
    url: str
    tokens: dict[str, str]  # writer token of each tenant, and a few more by name
    store: AccessStore


def settings_for(tmp_path: Path) -> Settings:
    keep = {"raw": "36500d", "1m": "36500d", "1h": "36500d"}
    return load_settings(
        data_dir=tmp_path, api={"port": 0}, storage={"retention": keep}, auth={"enabled": True}
    )


def make_tokens(store: AccessStore) -> dict[str, str]:
    tokens = {}
    for tenant in ("acme", "globex"):
        store.create_tenant(tenant, actor="test")
    store.create_system("acme", "b1", actor="test")
    for tenant in BASE:
        tokens[tenant] = store.create_token(tenant, Role.writer, actor="test")[1]
        tokens[f"{tenant}-reader"] = store.create_token(tenant, Role.reader, actor="test")[1]
    tokens["operator"] = store.create_token("default", Role.admin, actor="test")[1]
    tokens["acme-admin"] = store.create_token("acme", Role.admin, actor="test")[1]
    tokens["acme-b1"] = store.create_token("acme", Role.reader, actor="test", system="b1")[1]
    return tokens


def seed_results(platform: EmbeddedPlatform) -> None:
    """Window results, late readings and alerts under each tenant's keys, as the jobs would write them."""
    storage = platform.storage
    assert storage is not None
    for tenant, base in BASE.items():
        for n, name in enumerate(NAMES):
            key = PREFIX[tenant] + name
            value = float(base + 500 + n)
            storage.write_aggregates(
                [WindowAggregate(key, "1d", T0, T0 + DAY, 1, value, value, value, value, value, value)]
            )
            late = Observation(key, T0 + 5, value, T0 + 2 * DAY, f"late-{key}")
            storage.write_late([LateObservation(late, 2 * DAY, "meters")])
            storage.write_alerts([Alert("high", key, T0, T0 + 1000, value, value, value, "open")])


@pytest.fixture
def tenants(tmp_path: Path) -> Iterator[Tenants]:
    settings = settings_for(tmp_path)
    catalog = open_catalog(settings.registry.url)
    store = AccessStore(catalog)
    tokens = make_tokens(store)
    with EmbeddedPlatform(settings) as platform:
        assert platform.api is not None
        seed_results(platform)
        for tenant, base in BASE.items():
            batch = [
                {"datastream": name, "time": T0 + i * 60_000, "value": base + i}
                for n, name in enumerate(NAMES)
                for i in range(n * 10, n * 10 + 10)
            ]
            answer = httpx.post(
                f"{platform.api.url}/api/v1/readings", json=batch, headers=bearer(tokens[tenant])
            )
            assert answer.status_code == 202, answer.text
            assert answer.json() == {"accepted": 30, "rejected": []}
        wait_stored(platform, 3 * len(NAMES))
        yield Tenants(platform.api.url, tokens, store)
    catalog.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait_stored(platform: EmbeddedPlatform, datastreams: int) -> None:
    assert platform.storage is not None
    deadline = time.monotonic() + 30
    while len(platform.storage.latest()) < datastreams:
        assert time.monotonic() < deadline, platform.storage.latest()
        time.sleep(0.05)


def everything_reachable(url: str, token: str) -> dict[str, Any]:
    """Every value the token can reach through the REST API and the Grafana datasource, by where."""
    seen: dict[str, Any] = {}
    with httpx.Client(base_url=url, headers=bearer(token)) as api:
        listing = api.get("/api/v1/datastreams").json()
        seen["names"] = sorted(row["key"] for row in listing)
        seen["latest"] = [row["latest"]["value"] for row in listing if row["latest"]]
        for name in seen["names"]:
            query = {"datastream": name}
            seen[f"readings {name}"] = [r["value"] for r in api.get("/api/v1/readings", params=query).json()]
            seen[f"aggregates {name}"] = [
                r["value"] for r in api.get("/api/v1/aggregates", params=query).json()
            ]
            points = api.get("/api/v1/series", params=query | {"from": T0, "to": T0 + DAY}).json()["points"]
            seen[f"series {name}"] = [p["max"] for p in points]
            seen[f"late {name}"] = [r["value"] for r in api.get("/api/v1/late", params=query).json()]
        alerts = api.get("/api/v1/alerts").json()
        seen["alert names"] = sorted(a["datastream"] for a in alerts)
        seen["alerts"] = [a["max"] for a in alerts]
        export = pq.read_table(
            io.BytesIO(api.get("/api/v1/export", params={"datastream": "*", "format": "parquet"}).content)
        )
        seen["export names"] = sorted(set(export.column("datastream").to_pylist()))
        seen["export"] = [v for v in export.column("value").to_pylist() if v is not None]
        overview = api.get("/api/v1/overview").json()
        seen["overview names"] = sorted(row["key"] for row in overview["datastreams"])
        seen["overview"] = [row["latest"]["value"] for row in overview["datastreams"] if row["latest"]]
        seen.update(_grafana(api))
    return seen


def _grafana(api: httpx.Client) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    targets = api.post("/grafana/search", json={"target": ""}).json()
    seen["grafana targets"] = sorted(targets)
    span = {"from": "2025-12-31T00:00:00Z", "to": "2026-01-03T00:00:00Z"}
    body = {"range": span, "targets": [{"target": t, "refId": t} for t in targets]}
    series = api.post("/grafana/query", json=body).json()
    seen["grafana query"] = [value for s in series for value, _ in s["datapoints"] if value is not None]
    annotations = api.post("/grafana/annotations", json={"range": span, "annotation": {}}).json()
    seen["grafana annotations"] = sorted(a["tags"][1] for a in annotations)
    values = api.post("/grafana/tag-values", json={"key": "datastream"}).json()
    seen["grafana tag values"] = sorted(v["text"] for v in values)
    return seen


def values_of(seen: dict[str, Any]) -> list[float]:
    return [
        v
        for key, values in seen.items()
        if "names" not in key
        and key != "grafana targets"
        and "tag values" not in key
        and "annotations" not in key
        for v in values
    ]


@pytest.mark.parametrize("tenant", list(BASE))
def test_each_tenant_reaches_only_its_own_data_through_every_endpoint(tenants: Tenants, tenant: str) -> None:
    for token in (tenants.tokens[tenant], tenants.tokens[f"{tenant}-reader"]):
        seen = everything_reachable(tenants.url, token)
        assert seen["names"] == sorted(NAMES)
        for where in (
            "overview names",
            "alert names",
            "grafana tag values",
            "grafana annotations",
            "export names",
        ):
            assert seen[where] == sorted(NAMES), where
        assert set(seen["grafana targets"]) == set(NAMES) | {f"{name}@1d" for name in NAMES}
        values = values_of(seen)
        assert len(values) > 100
        leaks = [v for v in values if not BASE[tenant] <= v < BASE[tenant] + 1000]
        assert leaks == [], f"{tenant} sees values of other tenants: {leaks[:10]}"
        assert seen[f"readings {NAMES[0]}"] == [BASE[tenant] + i for i in range(10)]
        assert seen[f"aggregates {NAMES[1]}"] == [BASE[tenant] + 501]


def test_a_system_token_sees_only_its_systems_datastreams(tenants: Tenants) -> None:
    seen = everything_reachable(tenants.url, tenants.tokens["acme-b1"])
    assert seen["names"] == ["b1/temp"]
    assert seen["grafana tag values"] == ["b1/temp"]
    assert set(values_of(seen)) <= {1000.0 + i for i in range(20, 30)} | {1502.0}
    with httpx.Client(base_url=tenants.url, headers=bearer(tenants.tokens["acme-b1"])) as api:
        assert api.get("/api/v1/readings", params={"datastream": "house1/power"}).status_code == 404


def test_another_tenants_names_and_keys_are_not_found(tenants: Tenants) -> None:
    with httpx.Client(base_url=tenants.url, headers=bearer(tenants.tokens["default"])) as api:
        for path in ("/api/v1/readings", "/api/v1/aggregates", "/api/v1/late", "/api/v1/series"):
            answer = api.get(path, params={"datastream": "@acme/house1/power"})
            assert answer.status_code == 404, path
            assert "1001" not in answer.text
        refused = api.post(
            "/api/v1/readings", json={"datastream": "@acme/house1/power", "time": T0, "value": 1}
        )
        assert refused.json()["rejected"][0]["error"].startswith("datastream names beginning with '@'")
        query = {"range": {"from": T0, "to": T0 + DAY}, "targets": [{"target": "@acme/house1/power"}]}
        assert api.post("/grafana/query", json=query).status_code == 400
    with httpx.Client(base_url=tenants.url, headers=bearer(tenants.tokens["globex"])) as api:
        answer = api.get("/api/v1/readings", params={"datastream": "@acme/house1/power"})
        assert answer.status_code == 404  # every tenant: `@<tenant>/` names another's, not one of its own
        assert "1001" not in answer.text


def test_live_feeds_carry_only_the_tenants_events_under_its_names(tenants: Tenants) -> None:
    ws = tenants.url.replace("http://", "ws://") + "/api/v1/live?datastream=*"
    clients = {t: connect(ws, additional_headers=bearer(tenants.tokens[f"{t}-reader"])) for t in BASE}
    try:
        time.sleep(0.5)  # the hub follows from the end: let it see the clients first
        for tenant, base in BASE.items():
            batch = [
                {"datastream": "house1/power", "time": T0 + DAY + i, "value": base + 900 + i}
                for i in range(5)
            ]
            answer = httpx.post(
                f"{tenants.url}/api/v1/readings", json=batch, headers=bearer(tenants.tokens[tenant])
            )
            assert answer.status_code == 202
        for tenant, client in clients.items():
            events: list[dict[str, Any]] = []
            deadline = time.monotonic() + 20
            while len(events) < 5:
                events += json.loads(client.recv(timeout=max(deadline - time.monotonic(), 0.01)))
            assert [e["event"]["value"] for e in events] == [BASE[tenant] + 900 + i for i in range(5)]
            assert {e["event"]["datastream"] for e in events} == {"house1/power"}
            time.sleep(0.3)
            with pytest.raises(TimeoutError):
                client.recv(timeout=0.2)  # and nothing of the others
    finally:
        for client in clients.values():
            client.close()


def test_requests_without_credentials_get_401_and_wrong_roles_403(tenants: Tenants) -> None:
    with httpx.Client(base_url=tenants.url) as anonymous:
        for method, path in [
            ("GET", "/api/v1/datastreams"),
            ("POST", "/api/v1/readings"),
            ("POST", "/grafana/query"),
            ("GET", "/metrics"),
            ("GET", "/v1.1/Things"),
            ("GET", "/api/v1/admin/tokens"),
            ("GET", "/docs"),
        ]:
            answer = anonymous.request(method, path)
            assert answer.status_code == 401, (method, path)
            assert "Bearer" in answer.headers["www-authenticate"]
        assert anonymous.get("/healthz").status_code == 200
        assert anonymous.get("/", follow_redirects=False).headers["location"] == "/ui/login.html"
        bad = anonymous.get("/api/v1/datastreams", headers=bearer("iot_000000000000_nope"))
        assert bad.status_code == 401
    with pytest.raises(InvalidStatus) as refused:
        connect(tenants.url.replace("http://", "ws://") + "/api/v1/live?datastream=*").close()
    assert refused.value.response.status_code == 401
    reader = bearer(tenants.tokens["acme-reader"])
    with httpx.Client(base_url=tenants.url, headers=reader) as api:
        answer = api.post("/api/v1/readings", json={"datastream": "x", "value": 1})
        assert answer.status_code == 403
        assert "needs the writer role" in answer.json()["detail"]
        assert api.get("/metrics").status_code == 403
        assert api.get("/api/v1/admin/tokens").status_code == 403
    with httpx.Client(base_url=tenants.url, headers=bearer(tenants.tokens["acme-reader"])) as api:
        assert api.post("/v1.1/Things", json={"name": "x", "description": ""}).status_code == 403
    with httpx.Client(base_url=tenants.url, headers=bearer(tenants.tokens["acme-b1"])) as api:
        assert "belong to a whole tenant" in api.get("/v1.1/Things").json()["message"]


def test_revoked_and_expired_tokens_are_refused_at_once(tenants: Tenants, tmp_path: Path) -> None:
    store = tenants.store
    info, token = store.create_token("acme", Role.reader, actor="test")
    with httpx.Client(base_url=tenants.url, headers=bearer(token)) as api:
        assert api.get("/api/v1/datastreams").status_code == 200
        store.revoke_token(info.id, actor="test")  # as another process would: the CLI's catalog
        revoked_at = time.monotonic()
        while api.get("/api/v1/datastreams").status_code != 401:
            assert time.monotonic() - revoked_at < 0.2, "still accepted 200 ms after its revocation"
    _, short = store.create_token("acme", Role.reader, actor="test", expires_in_ms=1_000)
    with httpx.Client(base_url=tenants.url, headers=bearer(short)) as api:
        assert api.get("/api/v1/datastreams").status_code == 200
        time.sleep(1.1)
        assert api.get("/api/v1/datastreams").status_code == 401

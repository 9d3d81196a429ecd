"""Jobs, alert rules and notification sinks belong to a tenant: a rule watches only its tenant's
datastreams, a sink hears of its tenant's alerts only (naming datastreams as the tenant does), and each
tenant lists only its own jobs."""

import time
from collections.abc import Callable
from pathlib import Path

import httpx

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform
from iotstream.registry.access import AccessStore, Role
from iotstream.registry.catalog import open_catalog
from tests.receivers import HttpReceiver

M = 60_000
T0 = 1_790_000_000_000 - 1_790_000_000_000 % M
PEAKS = {"default": 170.0, "acme": 160.0, "globex": 180.0}  # each tenant's "boiler" goes this high


def wait_for(what: str, done: Callable[[], bool], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_rules_sinks_and_meters_serve_their_own_tenant(tmp_path: Path) -> None:
    hooks = HttpReceiver().start()
    rule = {"type": "threshold", "name": "overheat", "datastreams": ["boiler"], "above": 100.0}
    settings = load_settings(
        data_dir=tmp_path,
        api={"port": 0},
        auth={"enabled": True},
        storage={"retention": {"raw": "36500d", "1m": "36500d", "1h": "36500d"}},
        jobs=[
            rule,  # the default tenant's
            rule | {"tenant": "acme"},
            {
                "type": "daily_meters",
                "name": "globex-meters",
                "tenant": "globex",
                "aggregate": {"meter": "sum"},
                "idle_timeout": "1s",  # the partitions of the other datastreams get no later readings
            },
        ],
        notify={
            "sinks": [
                {"type": "webhook", "name": "ops", "url": f"{hooks.url}/default"},
                {"type": "webhook", "name": "acme-ops", "url": f"{hooks.url}/acme", "tenant": "acme"},
            ]
        },
    )
    catalog = open_catalog(settings.registry.url)
    store = AccessStore(catalog)
    tokens = {}
    for tenant in PEAKS:
        if tenant != "default":
            store.create_tenant(tenant, actor="test")
        tokens[tenant] = store.create_token(tenant, Role.writer, actor="test")[1]
    try:
        with EmbeddedPlatform(settings) as platform:
            assert platform.api is not None
            batches = [
                (
                    tenant,
                    [
                        {"datastream": "boiler", "time": T0 + i * M, "value": v}
                        for i, v in enumerate([90, peak, 90, 90])
                    ]
                    + [{"datastream": "meter", "time": T0 + i * M, "value": 1} for i in range(3)],
                )
                for tenant, peak in PEAKS.items()
            ]
            batches += [
                (tenant, [{"datastream": "meter", "time": T0 + 3 * 86_400_000, "value": 1}])
                for tenant in PEAKS
            ]
            for tenant, readings in batches:  # every tenant's day before any day ends: none is late
                headers = {"Authorization": f"Bearer {tokens[tenant]}"}
                answer = httpx.post(f"{platform.api.url}/api/v1/readings", json=readings, headers=headers)
                assert answer.status_code == 202
            wait_for(
                "both sinks", lambda: len(hooks.bodies("/default")) >= 2 and len(hooks.bodies("/acme")) >= 2
            )
            alerts = {}
            for tenant in PEAKS:
                headers = {"Authorization": f"Bearer {tokens[tenant]}"}
                with httpx.Client(base_url=platform.api.url, headers=headers) as api:
                    alerts[tenant] = [(a["datastream"], a["max"]) for a in api.get("/api/v1/alerts").json()]
                    jobs = [job["name"] for job in api.get("/api/v1/jobs").json()]
                    assert (
                        jobs
                        == {"default": ["overheat"], "acme": ["overheat"], "globex": ["globex-meters"]}[
                            tenant
                        ]
                    )
                    if tenant == "globex":
                        wait_for(
                            "globex's daily sum",
                            lambda api=api: api.get(
                                "/api/v1/aggregates", params={"datastream": "meter"}
                            ).json(),
                        )
                        [day] = api.get("/api/v1/aggregates", params={"datastream": "meter"}).json()[:1]
                        assert day["value"] == 3
                    else:
                        assert api.get("/api/v1/aggregates", params={"datastream": "meter"}).json() == []
            time.sleep(0.5)
    finally:
        hooks.stop()
        catalog.close()
    assert alerts == {"default": [("boiler", 170.0)], "acme": [("boiler", 160.0)], "globex": []}
    for path, peak in (("/default", 170.0), ("/acme", 160.0)):
        bodies = hooks.bodies(path)
        assert {b["alert"]["datastream"] for b in bodies} == {"boiler"}
        assert {b["alert"]["max"] for b in bodies} == {peak}

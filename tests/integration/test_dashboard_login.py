"""The dashboard with `[auth] enabled`, in headless Chromium: a visitor is sent to the login page, logs
in through it, and sees only their tenant's datastreams, under their own names."""

import time
from pathlib import Path

import httpx
from playwright.sync_api import Browser, ConsoleMessage

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform
from iotstream.registry.access import AccessStore, Role
from iotstream.registry.catalog import open_catalog

READINGS = {"acme": ("house1/power", "pump"), "globex": ("house1/power", "furnace"), "default": ("TH1",)}


def test_a_user_logs_in_through_the_page_and_sees_only_the_tenants_datastreams(
    tmp_path: Path, browser: Browser
) -> None:
    settings = load_settings(data_dir=tmp_path, api={"port": 0}, auth={"enabled": True})
    catalog = open_catalog(settings.registry.url)
    store = AccessStore(catalog)
    tokens = {}
    for tenant in READINGS:
        if tenant != "default":
            store.create_tenant(tenant, actor="test")
        tokens[tenant] = store.create_token(tenant, Role.writer, actor="test")[1]
    store.create_user("ann", "correct horse", "acme", Role.reader, actor="test")
    now = int(time.time() * 1000)
    with EmbeddedPlatform(settings) as platform:
        assert platform.api is not None
        url = platform.api.url
        for tenant, names in READINGS.items():
            batch = [{"datastream": name, "time": now, "value": 1} for name in names]
            headers = {"Authorization": f"Bearer {tokens[tenant]}"}
            assert httpx.post(f"{url}/api/v1/readings", json=batch, headers=headers).status_code == 202
        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda message: _keep_errors(message, errors))
        page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
        page.goto(f"{url}/ui/")
        assert page.url == f"{url}/ui/login.html"
        page.fill("input[name=username]", "ann")
        page.fill("input[name=password]", "wrong horse")
        page.click("button[type=submit]")
        page.wait_for_selector("#failed:not([hidden])")
        page.fill("input[name=username]", "ann")
        page.fill("input[name=password]", "correct horse")
        page.click("button[type=submit]")
        page.wait_for_selector('#datastreams tr[data-datastream="pump"]', timeout=30_000)
        shown = page.eval_on_selector_all(
            "#datastreams tr[data-datastream]", "rows => rows.map(r => r.dataset.datastream)"
        )
        assert sorted(shown) == ["house1/power", "pump"]
        assert page.text_content("#who-name") == "ann · reader of acme"
        assert page.query_selector('nav a[data-page="health"]') is None
        [cookie] = page.context.cookies()
        assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"]) == (
            "iotstream_session",
            True,
            "Strict",
        )
        page.screenshot(path=tmp_path / "tenant-overview.png", full_page=True)
        page.click("#who button")
        page.wait_for_url(f"{url}/ui/login.html")
        assert httpx.get(f"{url}/api/v1/whoami", cookies={cookie["name"]: cookie["value"]}).status_code == 401
    catalog.close()
    assert errors == []


def _keep_errors(message: ConsoleMessage, errors: list[str]) -> None:
    if message.type == "error":
        errors.append(message.text)

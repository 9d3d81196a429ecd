"""The dashboard in a real headless Chromium against `iotstream demo`: the simulated datastreams are
listed, a chart draws points, readings posted after the page loaded appear without a reload, and no
page logs an error. The screenshots of each page are the documentation's (docs/assets/screenshots/):
every run takes them anew, so the pictures in the docs are of the dashboard as it is."""

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page

SIMULATED = ("TH1", "Etot", "temperature-1")
SCREENSHOTS = Path(__file__).parents[2] / "docs" / "assets" / "screenshots"


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[str]:
    command = [sys.executable, "-m", "iotstream", "demo", "--port", "0"]
    errors = tmp_path / "demo.stderr"
    with (
        errors.open("w") as stderr,
        subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=stderr, text=True) as process,
    ):
        try:
            url = _served_url(process)
            if url is None:
                pytest.fail(f"iotstream demo did not start: {errors.read_text()}")
            wait_for_datastreams(url, SIMULATED)
            yield url
            process.send_signal(signal.SIGINT)
            process.communicate(timeout=60)
            assert process.returncode == 0, errors.read_text()
        finally:
            process.kill()


def _served_url(process: "subprocess.Popen[str]") -> str | None:
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("iotstream is serving "):
            return line.removeprefix("iotstream is serving ").split()[0]
    return None


def wait_for_datastreams(url: str, names: tuple[str, ...]) -> None:
    deadline = time.monotonic() + 60
    while not set(names) <= {d["key"] for d in httpx.get(f"{url}/api/v1/datastreams").json()}:
        assert time.monotonic() < deadline, f"the simulators never sent {names}"
        time.sleep(0.5)


def post(url: str, datastream: str, value: float, time_ms: int | None = None) -> None:
    reading = {"datastream": datastream, "time": time_ms or int(time.time() * 1000), "value": value}
    assert httpx.post(f"{url}/api/v1/readings", json=reading).status_code == 202


def shoot(page: Page, name: str) -> None:
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=path, full_page=False)  # the viewport: a page's first screen, as a reader sees it
    assert path.stat().st_size > 10_000  # a rendered page, not a blank one


def test_the_dashboard_shows_the_demo_live_and_without_errors(demo: str, browser: Browser) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda message: _keep_errors(message, errors))
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))

    page.goto(f"{demo}/ui/")
    for name in SIMULATED:
        page.wait_for_selector(f'#datastreams tr[data-datastream="{name}"]')
    page.wait_for_selector(".connection.live")
    shoot(page, "overview")

    post(demo, "browser-probe", 4242.5)  # a datastream that did not exist when the page loaded
    probe = page.locator('#datastreams tr[data-datastream="browser-probe"] td.value')
    probe.filter(has_text="4242.5").wait_for(timeout=15_000)
    post(demo, "browser-probe", 17.25)
    probe.filter(has_text="17.25").wait_for(timeout=15_000)

    page.goto(f"{demo}/ui/#/datastream/temperature-1")
    page.wait_for_selector("#chart canvas")
    page.wait_for_function("Number(document.querySelector('#chart').dataset.points) > 0")
    shoot(page, "chart")

    page.goto(f"{demo}/ui/#/datastream/browser-probe")
    page.locator('button[data-span="1h"]').click()
    page.wait_for_function("document.querySelector('#chart').dataset.points === '2'")
    post(demo, "browser-probe", 30.0)
    page.wait_for_function("document.querySelector('#chart').dataset.points === '3'", timeout=15_000)
    assert page.locator("#resolution").inner_text().startswith("3 points, raw readings")

    page.goto(f"{demo}/ui/#/meters")
    page.wait_for_selector('.meter[data-meter="Etot"]')
    shoot(page, "meters")

    page.goto(f"{demo}/ui/#/health")
    accepted = page.locator('[data-card="accepted"] .big')
    page.wait_for_function(
        "Number(document.querySelector('[data-card=\"accepted\"] .big')?.textContent) > 0", timeout=15_000
    )
    assert int(accepted.inner_text()) > 0
    page.wait_for_selector("#jobs table")
    shoot(page, "health")

    page.goto(f"{demo}/ui/#/alerts")
    page.wait_for_selector("#alerts-summary:not(:empty)")
    now = int(time.time() * 1000)  # the demo's overheat rule: above 28, held at least 5 s
    post(demo, "temperature-probe", 1000.0, now)
    post(demo, "temperature-probe", 1001.0, now + 6_000)
    probe_alert = '#alerts tr[data-datastream="temperature-probe"][data-rule="overheat"]'
    page.wait_for_selector(f'{probe_alert}[data-state="open"]', timeout=15_000)
    post(demo, "temperature-probe", 20.0, now + 7_000)
    page.wait_for_selector(f'{probe_alert}[data-state="closed"]', timeout=15_000)
    assert page.locator(f"{probe_alert} td.value").inner_text() == "1001"
    shoot(page, "alerts")

    assert errors == []


def _keep_errors(message: ConsoleMessage, errors: list[str]) -> None:
    if message.type == "error":
        errors.append(f"console: {message.text} at {message.location}")

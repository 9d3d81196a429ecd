"""The Apps page in headless Chromium against an embedded platform: SQL the API refuses is marked in the
box where the API names the fault, a good app is listed running with its counters and its output shown
live as it arrives, it is paused, resumed and deleted through the page, and no page logs an error."""

import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, ConsoleMessage, Page

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform

BAD_SQL = "SELECT value FROM readings ORDER BY time"  # ORDER BY, named at `time`: line 1, column 37
BAD_LINES = "SELECT value\nFROM readings\nWHERE nope(value) > 1"  # NOPE(): line 3, column 7
GOOD_SQL = "SELECT * FROM readings WHERE value < 4"
ROW = '#apps tr[data-app="cold"]'
OUTPUT = '#app-output tr[data-datastream="apps/cold/t1"]'


def test_apps_are_made_watched_paused_and_deleted_through_the_page(tmp_path: Path, browser: Browser) -> None:
    settings = load_settings(data_dir=tmp_path, api={"port": 0})
    with EmbeddedPlatform(settings) as platform:
        assert platform.api is not None
        url = platform.api.url
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("console", lambda message: _keep_errors(message, errors))
        page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
        page.goto(f"{url}/ui/#/apps")
        page.wait_for_selector("#apps-summary:not(:empty)")
        assert page.get_attribute("nav a.active", "data-page") == "apps"

        _create(page, "cold", BAD_SQL)
        assert _marked(page) == {
            "error": "ORDER BY is not supported in stream apps (line 1, column 37)",
            "line": "1",
            "column": "37",
            "start": 36,
            "selected": "time",
            "caret": 36,
        }
        _create(page, "cold", BAD_LINES)
        marked = _marked(page)
        assert (marked["line"], marked["column"], marked["selected"]) == ("3", "7", "nope")
        assert marked["start"] == len("SELECT value\nFROM readings\n") + 6
        assert marked["caret"] == 6
        page.fill("#new-app textarea", GOOD_SQL)
        assert page.is_hidden("#sql-marker")  # an edit moves the marked place: the marker goes

        _create(page, "cold", GOOD_SQL)
        page.wait_for_selector("#app-error", state="hidden")
        page.wait_for_selector(f'{ROW}[data-state="running"]', timeout=30_000)
        assert page.is_visible(f"{ROW}.selected")  # the new app is selected, its output shown below
        page.wait_for_selector(".connection.live")
        now = int(time.time() * 1000)
        _post(url, [{"datastream": "t1", "time": now + i, "value": v} for i, v in enumerate([1, 5, 3, 7, 2])])
        page.wait_for_function(f"document.querySelectorAll('{OUTPUT}').length === 3", timeout=30_000)
        assert _output(page) == ["2", "3", "1"]  # newest first, and only the values below 4
        page.wait_for_function(
            f"Number(document.querySelector('{ROW} td[data-field=\"events_out\"]').textContent) === 3",
            timeout=15_000,
        )
        assert int(page.inner_text(f'{ROW} td[data-field="events_in"]')) >= 5
        assert page.inner_text(f'{ROW} td[data-field="watermark_ms"]').endswith(" UTC")
        assert page.inner_text(f'{ROW} td[data-field="lag"]') == "0"
        page.screenshot(path=tmp_path / "apps.png", full_page=True)

        page.click(f'{ROW} button[data-action="pause"]')
        page.wait_for_selector(f'{ROW}[data-state="paused"] button[data-action="resume"]')
        assert httpx.get(f"{url}/api/v1/apps/cold").json()["state"] == "paused"
        page.click(f'{ROW} button[data-action="resume"]')
        page.wait_for_selector(f'{ROW}[data-state="running"] button[data-action="pause"]')
        _post(url, [{"datastream": "t1", "time": now + 10, "value": 0.5}])
        page.wait_for_function(f"document.querySelectorAll('{OUTPUT}').length === 4", timeout=30_000)
        assert _output(page)[0] == "0.5"
        assert page.url.endswith("#/apps/cold")  # a link to the selected app: it opens with its output
        page.reload()
        page.wait_for_selector(f"{ROW}.selected")
        page.wait_for_function(f"document.querySelectorAll('{OUTPUT}').length === 1")
        assert _output(page) == ["0.5"]  # what the app wrote last, until more arrives

        page.once("dialog", lambda dialog: dialog.accept())
        page.click(f'{ROW} button[data-action="delete"]')
        page.wait_for_selector(ROW, state="detached")
        assert page.is_hidden("#app-output")
        assert httpx.get(f"{url}/api/v1/apps").json() == []
    assert _unexpected(errors, url, refused=2) == []


def _create(page: Page, name: str, sql: str) -> None:
    page.fill("#new-app input[name=name]", name)
    page.fill("#new-app textarea", sql)
    page.click("#new-app button[type=submit]")


def _marked(page: Page) -> dict[str, Any]:
    """The error shown under the box and the place marked: the selection in the box, the marker's
    line and column, and where its caret stands on the repeated line. (Typing in the box hides the
    marker, so each answer is waited for anew.)"""
    page.wait_for_selector("#sql-marker:not([hidden])")
    result: dict[str, Any] = page.evaluate(
        """() => {
            const box = document.querySelector("#new-app textarea");
            const marker = document.querySelector("#sql-marker");
            return {
                error: document.querySelector("#app-error").textContent,
                line: marker.dataset.line, column: marker.dataset.column,
                start: box.selectionStart, selected: box.value.slice(box.selectionStart, box.selectionEnd),
                caret: marker.textContent.split("\\n")[1].indexOf("^"),
            };
        }"""
    )
    return result


def _output(page: Page) -> list[str]:
    return page.eval_on_selector_all(f"{OUTPUT} td.value", "cells => cells.map(c => c.textContent)")


def _post(url: str, readings: list[dict[str, Any]]) -> None:
    assert httpx.post(f"{url}/api/v1/readings", json=readings).status_code == 202


def _keep_errors(message: ConsoleMessage, errors: list[str]) -> None:
    if message.type == "error":
        errors.append(f"console: {message.text} at {message.location['url']}")


def _unexpected(errors: list[str], url: str, refused: int) -> list[str]:
    """The errors less Chromium's own line for each 400 the page asked for and handled (it logs every
    answer >= 400 to a fetch, whatever the page does with it)."""
    expected = (
        "console: Failed to load resource: the server responded with a status of 400 (Bad Request)"
        f" at {url}/api/v1/apps"
    )
    assert errors.count(expected) == refused, errors
    return [error for error in errors if error != expected]

"""The requests behind the dashboard: the overview in one call, chart series, jobs, pushed health."""

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform
from iotstream.models import Observation, WindowAggregate
from iotstream.sim.smart_home import SMART_HOME_JOB

HOUR, DAY = 3_600_000, 86_400_000
T0 = 1_767_225_600_000  # 2026-01-01


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[EmbeddedPlatform]:
    keep = {"raw": "36500d", "1m": "36500d", "1h": "36500d"}
    settings = load_settings(
        data_dir=tmp_path, api={"port": 0}, storage={"retention": keep}, jobs=[SMART_HOME_JOB]
    )
    with EmbeddedPlatform(settings) as running:
        yield running


def hourly(datastream: str, hours: int) -> list[Observation]:
    """Hour h from T0 holds the value h."""
    return [Observation(datastream, T0 + h * HOUR, float(h), T0, f"{datastream}{h}") for h in range(hours)]


@pytest.fixture
def api(platform: EmbeddedPlatform) -> Iterator[httpx.Client]:
    assert platform.api is not None
    with httpx.Client(base_url=platform.api.url) as client:
        yield client


def test_the_overview_has_every_datastream_with_its_latest_value_and_last_day(
    platform: EmbeddedPlatform, api: httpx.Client
) -> None:
    assert platform.storage is not None
    # "a" reports every hour for two days; "b" once, a day earlier
    platform.storage.write_observations([*hourly("a", 48), Observation("b", T0 - DAY, "offline", T0, "b0")])
    overview = api.get("/api/v1/overview").json()
    by_name = {d["key"]: d for d in overview["datastreams"]}
    assert list(by_name) == ["a", "b"]
    assert by_name["a"]["latest"] == {"time": "2026-01-02T23:00:00Z", "value": 47.0}
    assert by_name["a"]["spark"] == [[T0 + h * HOUR, float(h)] for h in range(24, 48)]
    assert by_name["b"] == {
        "key": "b",
        "name": "b",  # the catalog does not know it: named by its key
        "latest": {"time": "2025-12-31T00:00:00Z", "value": "offline"},
        "aggregate": None,
        "registry_id": None,  # written straight to the store: the catalog does not know it
        "unit": None,
        "thing": None,
        "placeholder": None,
        "spark": [],
    }
    assert [job["name"] for job in overview["jobs"]] == [SMART_HOME_JOB["name"]]


def test_a_chart_series_defaults_to_the_day_before_the_latest_reading(
    platform: EmbeddedPlatform, api: httpx.Client
) -> None:
    assert platform.storage is not None
    platform.storage.write_observations(
        [Observation("a", T0 + m * 60_000, float(m), T0, f"a{m}") for m in range(3 * 24 * 60)]
    )
    day = api.get("/api/v1/series", params={"datastream": "a", "points": 24}).json()
    assert (day["from"], day["to"]) == ("2026-01-02T23:59:00.001Z", "2026-01-03T23:59:00.001Z")
    assert day["resolution"] == "1h"
    assert len(day["points"]) == 24
    week = api.get("/api/v1/series", params={"datastream": "a", "span": "7d", "points": 3}).json()
    assert week["resolution"] == "1d"
    assert [p["count"] for p in week["points"]] == [1440] * 3
    bad = api.get("/api/v1/series", params={"datastream": "a", "from": T0 + DAY, "to": T0})
    assert bad.status_code == 400
    assert "must be before" in bad.json()["detail"]
    assert api.get("/api/v1/series", params={"datastream": "a", "span": "soon"}).status_code == 422


def test_a_series_of_a_datastream_without_readings_ends_now_and_times_beyond_9999_are_refused(
    api: httpx.Client,
) -> None:
    """schemathesis found `?datastream=&from=&max_points=1` answered 500: with no reading the range
    ended in the year 10000, which no ISO-8601 text can name."""
    before = time.time()
    empty = api.get("/api/v1/series", params={"datastream": "", "from": "", "points": 500, "max_points": 1})
    assert empty.status_code == 200
    assert empty.json()["points"] == []
    end = datetime.fromisoformat(empty.json()["to"].replace("Z", "+00:00")).timestamp()
    assert before - 1 <= end <= time.time() + 1
    for far in ("253402300800000", "-62135596800001", "99999999999999999999"):
        answer = api.get("/api/v1/series", params={"datastream": "a", "to": far})
        assert answer.status_code == 400, far
        assert "outside the years 1 to 9999" in answer.json()["detail"]


def test_the_configured_jobs_are_listed(api: httpx.Client) -> None:
    [job] = api.get("/api/v1/jobs").json()
    assert job["type"] == "daily_meters"
    assert set(job["meters"]) == set(SMART_HOME_JOB["meters"])


def test_pipeline_health_is_pushed_every_second(platform: EmbeddedPlatform, api: httpx.Client) -> None:
    assert platform.api is not None
    url = platform.api.url.replace("http://", "ws://") + "/api/v1/live/health"
    with connect(url) as health:
        first = json.loads(health.recv(timeout=5))
        reading = {"datastream": "TH1", "time": T0, "value": 1.5}
        assert api.post("/api/v1/readings", json=reading).status_code == 202
        deadline = time.monotonic() + 10
        while (latest := json.loads(health.recv(timeout=5)))["ingest"]["accepted"] == first["ingest"][
            "accepted"
        ]:
            assert time.monotonic() < deadline
    assert latest["ingest"]["accepted"] == first["ingest"]["accepted"] + 1
    assert 500 <= latest["now_ms"] - first["now_ms"] < 10_000
    assert {"jobs", "lag", "sink", "websocket_clients"} <= set(latest)


def test_the_dashboard_is_served_from_the_root(api: httpx.Client) -> None:
    assert api.get("/").headers["location"] == "/ui/"
    page = api.get("/ui/")
    assert page.status_code == 200
    assert '<script type="module" src="app.js">' in page.text
    assert api.get("/ui/vendor/uplot/uPlot.iife.min.js").status_code == 200
    assert "MIT" in api.get("/ui/vendor/uplot/LICENSE").text


def test_the_api_is_documented_and_listens_only_on_loopback_by_default(
    platform: EmbeddedPlatform, api: httpx.Client
) -> None:
    assert load_settings().api.host == "127.0.0.1"
    assert platform.api is not None
    assert platform.api.url.startswith("http://127.0.0.1:")
    assert api.get("/docs").status_code == 200
    paths = api.get("/openapi.json").json()["paths"]
    expected = {"/api/v1/readings", "/api/v1/series", "/api/v1/overview", "/grafana/query", "/metrics"}
    assert expected <= set(paths)


def test_readings_and_window_results_are_cut_to_from_and_to(
    platform: EmbeddedPlatform, api: httpx.Client
) -> None:
    assert platform.storage is not None
    platform.storage.write_observations(hourly("a", 48))
    day = [
        WindowAggregate("a", "1d", T0 + d * DAY, T0 + (d + 1) * DAY, 1, 1.0, 1.0, 1.0, 2.0, 1.0, 1.0)
        for d in range(2)
    ]
    platform.storage.write_aggregates(day)
    window = {
        "datastream": "a",
        "from": "2026-01-01T10:00:00Z",
        "to": str((T0 + 12 * HOUR) // 1000),
    }  # ISO, seconds
    readings = api.get("/api/v1/readings", params=window).json()
    assert [r["value"] for r in readings] == [10.0, 11.0]
    everything = api.get("/api/v1/readings", params={"datastream": "a", "limit": 100}).json()
    assert len(everything) == 48
    days = api.get("/api/v1/aggregates", params={"datastream": "a", "from": T0 + DAY}).json()
    assert [(d["start"], d["value"]) for d in days] == [
        ("2026-01-02T00:00:00Z", 2.0)
    ]  # avg: nothing configured
    bad = api.get("/api/v1/late", params={"datastream": "a", "from": "soon"})
    assert bad.status_code == 400
    assert "query parameter 'from'" in bad.json()["detail"]

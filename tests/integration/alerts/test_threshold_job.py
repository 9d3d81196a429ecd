"""A `[[jobs]] type = "threshold"` rule in a running platform: readings in, alert episodes stored."""

import time
from pathlib import Path

import httpx

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform

M = 60_000
T0 = 1_790_000_000_000 - 1_790_000_000_000 % M
RULE = {"type": "threshold", "name": "overheat", "datastreams": ["boiler-*"], "above": 100.0}


def test_a_configured_rule_stores_each_episode_with_its_latest_state(tmp_path: Path) -> None:
    keep = {"raw": "36500d", "1m": "36500d", "1h": "36500d"}
    settings = load_settings(
        data_dir=tmp_path,
        api={"port": 0},
        storage={"retention": keep},
        jobs=[RULE | {"hysteresis": 0.5, "out_of_orderness": "1m"}],
    )
    values = [99.0, 100.5, 99.5, 101.5, 99.4, 120.0, 130.0]  # the last episode is still open
    readings = [{"datastream": "boiler-1", "time": T0 + i * M, "value": v} for i, v in enumerate(values)]
    readings.append({"datastream": "boiler-1", "time": T0 + 10 * M, "value": 125.0})  # moves the watermark
    with EmbeddedPlatform(settings) as platform:
        assert platform.api is not None
        assert platform.storage is not None
        assert httpx.post(f"{platform.api.url}/api/v1/readings", json=readings).status_code == 202
        deadline = time.monotonic() + 20
        while len(episodes := platform.storage.alerts("boiler-1")) < 2 or episodes[1].last_ms < T0 + 6 * M:
            assert time.monotonic() < deadline, f"episodes stored: {episodes}"
            time.sleep(0.05)
        with httpx.Client(base_url=platform.api.url) as api:
            listed = api.get("/api/v1/alerts", params={"datastream": "boiler-1", "state": "closed"}).json()
            refused = api.get("/api/v1/alerts", params={"state": "maybe"})
    closed, still_open = episodes
    assert (closed.rule, closed.state, closed.start_ms, closed.last_ms) == (
        "overheat",
        "closed",
        T0 + M,
        T0 + 3 * M,
    )
    assert (closed.closed_ms, closed.max, closed.avg, closed.threshold) == (T0 + 4 * M, 101.5, 100.25, 100.0)
    assert (still_open.state, still_open.start_ms, still_open.max, still_open.closed_ms) == (
        "open",
        T0 + 5 * M,
        130.0,
        None,
    )
    assert listed == [
        {
            "rule": "overheat",
            "datastream": "boiler-1",
            "state": "closed",
            "start": "2026-09-21T14:14:00Z",
            "last": "2026-09-21T14:16:00Z",
            "duration_s": 120.0,
            "max": 101.5,
            "avg": 100.25,
            "threshold": 100.0,
            "closed_at": "2026-09-21T14:17:00Z",
        }
    ]
    assert refused.status_code == 422


def test_a_staleness_rule_stores_the_silence_and_its_end(tmp_path: Path) -> None:
    rule = {"type": "staleness", "name": "quiet", "datastreams": ["meter-*"], "after": "1s"}
    settings = load_settings(data_dir=tmp_path, api={"port": 0}, jobs=[rule])
    now = int(time.time() * 1000)
    with EmbeddedPlatform(settings) as platform:
        assert platform.api is not None
        assert platform.storage is not None
        storage, url = platform.storage, f"{platform.api.url}/api/v1/readings"
        assert httpx.post(url, json={"datastream": "meter-1", "time": now, "value": 1}).status_code == 202
        deadline = time.monotonic() + 20
        while [a.state for a in storage.alerts("meter-1")] != ["open"]:
            assert time.monotonic() < deadline, "the silence was not noticed"
            time.sleep(0.05)
        assert (
            httpx.post(url, json={"datastream": "meter-1", "time": now + 5_000, "value": 2}).status_code
            == 202
        )
        while [a.state for a in storage.alerts("meter-1")] != ["closed"]:
            assert time.monotonic() < deadline, "the returning reading did not close the alert"
            time.sleep(0.05)
        (episode,) = storage.alerts("meter-1")
    assert (episode.rule, episode.start_ms, episode.closed_ms, episode.threshold) == (
        "quiet",
        now,
        now + 5_000,
        1.0,
    )

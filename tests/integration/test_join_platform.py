"""A join configured in iotstream.toml, run by the platform: readings sent over HTTP come out as pairs,
stored as readings of the join's datastream."""

import time
from pathlib import Path
from typing import Any

import httpx

from iotstream._units import parse_time_ms
from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform

T0 = 1_790_000_000_000
JOIN = {
    "type": "join",
    "name": "flow-power",
    "left": ["pump/flow"],
    "right": ["pump/power"],
    "mode": "asof",
    "idle_timeout": "1s",
    "datastream": "pump/flow-power",
}


def test_a_configured_join_stores_its_pairs_as_a_datastream(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        api={"port": 0},
        storage={"retention": {"raw": "36500d", "1m": "36500d", "1h": "36500d"}},
        jobs=[JOIN],
    )
    flow = [(T0 + 1_000, 10.0), (T0 + 3_000, 12.0), (T0 + 5_000, 11.0)]
    power = [(T0, 800.0), (T0 + 2_000, 820.0), (T0 + 6_000, 0.0)]
    readings = [{"datastream": "pump/flow", "time": t, "value": v} for t, v in flow]
    readings += [{"datastream": "pump/power", "time": t, "value": v} for t, v in power]
    readings.sort(key=lambda r: r["time"])  # in time order: with no out_of_orderness, anything else is late
    with EmbeddedPlatform(settings) as platform, httpx.Client(base_url=platform.api.url) as api:
        assert api.post("/api/v1/readings", json=readings).status_code == 202
        deadline = time.monotonic() + 30
        while len(stored := _stored(api)) < 3:
            assert time.monotonic() < deadline, f"only {stored} stored"
            time.sleep(0.1)
    pairs = {t: [(p["left"]["value"], p["right"]["value"]) for p in value] for t, value in stored}
    assert pairs == {T0 + 1_000: [(10.0, 800.0)], T0 + 3_000: [(12.0, 820.0)], T0 + 5_000: [(11.0, 820.0)]}


def _stored(api: httpx.Client) -> list[tuple[int, Any]]:
    params = {"datastream": "pump/flow-power", "from": T0 - 60_000, "to": T0 + 60_000}
    answer = api.get("/api/v1/readings", params=params)
    return (
        []
        if answer.status_code == 404
        else [(parse_time_ms(r["time"], 0), r["value"]) for r in answer.json()]
    )

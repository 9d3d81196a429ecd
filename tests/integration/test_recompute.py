"""History loaded after the fact: a month of a house imported behind the meter job's watermark is late
for every day, and `iotstream recompute` then gives the daily values, differences and leakage that live
ingestion of the same month gives."""

import csv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from iotstream.embedded import EmbeddedPlatform
from iotstream.sim import SmartHome, smart_home_readings
from tests.integration.test_end_to_end import D0, settle, start_platform, stored_days
from tests.meters import DAY, HOME

MONTH = 30
NAMES = sorted({*HOME["aggregate"], *(f"{m}.{kind}" for m in HOME["meters"] for kind in ("diff", "rest"))})


@pytest.fixture(scope="module")
def readings() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The month (in time order, as a file of history would be), and the three days after it."""
    everything = sorted(smart_home_readings(SmartHome(D0, days=MONTH + 3, seed=7)), key=lambda r: r["time"])
    month = [r for r in everything if D0 <= r["time"] < D0 + MONTH * DAY]
    return month, [r for r in everything if r["time"] >= D0 + MONTH * DAY]


@pytest.fixture
def platforms(tmp_path: Path) -> Iterator[Callable[..., EmbeddedPlatform]]:
    started: list[EmbeddedPlatform] = []

    def start(name: str, **settings: Any) -> EmbeddedPlatform:
        started.append(start_platform(tmp_path / name, "0s", **settings))
        return started[-1]

    yield start
    for platform in reversed(started):
        platform.stop()


def post(api: httpx.Client, readings: list[dict[str, Any]]) -> None:
    for start in range(0, len(readings), 1_000):
        batch = readings[start : start + 1_000]
        assert api.post("/api/v1/readings", content=msgspec.json.encode(batch)).json()["accepted"] == len(
            batch
        )


def month_days(api: httpx.Client, days: int = MONTH) -> dict[tuple[str, int], float]:
    return {key: value for key, value in stored_days(api, NAMES).items() if D0 <= key[1] < D0 + days * DAY}


def test_a_month_imported_after_the_fact_and_recomputed_gives_the_days_live_ingestion_gives(
    platforms: Callable[..., EmbeddedPlatform],
    readings: tuple[list[dict[str, Any]], list[dict[str, Any]]],
    cli: Callable[..., Any],
    tmp_path: Path,
) -> None:
    month, after = readings
    live, late = platforms("live"), platforms("late")
    assert live.api is not None
    assert late.api is not None
    with httpx.Client(base_url=live.api.url, timeout=60) as api:
        post(api, month + after)
        settle(live)
        expected = month_days(api, MONTH + 1)  # the day after the month too: its difference
    assert len(expected) > MONTH * 5  # every aggregated datastream's days, and the meters' differences

    with (tmp_path / "month.csv").open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["datastream", "time", "value"])
        writer.writerows([r["datastream"], r["time"], r["value"]] for r in month)
    with httpx.Client(base_url=late.api.url, timeout=60) as api:
        post(api, after)  # the job's watermark is past the month before its history arrives
        settle(late)
        imported = cli("import", "month.csv", "--url", late.api.url)
        assert imported.returncode == 0, imported.stderr
        settle(late)
        assert month_days(api) == {}  # late for every day: stored, and counted nowhere
        assert len(api.get("/api/v1/late", params={"datastream": "W1"}).json()) > MONTH * 5

        done = cli(
            "recompute", "home", "--from", str(D0), "--to", str(D0 + MONTH * DAY), "--url", late.api.url
        )
        assert done.returncode == 0, done.stderr
        next_day = [r for r in after if r["time"] < D0 + (MONTH + 1) * DAY]  # over: recomputed as well
        assert f"{len(month) + len(next_day):,} readings from" in done.stdout  # none the day before
        settle(late)
        got = month_days(api, MONTH + 1)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-6), key


def test_recompute_refuses_what_it_cannot_do_with_the_reason(
    platforms: Callable[..., EmbeddedPlatform], cli: Callable[..., Any]
) -> None:
    rule = {"type": "threshold", "name": "hot", "datastreams": ["TH1"], "above": 30.0}
    platform = platforms("refusals", jobs=[{**HOME, "allowed_lateness": "0s"}, rule])
    assert platform.api is not None
    url = platform.api.url
    unknown = cli("recompute", "nope", "--from", "2024-01-01", "--url", url)
    assert unknown.returncode != 0
    assert "404: no job 'nope'; GET /api/v1/jobs lists them" in unknown.stderr
    unreachable = cli("recompute", "home", "--from", "2024-01-01", "--url", "http://127.0.0.1:9")
    assert unreachable.returncode != 0
    assert "cannot reach the platform at http://127.0.0.1:9/api/v1/jobs/home/recompute" in unreachable.stderr
    alerts = cli("recompute", "hot", "--from", "2024-01-01", "--url", url)
    assert alerts.returncode != 0
    assert "400: job 'hot' is a threshold job; only daily meter jobs are recomputed for now" in alerts.stderr
    bad_time = httpx.post(f"{url}/api/v1/jobs/home/recompute", params={"from": "yesterday"})
    assert bad_time.status_code == 400
    assert "yesterday" in bad_time.text

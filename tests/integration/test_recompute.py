"""History loaded after the fact: a month of a house imported behind the jobs' watermarks is late for
every day and every rule, and `iotstream recompute` then gives the daily values, differences, leakage
and alert episodes that live ingestion of the same month gives."""

import csv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from iotstream._units import iso_ms
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


HOT = {"type": "threshold", "name": "hot", "datastreams": ["TH1", "boiler"], "above": 30.0}
HOT |= {"hysteresis": 2.0, "min_duration": "30m"}


def test_alert_episodes_of_a_month_imported_after_the_fact_are_those_live_ingestion_gives(
    platforms: Callable[..., EmbeddedPlatform],
    readings: tuple[list[dict[str, Any]], list[dict[str, Any]]],
    cli: Callable[..., Any],
) -> None:
    """The boiler is hot from the month's last day into the next: without its history the late platform
    sees an episode begin after the month, which the recomputation retracts."""
    month, after = ([r for r in part if r["datastream"] == "TH1"] for part in readings)
    end = D0 + MONTH * DAY
    boiler = [
        {"datastream": "boiler", "time": end + minute * 60_000, "value": 35.0} for minute in range(-90, 60, 5)
    ]
    boiler.append({"datastream": "boiler", "time": end + 3_600_000, "value": 20.0})
    month += [r for r in boiler if r["time"] < end]
    after = sorted(after + [r for r in boiler if r["time"] >= end], key=lambda r: r["time"])
    live, late = platforms("live", jobs=[HOT]), platforms("late", jobs=[HOT])
    assert live.api is not None
    assert late.api is not None
    with httpx.Client(base_url=live.api.url, timeout=60) as api:
        post(api, month + after)
        settle(live)
        expected = api.get("/api/v1/alerts").json()
    assert len(expected) > 10
    [hot_boiler] = [(a["state"], a["start"], a["closed_at"]) for a in expected if a["datastream"] == "boiler"]
    assert hot_boiler == ("closed", iso_ms(end - 90 * 60_000), iso_ms(end + 3_600_000))
    with httpx.Client(base_url=late.api.url, timeout=60) as api:
        post(api, after)  # the rule has seen the days after the month before their history arrives
        settle(late)
        post(api, month)
        settle(late)
        before = api.get("/api/v1/alerts").json()
        assert [a["start"] for a in before if a["datastream"] == "boiler"] == [iso_ms(end)]  # begun too late
        assert all(a["start"] >= iso_ms(end) for a in before)  # the month's: none
        done = cli("recompute", "hot", "--from", str(D0), "--to", str(end), "--url", late.api.url)
        assert done.returncode == 0, done.stderr
        assert "; retracted: 1 (stored alert episodes the readings no longer give)" in done.stdout
        settle(late)
        got = api.get("/api/v1/alerts").json()
    assert got == expected


def test_recompute_refuses_what_it_cannot_do_with_the_reason(
    platforms: Callable[..., EmbeddedPlatform], cli: Callable[..., Any]
) -> None:
    rule = {"type": "staleness", "name": "quiet", "datastreams": ["TH1"], "after": "1h"}
    platform = platforms("refusals", jobs=[{**HOME, "allowed_lateness": "0s"}, rule])
    assert platform.api is not None
    url = platform.api.url
    unknown = cli("recompute", "nope", "--from", "2024-01-01", "--url", url)
    assert unknown.returncode != 0
    assert "404: no job 'nope'; GET /api/v1/jobs lists them" in unknown.stderr
    unreachable = cli("recompute", "home", "--from", "2024-01-01", "--url", "http://127.0.0.1:9")
    assert unreachable.returncode != 0
    assert "cannot reach the platform at http://127.0.0.1:9/api/v1/jobs/home/recompute" in unreachable.stderr
    quiet = cli("recompute", "quiet", "--from", "2024-01-01", "--url", url)
    assert quiet.returncode != 0
    assert "400: job 'quiet' is a staleness job; daily meter jobs and threshold rules are recomputed" in (
        quiet.stderr
    )
    bad_time = httpx.post(f"{url}/api/v1/jobs/home/recompute", params={"from": "yesterday"})
    assert bad_time.status_code == 400
    assert "yesterday" in bad_time.text

"""The client examples (examples/*.py) and `iotstream simulate car-fleet|weather-station`, run as a user
runs them, against a platform: they register their Things and Datastreams (checked through
SensorThings) and send exactly the generators' readings (checked through REST); a second run finds its
registration there and sends again."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform
from iotstream.sim.car_fleet import CarFleet, car_fleet_readings
from iotstream.sim.weather_station import WeatherStations, weather_station_readings
from tests.integration.conftest import CLI

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).parents[2] / "examples"
ENVIRONMENT = {k: v for k, v in os.environ.items() if k not in ("IOTSTREAM_URL", "IOTSTREAM_TOKEN")}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[httpx.Client]:
    """A platform on a free port, and an HTTP client of it."""
    settings = load_settings(data_dir=tmp_path / "data", api={"port": 0})
    with EmbeddedPlatform(settings) as platform:
        assert platform.api is not None
        with httpx.Client(base_url=platform.api.url, timeout=30) as client:
            yield client


def run(*command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, *command], cwd=cwd, env=ENVIRONMENT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done


def things(api: httpx.Client) -> dict[str, dict[str, Any]]:
    """Every Thing by name, with its Datastreams and their Sensors (SensorThings)."""
    params = {"$expand": "Datastreams($expand=Sensor)", "$top": "1000"}
    answer = api.get("/v1.1/Things", params=params)
    assert answer.status_code == 200, answer.text
    return {thing["name"]: thing for thing in answer.json()["value"]}


def keys_of(thing: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {datastream["properties"]["key"]: datastream for datastream in thing["Datastreams"]}


def stored(api: httpx.Client, keys: set[str], count: int) -> dict[str, list[tuple[int, float]]]:
    """Each datastream's (time, value) readings, once each has `count` (the sink stores a moment later)."""
    deadline = time.monotonic() + 30
    while True:
        found = {key: readings(api, key) for key in sorted(keys)}
        if all(len(rows) >= count for rows in found.values()) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def readings(api: httpx.Client, key: str) -> list[tuple[int, float]]:
    rows = api.get("/api/v1/readings", params={"datastream": key, "limit": 100_000}).json()
    return [(int(datetime.fromisoformat(row["time"]).timestamp() * 1000), row["value"]) for row in rows]


def by_key(generated: Iterator[dict[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    series: dict[str, list[tuple[int, float]]] = {}
    for reading in generated:
        series.setdefault(reading["datastream"], []).append((reading["time"], reading["value"]))
    return series


def test_the_car_fleet_example_registers_the_cars_and_sends_their_drive(
    api: httpx.Client, tmp_path: Path
) -> None:
    example = str(EXAMPLES / "car_fleet.py")
    first = run(
        example, "--url", str(api.base_url), "--cars", "2", "--minutes", "2", "--speedup", "0", cwd=tmp_path
    )
    assert "registered Car2.Main: 7 datastreams" in first.stderr
    cars = things(api)
    assert sorted(cars) == ["Car1.Main", "Car2.Main"]
    car2 = keys_of(cars["Car2.Main"])
    fields = ["acceleration", "altitude", "fuel", "latitude", "longitude", "speed", "temperature"]
    assert sorted(car2) == [f"car2/{field}" for field in fields]
    gps = {car2[f"car2/{f}"]["Sensor"]["@iot.id"] for f in ("latitude", "longitude", "altitude", "speed")}
    assert len(gps) == 1  # one GPS module, as the recorded iot4cps registration has it
    assert car2["car2/temperature"]["unitOfMeasurement"]["symbol"] == "degC"

    sent = stored(api, {key for car in cars.values() for key in keys_of(car)}, 12)  # 2 minutes, 10 s apart
    start_ms = sent["car1/speed"][0][0]
    assert sent == by_key(car_fleet_readings(CarFleet(start_ms, minutes=2, cars=2)))

    again = run(
        example, "--url", str(api.base_url), "--cars", "2", "--minutes", "1", "--speedup", "0", cwd=tmp_path
    )
    assert "Car1.Main is registered already" in again.stderr
    assert sorted(things(api)) == ["Car1.Main", "Car2.Main"]
    assert api.get("/v1.1/Sensors", params={"$count": "true", "$top": "0"}).json()["@iot.count"] == 8


def test_the_weather_station_example_registers_the_stations_and_sends_their_weather(
    api: httpx.Client, tmp_path: Path
) -> None:
    example = str(EXAMPLES / "weather_station.py")
    command = [example, "--url", str(api.base_url), "--stations", "2", "--minutes", "5", "--speedup", "0"]
    run(*command, cwd=tmp_path)
    stations = things(api)
    assert sorted(stations) == ["Station_1", "Station_2"]
    keys = {key for station in stations.values() for key in keys_of(station)}
    assert len(keys) == 12
    sent = stored(api, keys, 5)
    start_ms = sent["station1/rain"][0][0]
    assert sent == by_key(weather_station_readings(WeatherStations(start_ms, minutes=5, stations=2)))
    run(*command, cwd=tmp_path)  # registered already: it sends all the same
    assert sorted(things(api)) == ["Station_1", "Station_2"]


@pytest.mark.parametrize(
    ("command", "made", "key", "count", "total"),
    [
        (["car-fleet", "--cars", "1", "--minutes", "1"], ["Car1.Main"], "car1/fuel", 6, 6 * 7),
        (["weather-station", "--stations", "1", "--minutes", "3"], ["Station_1"], "station1/rain", 3, 3 * 6),
    ],
    ids=["car-fleet", "weather-station"],
)
def test_iotstream_simulate_registers_and_sends_through_the_client(
    api: httpx.Client, tmp_path: Path, command: list[str], made: list[str], key: str, count: int, total: int
) -> None:
    done = run(*CLI[1:], "simulate", *command, "--url", str(api.base_url), "--speed", "0", cwd=tmp_path)
    assert f"sent {total} readings" in done.stdout
    assert sorted(things(api)) == made
    assert len(stored(api, {key}, count)[key]) == count


def test_iotstream_simulate_car_fleet_help(tmp_path: Path) -> None:
    done = run(*CLI[1:], "simulate", "car-fleet", "--help", cwd=tmp_path)
    for option in ("--url", "--token", "--cars", "--minutes", "--speed", "--seed"):
        assert option in done.stdout

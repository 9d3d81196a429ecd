"""The car fleet simulator: the same seed gives the same drive; cars move continuously by what their
speed covers, burn fuel and fill up only when stopped; they are registered as iot4cps registered car 1."""

import json
import math
from collections import defaultdict
from itertools import pairwise
from pathlib import Path

import pytest

from iotstream.client import Sensor
from iotstream.sim.car_fleet import CAR_1, RESERVE_L, TANK_L, CarFleet, car_fleet_readings, car_fleet_things

FIXTURES = Path(__file__).parents[2] / "fixtures"
T0 = 1_704_067_200_000  # 2024-01-01 (UTC)
SALZBURG = (47.8095, 13.0550)
CARS = range(1, 6)
Series = dict[str, list[float]]


@pytest.fixture(scope="module")
def half_a_day() -> Series:
    """Five cars' values by datastream over 12 hours: long enough for some to fill up."""
    series: Series = defaultdict(list)
    for reading in car_fleet_readings(CarFleet(T0, minutes=12 * 60, cars=5, seed=3)):
        series[reading["datastream"]].append(reading["value"])
    return series


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


def test_the_same_seed_gives_the_same_drive() -> None:
    fleet = CarFleet(T0, minutes=30, cars=3, seed=7)
    assert list(car_fleet_readings(fleet)) == list(car_fleet_readings(fleet))
    assert list(car_fleet_readings(fleet)) != list(car_fleet_readings(CarFleet(T0, 30, 3, seed=8)))


def test_every_car_reports_each_field_every_interval() -> None:
    readings = list(car_fleet_readings(CarFleet(T0, minutes=2, cars=2)))
    fields = ["temperature", "acceleration", "latitude", "longitude", "altitude", "speed", "fuel"]
    tick = [f"car{n}/{field}" for n in (1, 2) for field in fields]
    assert [r["datastream"] for r in readings] == tick * 12
    assert sorted({r["time"] for r in readings}) == [T0 + i * 10_000 for i in range(12)]
    assert all(isinstance(r["value"], float) for r in readings)


def test_positions_move_continuously_by_what_the_speed_covers(half_a_day: Series) -> None:
    for car in CARS:
        points = list(zip(half_a_day[f"car{car}/latitude"], half_a_day[f"car{car}/longitude"], strict=True))
        speeds = [kmh / 3.6 for kmh in half_a_day[f"car{car}/speed"]]
        for step, (here, there) in enumerate(pairwise(points)):
            covered = (speeds[step] + speeds[step + 1]) / 2 * 10  # m in 10 s
            assert distance_m(here, there) == pytest.approx(covered, rel=0.005, abs=0.5), (car, step)
        assert max(distance_m(p, SALZBURG) for p in points) < 17_000  # they keep to the city


def test_speed_acceleration_altitude_and_temperature_are_plausible(half_a_day: Series) -> None:
    for car in CARS:
        speed, peaks = half_a_day[f"car{car}/speed"], half_a_day[f"car{car}/acceleration"]
        assert min(speed) == 0  # cars stop now and then
        assert max(speed) < 140  # km/h
        assert min(peaks) >= 0
        assert max(peaks) < 10  # m/s²
        # the peak acceleration since the previous reading is at least the average one
        mean = [abs(after - before) / 3.6 / 10 for before, after in pairwise(speed)]
        assert all(peak >= change - 0.01 for peak, change in zip(peaks[1:], mean, strict=True))
        assert all(300 < metres < 600 for metres in half_a_day[f"car{car}/altitude"])
        assert all(-25 < celsius < 25 for celsius in half_a_day[f"car{car}/temperature"])  # a January


def test_fuel_goes_down_and_up_only_to_a_full_tank_while_stopped(half_a_day: Series) -> None:
    refills = 0
    for car in CARS:
        fuel, speed = half_a_day[f"car{car}/fuel"], half_a_day[f"car{car}/speed"]
        assert all(0 < litres <= TANK_L for litres in fuel)
        for step, (before, after) in enumerate(pairwise(fuel), 1):
            if after > before:
                assert (after, speed[step]) == (TANK_L, 0.0), (car, step)
                assert before < RESERVE_L + 0.1  # it filled up because it ran low
                refills += 1
    assert refills >= 3


def test_car_1s_registration_is_the_recorded_iot4cps_payload() -> None:
    recorded = json.loads((FIXTURES / "panta_rhei_carfleet_car1_instances.json").read_text())
    assert recorded == CAR_1


def test_each_car_is_registered_as_car_1_numbered_with_speed_and_fuel() -> None:
    fleet = CarFleet(T0, minutes=1, cars=2)
    (first, first_streams), (second, second_streams) = car_fleet_things(fleet)
    assert (first.name, second.name) == ("Car1.Main", "Car2.Main")
    assert "demo Car 2 " in second.description
    recorded = [d["name"] for d in CAR_1["Datastreams"].values()]
    assert [d.name for d in first_streams] == [*recorded, "Speed", "Fuel Level"]
    assert {d.key for d in first_streams + second_streams} == {
        r["datastream"] for r in car_fleet_readings(fleet)
    }
    gps = {d.sensor for d in second_streams if d.name in ("Latitude", "Longitude", "Attitude", "Speed")}
    assert len(gps) == 1  # one GPS module: register it once and share it, as the payload does
    assert [sensor.name for sensor in gps if isinstance(sensor, Sensor)] == ["EM-506 GPS module"]
    assert len({d.sensor for d in second_streams}) == 4

"""The weather station simulator: the same seed gives the same weather, and the weather is plausible:
humidity within 0-100 and high while it rains, wind and rain never negative, directions within a circle,
temperatures near the iot4cps generator's curve and changing smoothly."""

from collections import defaultdict
from itertools import pairwise

import pytest

from iotstream.sim.weather_station import (
    QUANTITIES,
    WeatherStations,
    seasonal_temperature,
    weather_station_readings,
    weather_station_things,
)

T0 = 1_704_067_200_000  # 2024-01-01 (UTC)
Series = dict[str, list[tuple[int, float]]]


@pytest.fixture(scope="module")
def two_weeks() -> Series:
    """Two stations' (time, value) by datastream over 14 days, a reading a minute."""
    series: Series = defaultdict(list)
    for reading in weather_station_readings(WeatherStations(T0, minutes=14 * 1440, stations=2, seed=5)):
        series[reading["datastream"]].append((reading["time"], reading["value"]))
    return series


def values(series: Series, key: str) -> list[float]:
    return [value for _, value in series[key]]


def test_the_same_seed_gives_the_same_weather() -> None:
    spec = WeatherStations(T0, minutes=120, stations=2, seed=1)
    assert list(weather_station_readings(spec)) == list(weather_station_readings(spec))
    assert list(weather_station_readings(spec)) != list(weather_station_readings(WeatherStations(T0, 120, 2)))


def test_every_station_reports_each_quantity_every_minute() -> None:
    readings = list(weather_station_readings(WeatherStations(T0, minutes=3, stations=2)))
    tick = [f"station{n}/{q.key}" for n in (1, 2) for q in QUANTITIES]
    assert [r["datastream"] for r in readings] == tick * 3
    assert sorted({r["time"] for r in readings}) == [T0, T0 + 60_000, T0 + 120_000]
    assert all(isinstance(r["value"], float) for r in readings)


def test_humidity_wind_rain_and_pressure_stay_in_their_ranges(two_weeks: Series) -> None:
    for station in ("station1", "station2"):
        assert all(0 <= h <= 100 for h in values(two_weeks, f"{station}/humidity"))
        assert all(0 <= w < 60 for w in values(two_weeks, f"{station}/wind-speed"))
        assert all(0 <= d < 360 for d in values(two_weeks, f"{station}/wind-direction"))
        assert all(950 <= p <= 1060 for p in values(two_weeks, f"{station}/pressure"))
        rain = values(two_weeks, f"{station}/rain")
        assert min(rain) == 0
        assert 0 < sum(r > 0 for r in rain) < len(rain) / 2  # it rains, now and then


def test_the_air_is_moister_while_it_rains(two_weeks: Series) -> None:
    rain, humidity = values(two_weeks, "station1/rain"), values(two_weeks, "station1/humidity")
    wet = [h for r, h in zip(rain, humidity, strict=True) if r > 0]
    dry = [h for r, h in zip(rain, humidity, strict=True) if r == 0]
    assert sum(wet) / len(wet) > sum(dry) / len(dry) + 5
    assert max(wet) > 95


def test_temperatures_follow_the_iot4cps_curve_smoothly(two_weeks: Series) -> None:
    # station 1 is iot4cps' station_1: average 2.5 °C, day and year amplitudes 5 and -5
    temperature = two_weeks["station1/temperature"]
    assert all(abs(t - seasonal_temperature(time, 2.5, 5.0, -5.0)) < 8.5 for time, t in temperature)
    assert all(abs(b - a) < 1.0 for (_, a), (_, b) in pairwise(temperature))  # °C a minute


def test_the_stations_are_registered_with_the_keys_they_send_to() -> None:
    spec = WeatherStations(T0, minutes=1, stations=2)
    things = weather_station_things(spec)
    assert [thing.name for thing, _ in things] == ["Station_1", "Station_2"]
    keys = {d.key for _, datastreams in things for d in datastreams}
    assert keys == {r["datastream"] for r in weather_station_readings(spec)}
    temperature = things[0][1][0]
    assert (temperature.name, temperature.unit) == ("Air Temperature", QUANTITIES[0].unit)
    assert QUANTITIES[0].unit.symbol == "degC"  # so threshold rules with a `unit` convert it

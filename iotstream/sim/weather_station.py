"""The weather stations of the iot4cps weather service, reading by reading.

Every `interval_ms` (1 min) each station reports air temperature (°C), relative humidity (%), air
pressure (hPa), wind speed (m/s), wind direction (degrees clockwise from north, in [0, 360)) and the
rain that fell since its previous reading (mm). The temperature is the iot4cps generator's:
average + day_amplitude·cos(2π(t - 14 h)/1 d) + year_amplitude·cos(2π t/1 y) + m, where m is a random
walk of N(0, 0.1) steps pushed back by 0.1 beyond ±7.5 (the original peaks at midnight UTC; this one
at 14:00, like the weather). The humidity comes from a dew point that drifts below the temperature
(Magnus formula), so it stays within 0-100 and nears 100 while it rains. Rain starts more readily
when the pressure is low, and so does the wind.

The generator is pure (a seed, no clock), so tests can replay exactly what a simulator sent.
"""

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from iotstream.client.registry import Datastream, ObservedProperty, Sensor, Thing, Unit

__all__ = [
    "QUANTITIES",
    "Drift",
    "Quantity",
    "WeatherStations",
    "seasonal_temperature",
    "weather_station_readings",
    "weather_station_things",
]

_DAY_S = 86_400
_YEAR_S = 365.25 * _DAY_S
_PEAK_S = 14 * 3600  # the warmest time of day (UTC)
_UNIT = "http://qudt.org/vocab/unit/"
_KIND = "http://qudt.org/vocab/quantitykind/"
_SYSTEM = "is.iceland.iot4cps-wp5-WeatherService.Stations"


class Quantity(NamedTuple):
    """What a station measures: the key's last part, the Datastream's name and unit, its Sensor, and
    the QUDT quantity kind its ObservedProperty is defined by."""

    key: str
    name: str
    unit: Unit
    sensor: str
    kind: str


QUANTITIES = (
    Quantity(
        "temperature",
        "Air Temperature",
        Unit("DegreeCelsius", "degC", f"{_UNIT}DEG_C"),
        "Thermometer",
        "AirTemperature",
    ),
    Quantity(
        "humidity",
        "Relative Humidity",
        Unit("Percent", "%", f"{_UNIT}PERCENT"),
        "Hygrometer",
        "RelativeHumidity",
    ),
    Quantity(
        "pressure",
        "Air Pressure",
        Unit("Hectopascal", "hPa", f"{_UNIT}HectoPA"),
        "Barometer",
        "AtmosphericPressure",
    ),
    Quantity(
        "wind-speed", "Wind Speed", Unit("MeterPerSecond", "m/s", f"{_UNIT}M-PER-SEC"), "Anemometer", "Speed"
    ),
    Quantity(
        "wind-direction",
        "Wind Direction",
        Unit("DegreeAngle", "deg", f"{_UNIT}DEG"),
        "Wind vane",
        "PlaneAngle",
    ),
    Quantity("rain", "Precipitation", Unit("Millimetre", "mm", f"{_UNIT}MilliM"), "Rain gauge", "Length"),
)


@dataclass(frozen=True)
class WeatherStations:
    """Stations `<prefix>1`, `<prefix>2`, ... reporting from `start_ms` for `minutes`."""

    start_ms: int
    minutes: int
    stations: int = 1
    interval_ms: int = 60_000
    seed: int = 0
    prefix: str = "station"  # datastream keys are prefix + number + "/" + quantity ("station1/rain")


def seasonal_temperature(time_ms: int, average: float, day_amplitude: float, year_amplitude: float) -> float:
    """The iot4cps generator's temperature without its random walk, at `time_ms`."""
    t_s = time_ms / 1000
    day = day_amplitude * math.cos(2 * math.pi * (t_s - _PEAK_S) / _DAY_S)
    return average + day + year_amplitude * math.cos(2 * math.pi * t_s / _YEAR_S)


class Drift:
    """The iot4cps generator's random walk: N(0, 0.1) a sample, pushed back by 0.1 beyond ±7.5."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.value = 0.0

    def step(self) -> float:
        self.value += self._rng.gauss(0, 0.1)
        if abs(self.value) > 7.5:
            self.value -= math.copysign(0.1, self.value)
        return self.value


def weather_station_things(spec: WeatherStations) -> list[tuple[Thing, list[Datastream]]]:
    """Each station as a SensorThings Thing with its Datastreams, keyed as the readings are sent."""
    return [(_thing(n), _datastreams(spec.prefix, n)) for n in range(1, spec.stations + 1)]


def _thing(n: int) -> Thing:
    description = f"Weather station {n} of the iot4cps weather service"
    return Thing(f"Station_{n}", description, {"system": _SYSTEM})


def _datastreams(prefix: str, n: int) -> list[Datastream]:
    return [
        Datastream(
            q.name,
            q.unit,
            Sensor(q.sensor, f"{q.sensor} of weather station {n}"),
            ObservedProperty(q.name, f"{_KIND}{q.kind}"),
            description=f"{q.name} at weather station {n}",
            key=f"{prefix}{n}/{q.key}",
        )
        for q in QUANTITIES
    ]


def weather_station_readings(spec: WeatherStations) -> Iterator[dict[str, Any]]:
    """`{"datastream", "time" (epoch ms), "value"}` dicts, station after station at each tick."""
    rng = random.Random(spec.seed)
    stations = [_Station(rng, n) for n in range(1, spec.stations + 1)]
    for tick in range(spec.minutes * 60_000 // spec.interval_ms):
        now = spec.start_ms + tick * spec.interval_ms
        for station in stations:
            values = station.step(now, spec.interval_ms / 60_000)
            for quantity, value in zip(QUANTITIES, values, strict=True):
                key = f"{spec.prefix}{station.number}/{quantity.key}"
                yield {"datastream": key, "time": now, "value": value}


class _Station:
    """One station's weather, a step at a time (`minutes` of weather per step)."""

    def __init__(self, rng: random.Random, number: int) -> None:
        self.number = number
        self._rng = rng
        # the two recorded iot4cps stations (average 2.5 and 3.5 °C), then more of the same kind
        self._climate = (1.5 + number, 4.0 + number % 3, -(4.0 + number % 3))
        self._drift = Drift(rng)
        self._pressure = rng.gauss(1013, 6)
        self._spread = rng.uniform(1, 6)  # temperature minus dew point, °C
        self._wind = rng.uniform(1, 5)
        self._direction = rng.uniform(0, 360)
        self._rain_mm_h = 0.0  # 0 while dry

    def step(self, now_ms: int, minutes: float) -> tuple[float, ...]:
        """Temperature, humidity, pressure, wind speed and direction, and rain, in QUANTITIES' order."""
        temperature = seasonal_temperature(now_ms, *self._climate) + self._drift.step()
        self._pressure = self._toward(self._pressure, 1013, 0.001, 0.35, minutes, 950, 1060)
        rain_mm = self._rain(minutes)
        dry_spread = 0.3 if self._rain_mm_h else 5.0
        self._spread = self._toward(self._spread, dry_spread, 0.05, 0.15, minutes, 0, 20)
        low = max(0.0, 1013 - self._pressure)
        self._wind = self._toward(self._wind, 3 + 0.3 * low, 0.05, 0.3, minutes, 0, 60)
        self._direction = (self._direction + self._rng.gauss(0, 5 * math.sqrt(minutes))) % 360
        humidity = _relative_humidity(temperature, temperature - self._spread)
        return (
            round(temperature, 3),
            round(humidity, 1),
            round(self._pressure, 1),
            round(self._wind, 1),
            round(self._direction, 1) % 360,
            round(rain_mm, 2),
        )

    def _rain(self, minutes: float) -> float:
        """Millimetres fallen in this step: showers start more often when the pressure is low and
        last an hour on average."""
        if self._rain_mm_h:
            if self._rng.random() < minutes / 60:
                self._rain_mm_h = 0.0
        elif self._rng.random() < 0.002 * math.exp((1013 - self._pressure) / 8) * minutes:
            self._rain_mm_h = self._rng.expovariate(1 / 2.0) + 0.1
        return self._rain_mm_h * minutes / 60

    def _toward(
        self, value: float, mean: float, rate: float, noise: float, minutes: float, low: float, high: float
    ) -> float:
        """One step of a mean-reverting random walk (per minute: `rate` of the way back, `noise` sd)."""
        value += rate * (mean - value) * minutes + self._rng.gauss(0, noise * math.sqrt(minutes))
        return float(min(max(value, low), high))


def _relative_humidity(temperature: float, dew_point: float) -> float:
    """Magnus formula: saturation vapour pressure at the dew point over that at the temperature, in %."""

    def saturation(celsius: float) -> float:
        return math.exp(17.625 * celsius / (243.04 + celsius))

    return 100 * saturation(dew_point) / saturation(temperature)

"""The connected cars of the iot4cps car fleet, reading by reading.

Every `interval_ms` (10 s, as in iot4cps) each car reports its position (latitude, longitude and
altitude, from its GPS module), speed (km/h), fuel level (litres), air temperature (°C) and the
largest acceleration since its previous reading (m/s²). The cars drive around Salzburg: each heads
for a target speed (stopping now and then), turns gradually and keeps within 15 km of the city, so
its position moves continuously by what its speed covers; fuel goes down with the distance and the
idling time, and a car that runs low stops and fills up. The temperature is the iot4cps generator's
(see `weather_station`) with car 1's settings.

Each car is registered the way iot4cps registered its car 1 (`CAR_1`, the recorded SensorThings
instances), numbered, with Datastreams for speed and fuel added: `car_fleet_things` gives the client's
Things and Datastreams. The generator is pure (a seed, no clock), so tests can replay exactly what a
simulator sent.
"""

import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from iotstream.client.registry import Datastream, ObservedProperty, Sensor, Thing, Unit
from iotstream.sim.weather_station import Drift, seasonal_temperature

__all__ = [
    "CAR_1",
    "FIELDS",
    "RESERVE_L",
    "TANK_L",
    "CarFleet",
    "car_fleet_readings",
    "car_fleet_things",
]


# iot4cps' registration of its car 1, as recorded (../shared/fixtures/panta_rhei_carfleet_car1_instances.json,
# from panta_rhei's client/registerHelper.py instances): a Thing, its Sensors, and Datastreams naming their
# Thing and Sensor by these ids.
CAR_1: Mapping[str, Any] = {
    "Things": {
        "car": {
            "name": "Main",
            "description": "The main control of the demo Car 1 that is an unique system that provides "
            "and consumes data",
            "properties": {"specification": "https://www.salzburgresearch.at/projekt/iot4cps/"},
        }
    },
    "Sensors": {
        "temp-sensor": {
            "name": "PT100 temperature sensor",
            "description": "PT100 temperature sensor, 3-wire, model number: H2-013",
            "encodingType": "application/pdf",
            "metadata": "http://www.reissmann.com/fileadmin/templates/_media/produkte/pdf/st_pt_100_en.pdf",
        },
        "acceleration-sensor": {
            "name": "KAS901-04A acceleration sensor",
            "description": "1 axis acceleration sensor from Kelag, 4 V/g, model number: KAS901-04A",
            "encodingType": "application/pdf",
            "metadata": "https://www.distrelec.de/Web/Downloads/nu/al/KAS90x_eng_manual.pdf",
        },
        "GPS-sensor": {
            "name": "EM-506 GPS module",
            "description": "EM-506 high performance GPS module, GlobalSat, accuracy of 2.5 m.",
            "encodingType": "application/pdf",
            "metadata": "https://www.distrelec.de/Web/Downloads/_t/ds/EM-506_eng_tds.pdf",
        },
    },
    "Datastreams": {
        "temperature": {
            "name": "Air Temperature",
            "description": "Air temperature measured in the connected car 1",
            "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
            "unitOfMeasurement": {
                "name": "DegreeCelsius",
                "symbol": "degC",
                "definition": "http://www.qudt.org/qudt/owl/1.0.0/unit/Instances.html#DegreeCelsius",
            },
            "ObservedProperty": {
                "name": "Air Temperature",
                "description": "Air temperature measured in the connected car 1",
                "definition": "http://www.qudt.org/qudt/owl/1.0.0/quantity/Instances.html#AreaTemperature",
            },
            "Thing": "car",
            "Sensor": "temp-sensor",
        },
        "acceleration": {
            "name": "Acceleration",
            "description": "Maximum acceleration of the car that occurred after the previous measurement.",
            "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
            "unitOfMeasurement": {
                "name": "MeterPerSecondSquared",
                "symbol": "m s^-2",
                "abbreviation": "m/s^2",
                "definition": "http://www.qudt.org/qudt/owl/1.0.0/unit/Instances.html#MeterPerSecondSquared",
            },
            "ObservedProperty": {
                "name": "Maximum Acceleration",
                "description": "Maximum acceleration of the car that occurred after the previous "
                "measurement.",
                "definition": "http://www.qudt.org/qudt/owl/1.0.0/quantity/Instances.html#Acceleration",
            },
            "Thing": "car",
            "Sensor": "acceleration-sensor",
        },
        "GPS-position-latitude": {
            "name": "Latitude",
            "description": "Latitude of the car",
            "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
            "unitOfMeasurement": {
                "name": "DegreeAngle",
                "symbol": "deg",
                "definition": "http://www.qudt.org/qudt/owl/1.0.0/unit/Instances.html#DegreeAngle",
            },
            "ObservedProperty": {
                "name": "Latitude",
                "description": "Latitude of the car''s position.",
                "definition": "http://www.qudt.org/qudt/owl/1.0.0/quantity/Instances.html#Angle",
            },
            "Thing": "car",
            "Sensor": "GPS-sensor",
        },
        "GPS-position-longitude": {
            "name": "Longitude",
            "description": "Longitude of the car",
            "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
            "unitOfMeasurement": {
                "name": "DegreeAngle",
                "symbol": "deg",
                "definition": "http://www.qudt.org/qudt/owl/1.0.0/unit/Instances.html#DegreeAngle",
            },
            "ObservedProperty": {
                "name": "Longitude",
                "description": "Longitude of the car''s position.",
                "definition": "http://www.qudt.org/qudt/owl/1.0.0/quantity/Instances.html#Angle",
            },
            "Thing": "car",
            "Sensor": "GPS-sensor",
        },
        "GPS-position-attitude": {
            "name": "Attitude",
            "description": "Attitude of the car in meter above the sea level.",
            "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
            "unitOfMeasurement": {
                "name": "Meter",
                "symbol": "m",
                "definition": "http://www.qudt.org/qudt/owl/1.0.0/unit/Instances.html#Meter",
            },
            "ObservedProperty": {
                "name": "Attitude",
                "description": "Attitude of the car''s position in meter above the sea level.",
                "definition": "http://www.qudt.org/qudt/owl/1.0.0/quantity/Instances.html#Length",
            },
            "Thing": "car",
            "Sensor": "GPS-sensor",
        },
    },
}
_UNITS = "http://www.qudt.org/qudt/owl/1.0.0/unit/Instances.html"
_QUANTITIES = "http://www.qudt.org/qudt/owl/1.0.0/quantity/Instances.html"
# What car 1 did not register and the fleet sends too: its speed (from the GPS module) and fuel level.
_MORE: Mapping[str, Any] = {
    "Sensors": {
        "fuel-sensor": {
            "name": "Fuel level sender",
            "description": "Float in the fuel tank",
            "encodingType": "text/plain",
            "metadata": "",
        }
    },
    "Datastreams": {
        "speed": {
            "name": "Speed",
            "description": "Speed of the car over ground",
            "unitOfMeasurement": {
                "name": "KilometerPerHour",
                "symbol": "km/h",
                "definition": f"{_UNITS}#KilometerPerHour",
            },
            "ObservedProperty": {
                "name": "Speed",
                "description": "Speed of the car over ground.",
                "definition": f"{_QUANTITIES}#Velocity",
            },
            "Sensor": "GPS-sensor",
        },
        "fuel": {
            "name": "Fuel Level",
            "description": "Fuel left in the tank of the car",
            "unitOfMeasurement": {"name": "Liter", "symbol": "L", "definition": f"{_UNITS}#Liter"},
            "ObservedProperty": {
                "name": "Fuel Level",
                "description": "Fuel left in the car's tank.",
                "definition": f"{_QUANTITIES}#Volume",
            },
            "Sensor": "fuel-sensor",
        },
    },
}
# Each Datastream's key ends in its field ("car1/latitude"); the recorded "Attitude" is the altitude.
FIELDS = {
    "temperature": "temperature",
    "acceleration": "acceleration",
    "GPS-position-latitude": "latitude",
    "GPS-position-longitude": "longitude",
    "GPS-position-attitude": "altitude",
    "speed": "speed",
    "fuel": "fuel",
}
TANK_L = 50.0
RESERVE_L = 5.0  # a car with less stops at the next chance and fills up
_CENTRE = (47.8095, 13.0550)  # Salzburg
_RANGE_M = 15_000.0
_EARTH_M = 6_371_000.0
_SPEEDS_KMH = (0, 30, 50, 50, 70, 100)  # targets: city, main roads, the motorway, and stops


@dataclass(frozen=True)
class CarFleet:
    """Cars `<prefix>1`, `<prefix>2`, ... driving from `start_ms` for `minutes`."""

    start_ms: int
    minutes: int
    cars: int = 1
    interval_ms: int = 10_000
    seed: int = 0
    prefix: str = "car"  # datastream keys are prefix + number + "/" + field ("car1/speed")


def car_fleet_things(spec: CarFleet) -> list[tuple[Thing, list[Datastream]]]:
    """Each car as a SensorThings Thing with its Datastreams, built from `CAR_1` (numbered) and keyed as
    the readings are sent. A car's Datastreams measured by one instrument have equal `Sensor`s: register
    each once to share it, as the recorded payload does."""
    return [(_thing(n), _datastreams(spec.prefix, n)) for n in range(1, spec.cars + 1)]


def _numbered(text: str, n: int) -> str:
    return text.replace("Car 1", f"Car {n}").replace("car 1", f"car {n}")


def _thing(n: int) -> Thing:
    car = CAR_1["Things"]["car"]
    properties = car["properties"] | {"system": f"cz.icecars.iot4cps-wp5-CarFleet.Car{n}"}
    return Thing(f"Car{n}.{car['name']}", _numbered(car["description"], n), properties)


def _datastreams(prefix: str, n: int) -> list[Datastream]:
    sensors = CAR_1["Sensors"] | _MORE["Sensors"]
    return [
        _datastream(document, sensors[document["Sensor"]], f"{prefix}{n}/{FIELDS[name]}", n)
        for name, document in (CAR_1["Datastreams"] | _MORE["Datastreams"]).items()
    ]


def _datastream(document: Mapping[str, Any], sensor: Mapping[str, str], key: str, n: int) -> Datastream:
    unit, quantity = document["unitOfMeasurement"], document["ObservedProperty"]
    return Datastream(
        document["name"],
        Unit(unit["name"], unit["symbol"], unit["definition"]),
        Sensor(sensor["name"], sensor["description"], sensor["encodingType"], sensor["metadata"]),
        ObservedProperty(quantity["name"], quantity["definition"], _numbered(quantity["description"], n)),
        description=_numbered(document["description"], n),
        key=key,
    )


def car_fleet_readings(spec: CarFleet) -> Iterator[dict[str, Any]]:
    """`{"datastream", "time" (epoch ms), "value"}` dicts, car after car at each tick."""
    rng = random.Random(spec.seed)
    cars = [_Car(rng) for _ in range(spec.cars)]
    for tick in range(spec.minutes * 60_000 // spec.interval_ms):
        now = spec.start_ms + tick * spec.interval_ms
        for number, car in enumerate(cars, 1):
            for field, value in car.step(now, spec.interval_ms / 1000).items():
                yield {"datastream": f"{spec.prefix}{number}/{field}", "time": now, "value": value}


class _Car:
    """One car's drive, a step at a time."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._lat, self._lon = _moved(*_CENTRE, rng.uniform(0, 360), rng.uniform(0, 5_000))
        self._heading = rng.uniform(0, 360)
        self._speed = 0.0  # m/s, as every speed here but the readings' km/h
        self._target = rng.choice(_SPEEDS_KMH) / 3.6
        self._fuel = rng.uniform(RESERVE_L + 3, TANK_L)
        self._drift = Drift(rng)

    def step(self, now_ms: int, seconds: float) -> dict[str, float]:
        """The readings at `now_ms`, `seconds` after the previous ones, by FIELDS' values."""
        rng, before = self._rng, self._speed
        if rng.random() < seconds / 90:
            self._target = rng.choice(_SPEEDS_KMH) / 3.6
        if self._fuel < RESERVE_L:
            self._target = 0.0  # to the fuel station
        change = min(max(self._target - before, -3.0 * seconds), 1.5 * seconds)  # brakes, engine
        noise = rng.gauss(0, 0.3) if self._target else 0.0
        self._speed = max(0.0, before + change + noise)
        distance = (before + self._speed) / 2 * seconds
        self._turn(distance)
        self._lat, self._lon = _moved(self._lat, self._lon, self._heading, distance)
        self._fuel -= distance / 100_000 * _litres_per_100_km(self._speed) + 0.8 * seconds / 3600
        if self._fuel < RESERVE_L and self._speed == 0:
            self._fuel = TANK_L
        return {
            "temperature": round(seasonal_temperature(now_ms, 3.0, 4.0, -4.0) + self._drift.step(), 3),
            "acceleration": round(abs(self._speed - before) / seconds * rng.uniform(1, 1.5), 3),  # the peak
            "latitude": round(self._lat, 6),
            "longitude": round(self._lon, 6),
            "altitude": round(_terrain_m(self._lat, self._lon), 1),
            "speed": round(self._speed * 3.6, 1),
            "fuel": round(self._fuel, 3),
        }

    def _turn(self, distance: float) -> None:
        """Wander while driving; head back towards the city beyond `_RANGE_M` of its centre."""
        if not distance:
            return
        self._heading += self._rng.gauss(0, 10)
        north, east = _offset_m(self._lat, self._lon)
        if math.hypot(north, east) > _RANGE_M:
            home = math.degrees(math.atan2(-east, -north))
            off = (home - self._heading + 180) % 360 - 180
            self._heading += max(-30.0, min(30.0, off))
        self._heading %= 360


def _moved(lat: float, lon: float, bearing_deg: float, distance_m: float) -> tuple[float, float]:
    """The position `distance_m` away along `bearing_deg` (flat-earth steps: a few hundred metres)."""
    bearing = math.radians(bearing_deg)
    north, east = distance_m * math.cos(bearing), distance_m * math.sin(bearing)
    return (
        lat + math.degrees(north / _EARTH_M),
        lon + math.degrees(east / (_EARTH_M * math.cos(math.radians(lat)))),
    )


def _offset_m(lat: float, lon: float) -> tuple[float, float]:
    """Metres north and east of the city centre."""
    north = math.radians(lat - _CENTRE[0]) * _EARTH_M
    return north, math.radians(lon - _CENTRE[1]) * _EARTH_M * math.cos(math.radians(lat))


def _litres_per_100_km(speed_m_s: float) -> float:
    """Most economical at 60 km/h."""
    return 5.5 + 0.0008 * (speed_m_s * 3.6 - 60) ** 2


def _terrain_m(lat: float, lon: float) -> float:
    """Height above sea level: the Salzach valley's 430 m with gentle hills a couple of km across."""
    return 430 + 40 * math.sin(lat * 300) * math.cos(lon * 200)

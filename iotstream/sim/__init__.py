"""Simulated devices of the seed scenarios: readings as devices would send them, in arrival order."""

from iotstream.sim.car_fleet import CarFleet, car_fleet_readings, car_fleet_things
from iotstream.sim.smart_home import SmartHome, smart_home_readings
from iotstream.sim.temperature import TemperatureSensors, temperature_readings
from iotstream.sim.weather_station import WeatherStations, weather_station_readings, weather_station_things

__all__ = [
    "CarFleet",
    "SmartHome",
    "TemperatureSensors",
    "WeatherStations",
    "car_fleet_readings",
    "car_fleet_things",
    "smart_home_readings",
    "temperature_readings",
    "weather_station_readings",
    "weather_station_things",
]

"""Simulated devices of the seed scenarios: readings as devices would send them, in arrival order."""

from iotstream.sim.smart_home import SmartHome, smart_home_readings
from iotstream.sim.temperature import TemperatureSensors, temperature_readings

__all__ = ["SmartHome", "TemperatureSensors", "smart_home_readings", "temperature_readings"]

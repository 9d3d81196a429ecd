"""The OMA/IPSO objects iotstream knows by name: what a resource is called, its type and its unit.

IPSO sensor objects (3300 to 3350) share their resources: 5700 is the sensor value, in the unit the
object measures (Cel for 3303 Temperature, %RH for 3304 Humidity, ...). The registry leaves that unit
to the object's description, so `objects.json` names it per object. A resource of an object not listed
here still gets a reading; it is named by its path and has no unit.
"""

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["Resource", "describe"]

# The resources every IPSO sensor object has: id → (name, type, unit None = the object's unit)
_IPSO_SENSOR = {
    5601: ("Min Measured Value", "float"),
    5602: ("Max Measured Value", "float"),
    5603: ("Min Range Value", "float"),
    5604: ("Max Range Value", "float"),
    5605: ("Reset Min and Max Measured Values", "none"),
    5700: ("Sensor Value", "float"),
    5701: ("Sensor Units", "string"),
    5750: ("Application Type", "string"),
}
_MEASURED = {5601, 5602, 5603, 5604, 5700}  # resources in the object's unit


@dataclass(frozen=True)
class Resource:
    name: str  # "Temperature Sensor Value": the object's name, then the resource's
    type: str  # string, integer, float, boolean, time, opaque, objlnk, or none (executable)
    unit: str | None  # UCUM, as SenML units are


def describe(object_id: int, resource_id: int) -> Resource | None:
    """What resource `/object_id/*/resource_id` is, if iotstream knows.

    >>> describe(3303, 5700)
    Resource(name='Temperature Sensor Value', type='float', unit='Cel')
    >>> describe(3, 9)
    Resource(name='Device Battery Level', type='integer', unit='%')
    """
    known = _objects().get(object_id)
    if known is None:
        return None
    name, resources = known["name"], known.get("resources")
    if resources is not None:
        listed = resources.get(str(resource_id))
        return None if listed is None else Resource(f"{name} {listed[0]}", listed[1], listed[2])
    if resource_id not in _IPSO_SENSOR:
        return None
    resource, kind = _IPSO_SENSOR[resource_id]
    return Resource(f"{name} {resource}", kind, known["unit"] if resource_id in _MEASURED else None)


@cache
def _objects() -> dict[int, dict[str, Any]]:
    document = json.loads(Path(__file__).with_name("objects.json").read_text())
    return {int(object_id): entry for object_id, entry in document.items()}

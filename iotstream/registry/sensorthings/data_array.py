"""The dataArray format (SensorThings 1.1, the Data Array extension): Observations as compact tables,
one per Datastream, in answer to `$resultFormat=dataArray` and as the body of CreateObservations.
"""

from typing import Any

from iotstream.registry.sensorthings.errors import BadRequest
from iotstream.registry.sensorthings.observations import parse_observation_id

__all__ = ["COMPONENTS", "as_data_array", "check_result_format", "rows_to_bodies"]

COMPONENTS = ("id", "phenomenonTime", "resultTime", "result", "resultQuality", "validTime", "parameters")
_FEATURE = "FeatureOfInterest/id"


def check_result_format(value: str | None, *, observations: bool) -> bool:
    """Whether the answer is a data array; anything but `dataArray`, or it on other entities, is a 400."""
    if value is None:
        return False
    if value != "dataArray":
        raise BadRequest(f"$resultFormat {value!r} is not known; SensorThings has dataArray")
    if not observations:
        raise BadRequest("$resultFormat=dataArray applies to Observations only")
    return True


def as_data_array(document: dict[str, Any], select: tuple[str, ...], base: str) -> dict[str, Any]:
    """A collection of Observation JSON regrouped by Datastream, in the order they were listed; the
    components are the selected properties, or all of them."""
    components = [_component(name) for name in select if _component(name) in COMPONENTS] or list(COMPONENTS)
    tables: dict[tuple[str, int], list[list[Any]]] = {}
    for observation in document["value"]:
        datastream_id, _ = parse_observation_id(observation["@iot.id"])
        owner = "MultiDatastream" if "MultiDatastream@iot.navigationLink" in observation else "Datastream"
        row = [observation["@iot.id"] if name == "id" else observation.get(name) for name in components]
        tables.setdefault((owner, datastream_id), []).append(row)
    value = [
        {
            f"{owner}@iot.navigationLink": f"{base}/{owner}s({datastream_id})",
            "components": components,
            "dataArray@iot.count": len(rows),
            "dataArray": rows,
        }
        for (owner, datastream_id), rows in tables.items()
    ]
    return {key: item for key, item in document.items() if key != "value"} | {"value": value}


def _component(name: str) -> str:
    return "id" if name == "@iot.id" else name


def rows_to_bodies(index: int, components: Any, rows: Any) -> list[dict[str, Any]]:
    """CreateObservations rows as Observation bodies; `FeatureOfInterest/id` becomes a reference."""
    if not isinstance(components, list) or not isinstance(rows, list):
        raise BadRequest(f"item {index}: components and dataArray must be arrays")
    unknown = [c for c in components if c not in (*COMPONENTS[1:], _FEATURE)]
    if unknown:
        raise BadRequest(
            f"item {index}: unknown component {unknown[0]!r}; use {', '.join((*COMPONENTS[1:], _FEATURE))}"
        )
    bodies = []
    for row in rows:
        if not isinstance(row, list) or len(row) != len(components):
            raise BadRequest(f"item {index}: every dataArray row must have {len(components)} values")
        body = dict(zip(components, row, strict=True))
        if _FEATURE in body:
            body["FeatureOfInterest"] = {"@iot.id": body.pop(_FEATURE)}
        bodies.append(body)
    return bodies

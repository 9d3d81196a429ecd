"""SensorThings' MultiDatastream extension: the rules a MultiDatastream and its Observations follow.

A MultiDatastream's result is an array with one value per ObservedProperty, in their order; its
`unitOfMeasurements` and `multiObservationDataTypes` describe the values in the same order, so the
three have the same length. The order is kept with a position per link (an ObservedProperty may
appear twice), and never changes: every stored result is read by it.
"""

from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from iotstream.registry import models
from iotstream.registry.sensorthings.errors import BadRequest

__all__ = ["COMPLEX_OBSERVATION", "check_result", "complete", "link_observed_properties", "linked"]

COMPLEX_OBSERVATION = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_ComplexObservation"


def complete(row: models.MultiDatastream, observed: int) -> None:
    """Checks a MultiDatastream against the number of ObservedProperties it is given or has."""
    row.observation_type = row.observation_type or COMPLEX_OBSERVATION
    if row.observation_type != COMPLEX_OBSERVATION:
        raise BadRequest(
            f"a MultiDatastream's observationType is {COMPLEX_OBSERVATION}, not {row.observation_type!r}"
        )
    units, kinds = row.unit_of_measurements, row.multi_observation_data_types
    if not isinstance(units, list) or not all(isinstance(unit, dict) for unit in units):
        raise BadRequest("MultiDatastream.unitOfMeasurements must be an array of unitOfMeasurement objects")
    if not isinstance(kinds, list) or not all(isinstance(kind, str) for kind in kinds):
        raise BadRequest(
            "MultiDatastream.multiObservationDataTypes must be an array of observation type URIs"
        )
    if not observed:
        raise BadRequest("a MultiDatastream needs its ObservedProperties: give ObservedProperties: [...]")
    if not len(units) == len(kinds) == observed:
        raise BadRequest(
            f"a MultiDatastream has one unitOfMeasurement and one multiObservationDataType per"
            f" ObservedProperty: got {len(units)}, {len(kinds)} and {observed}"
        )


def link_observed_properties(
    session: Session, row: models.MultiDatastream, observed: list[models.ObservedProperty]
) -> None:
    """The links in their order, written once the MultiDatastream and new ObservedProperties have ids."""
    session.flush()
    table = models.multi_datastream_observed_properties
    session.execute(
        insert(table),
        [
            {"multi_datastream_id": row.id, "position": position, "observed_property_id": prop.id}
            for position, prop in enumerate(observed)
        ],
    )
    session.expire(row, ["observed_properties"])


def linked(session: Session, row: models.MultiDatastream) -> int:
    """How many ObservedProperty links it has (its relationship lists one named twice once)."""
    table = models.multi_datastream_observed_properties
    count = session.scalar(select(func.count()).where(table.c.multi_datastream_id == row.id))
    return int(count or 0)


def check_result(row: models.Stream, result: Any) -> None:
    """A MultiDatastream's Observation has one value per ObservedProperty (its units say how many)."""
    if not isinstance(row, models.MultiDatastream):
        return
    width = len(row.unit_of_measurements or ())
    if not isinstance(result, list) or len(result) != width:
        raise BadRequest(
            f"an Observation of MultiDatastream {row.id} has a result array of {width} values, one per"
            f" ObservedProperty, got {result!r}"
        )

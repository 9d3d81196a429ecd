"""Observations are readings in the time-series store. A reading is identified by its Datastream and its
phenomenon time (the store keeps one reading per instant), so its `@iot.id` is "<datastream id>-<epoch
ms>": stable, and found again without any index. SensorThings extras (resultQuality, validTime,
parameters, an interval's end, a FeatureOfInterest) are kept in the catalog under the same key.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from iotstream._units import iso_ms
from iotstream.models import Observation
from iotstream.registry import models
from iotstream.registry.sensorthings import pyfilter, values
from iotstream.registry.sensorthings.entities import OBSERVATIONS
from iotstream.registry.sensorthings.errors import NotFound
from iotstream.registry.sensorthings.json import next_link
from iotstream.registry.sensorthings.odata import Query, QueryError
from iotstream.storage import BaseStorage

__all__ = ["MAX_SCAN", "ObservationReader", "observation_id", "parse_observation_id"]

MAX_SCAN = 200_000  # readings one request may look at; beyond, the client narrows phenomenonTime


def observation_id(datastream_id: int, time_ms: int) -> str:
    return f"{datastream_id}-{time_ms}"


def parse_observation_id(text: str) -> tuple[int, int]:
    datastream, _, time_ms = text.strip("'").partition("-")
    if not (datastream.isdigit() and time_ms.isdigit()):
        raise NotFound(f"no Observation {text!r}: Observation ids look like '<datastream id>-<epoch ms>'")
    return int(datastream), int(time_ms)


@dataclass(frozen=True)
class _Reading:
    datastream: models.Datastream
    observation: Observation
    extras: models.ObservationExtras | None

    @property
    def id(self) -> str:
        return observation_id(self.datastream.id, self.observation.phenomenon_time_ms)


class ObservationReader:
    def __init__(self, session: Session, storage: BaseStorage, base: str) -> None:
        self._session = session
        self._storage = storage
        self._base = base

    def one(self, text_id: str, query: Query) -> dict[str, Any]:
        datastream_id, time_ms = parse_observation_id(text_id)
        datastream = self._session.get(models.Datastream, datastream_id)
        found = self._read(datastream, time_ms, time_ms + 1) if datastream else []
        if not found:
            raise NotFound(f"no Observation {text_id!r}")
        return self.json(found[0], query)

    def collection(
        self, datastreams: list[models.Datastream], query: Query, page_url: str = ""
    ) -> dict[str, Any]:
        for path in values.members(query.filter) + [values.segments(o.expression) for o in query.orderby]:
            _check_member(path)
        start, end = pyfilter.time_bounds(query.filter)
        wanted = query.skip + query.limit + 1
        whole = query.count or bool(query.orderby)  # every match is needed, not just the first page
        matches: list[_Reading] = []
        scanned = 0
        for datastream in datastreams:
            readings = self._read(datastream, start, end)
            scanned += len(readings)
            if scanned > MAX_SCAN:
                raise QueryError(
                    f"the query would read more than {MAX_SCAN} observations; narrow it with a"
                    " phenomenonTime range in $filter or query one Datastream's Observations"
                )
            matches += [r for r in readings if self._matches(r, query)]
            if not whole and len(matches) >= wanted:
                break
        if query.orderby:
            matches = self._ordered(matches, query)
        document: dict[str, Any] = {"@iot.count": len(matches)} if query.count else {}
        page = matches[query.skip : query.skip + query.limit]
        if len(matches) > query.skip + query.limit and page_url:
            document["@iot.nextLink"] = next_link(page_url, query.skip + query.limit, query.limit)
        document["value"] = [self.json(reading, query) for reading in page]
        return document

    def _read(self, datastream: models.Datastream, start: int, end: int) -> list[_Reading]:
        observations = self._storage.raw(datastream.key, start, end, limit=MAX_SCAN + 1)
        if not observations:
            return []
        extras = {
            e.phenomenon_time_ms: e
            for e in self._session.scalars(
                select(models.ObservationExtras).where(
                    models.ObservationExtras.datastream_id == datastream.id,
                    models.ObservationExtras.phenomenon_time_ms >= observations[0].phenomenon_time_ms,
                    models.ObservationExtras.phenomenon_time_ms <= observations[-1].phenomenon_time_ms,
                )
            )
        }
        return [_Reading(datastream, o, extras.get(o.phenomenon_time_ms)) for o in observations]

    def _matches(self, reading: _Reading, query: Query) -> bool:
        if query.filter is None:
            return True
        return pyfilter.evaluate(query.filter, lambda path: self._member(reading, path))

    def _ordered(self, readings: list[_Reading], query: Query) -> list[_Reading]:
        for order in reversed(query.orderby):  # stable sorts, last key first
            path = values.segments(order.expression)

            def key(reading: _Reading, path: list[str] = path) -> tuple[int, Any]:
                value = self._member(reading, path)
                return (0, "") if value is None else (1, _sortable(value))

            readings = sorted(readings, key=key, reverse=order.descending)
        return readings

    def _member(self, reading: _Reading, path: list[str]) -> Any:
        head, *rest = path
        if head == "Datastream":
            return _datastream_member(reading.datastream, rest)
        if head == "FeatureOfInterest":
            return self._feature_member(reading, rest)
        value = _raw_properties(reading)[head]
        for name in rest:
            value = value.get(name) if isinstance(value, dict) else None
        return value

    def _feature_member(self, reading: _Reading, path: list[str]) -> Any:
        """The reading's FeatureOfInterest, read once per request (the session's identity map)."""
        key = reading.extras.feature_of_interest_id if reading.extras else None
        feature = self._session.get(models.FeatureOfInterest, key) if key is not None else None
        if feature is None:
            return None
        if path in (["id"], ["@iot.id"]):
            return feature.id
        return {
            "name": feature.name,
            "description": feature.description,
            "encodingType": feature.encoding_type,
            "feature": feature.feature,
        }[path[0]]

    def json(self, reading: _Reading, query: Query) -> dict[str, Any]:
        own = f"{self._base}/Observations('{reading.id}')"
        document = {
            "@iot.id": reading.id,
            "@iot.selfLink": own,
            **_stated(reading),
            "Datastream@iot.navigationLink": f"{own}/Datastream",
            "FeatureOfInterest@iot.navigationLink": f"{own}/FeatureOfInterest",
        }
        if query.select:
            wanted = set(query.select) | ({"@iot.id"} if "id" in query.select else set())
            document = {k: v for k, v in document.items() if k.split("@iot.navigationLink")[0] in wanted}
        return document


_FEATURE_PATHS = (["id"], ["@iot.id"], ["name"], ["description"], ["encodingType"], ["feature"])


def _check_member(path: list[str]) -> None:
    head = path[0]
    known = ["id", *(p.json for p in OBSERVATIONS.properties)]
    if head == "Datastream":
        if path[1:] not in (["id"], ["@iot.id"], ["name"], ["description"], ["observationType"]):
            raise QueryError(
                f"on Observations, $filter can follow Datastream to id, name or description, not {path}"
            )
    elif head == "FeatureOfInterest":
        if path[1:] not in _FEATURE_PATHS:
            raise QueryError(
                "on Observations, $filter can follow FeatureOfInterest to id, name, description,"
                f" encodingType or feature, not {path}"
            )
    elif head not in known:
        raise QueryError(
            f"Observation has no property {head!r}; it has {', '.join(known)}, Datastream, FeatureOfInterest"
        )


def _raw_properties(reading: _Reading) -> dict[str, Any]:
    observation, extras = reading.observation, reading.extras
    return {
        "id": reading.id,
        "phenomenonTime": observation.phenomenon_time_ms,
        "resultTime": observation.result_time_ms,
        "result": observation.result,
        "resultQuality": extras.result_quality if extras else None,
        "validTime": extras.valid_time if extras else None,
        "parameters": extras.parameters if extras else None,
    }


def _stated(reading: _Reading) -> dict[str, Any]:
    observation, extras = reading.observation, reading.extras
    phenomenon = iso_ms(observation.phenomenon_time_ms)
    if extras is not None and extras.phenomenon_end_ms is not None:
        phenomenon = f"{phenomenon}/{iso_ms(extras.phenomenon_end_ms)}"
    return {
        "phenomenonTime": phenomenon,
        "resultTime": iso_ms(observation.result_time_ms),
        "result": observation.result,
        "resultQuality": extras.result_quality if extras else None,
        "validTime": extras.valid_time if extras else None,
        "parameters": extras.parameters if extras else None,
    }


def _datastream_member(datastream: models.Datastream, path: list[str]) -> Any:
    if path in (["id"], ["@iot.id"]):
        return datastream.id
    if len(path) == 1 and path[0] in ("name", "description", "observationType"):
        return {"name": datastream.name, "description": datastream.description}.get(
            path[0], datastream.observation_type
        )
    raise QueryError(f"on Observations, $filter can follow Datastream to id, name or description, not {path}")


def _sortable(value: Any) -> Any:
    return value if isinstance(value, int | float | str) else str(value)

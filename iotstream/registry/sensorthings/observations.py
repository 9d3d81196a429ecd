"""Observations are readings in the time-series store. A reading is identified by its Datastream and its
phenomenon time (the store keeps one reading per instant), so its `@iot.id` is "<datastream id>-<epoch
ms>": stable, and found again without any index. SensorThings extras (resultQuality, validTime,
parameters, an interval's end, a FeatureOfInterest) are kept in the catalog under the same key.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from iotstream._units import iso_ms
from iotstream.models import Observation
from iotstream.registry import models
from iotstream.registry.sensorthings import pyfilter, values
from iotstream.registry.sensorthings.entities import ENTITY_SETS, OBSERVATIONS, EntitySet
from iotstream.registry.sensorthings.errors import NotFound
from iotstream.registry.sensorthings.json import next_link
from iotstream.registry.sensorthings.odata import Query, QueryError
from iotstream.storage import BaseStorage

__all__ = [
    "MAX_SCAN",
    "ObservationReader",
    "Source",
    "feature_sources",
    "observation_id",
    "parse_observation_id",
]

MAX_SCAN = 200_000  # readings one request may look at; beyond, the client narrows phenomenonTime


def observation_id(datastream_id: int, time_ms: int) -> str:
    return f"{datastream_id}-{time_ms}"


def parse_observation_id(text: str) -> tuple[int, int]:
    datastream, _, time_ms = text.strip("'").partition("-")
    if not (datastream.isdigit() and time_ms.isdigit()):
        raise NotFound(f"no Observation {text!r}: Observation ids look like '<datastream id>-<epoch ms>'")
    return int(datastream), int(time_ms)


@dataclass(frozen=True)
class Source:
    """Where a collection's Observations come from: a Datastream's readings, or only those at `times`
    (the Observations of one FeatureOfInterest)."""

    datastream: models.Stream  # a Datastream or a MultiDatastream
    times: frozenset[int] | None = None


def feature_sources(session: Session, feature_id: int) -> list[Source]:
    """The Observations of a FeatureOfInterest, found through the extras that link them to it."""
    extras = models.ObservationExtras
    rows = session.execute(
        select(extras.datastream_id, extras.phenomenon_time_ms).where(
            extras.feature_of_interest_id == feature_id
        )
    ).all()
    times: dict[int, set[int]] = {}
    for datastream_id, time_ms in rows:
        times.setdefault(datastream_id, set()).add(time_ms)
    return [
        Source(session.get_one(models.Stream, datastream_id), frozenset(found))
        for datastream_id, found in sorted(times.items())
    ]


_FEATURES = ENTITY_SETS["FeaturesOfInterest"]
# Renders a catalog entity with its own query options ($expand=Datastream($expand=Thing)).
EntityJson = Callable[[EntitySet, Any, Query], dict[str, Any]]


@dataclass(frozen=True)
class _Reading:
    datastream: models.Stream
    observation: Observation
    extras: models.ObservationExtras | None

    @property
    def id(self) -> str:
        return observation_id(self.datastream.id, self.observation.phenomenon_time_ms)

    @property
    def owner(self) -> str:
        """The link to what it is a reading of: "Datastream" or "MultiDatastream"."""
        return "MultiDatastream" if isinstance(self.datastream, models.MultiDatastream) else "Datastream"


class ObservationReader:
    def __init__(
        self,
        session: Session,
        storage: BaseStorage,
        base: str,
        entity_json: EntityJson,
        stream: Callable[[int], models.Stream | None],
    ) -> None:
        """`stream(id)`: the (Multi)Datastream with that id, if the caller may see it."""
        self._session = session
        self._storage = storage
        self._base = base
        self._entity_json = entity_json
        self._stream = stream

    def one(self, text_id: str, query: Query) -> dict[str, Any]:
        datastream_id, time_ms = parse_observation_id(text_id)
        datastream = self._stream(datastream_id)
        found = self._read(datastream, time_ms, time_ms + 1) if datastream else []
        if not found:
            raise NotFound(f"no Observation {text_id!r}")
        return self.json(found[0], query)

    def collection(self, sources: list[Source], query: Query, page_url: str = "") -> dict[str, Any]:
        for path in values.members(query.filter) + [values.segments(o.expression) for o in query.orderby]:
            check_path(OBSERVATIONS, path)
        _check_expand(query)
        start, end = pyfilter.time_bounds(query.filter)
        wanted = query.skip + query.limit + 1
        whole = query.count or bool(query.orderby)  # every match is needed, not just the first page
        matches: list[_Reading] = []
        scanned = 0
        for source in sources:
            readings = self._read_source(source, start, end)
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

    def _read_source(self, source: Source, start: int, end: int) -> list[_Reading]:
        if source.times is None:
            return self._read(source.datastream, start, end)
        if not source.times:
            return []
        start, end = max(start, min(source.times)), min(end, max(source.times) + 1)
        return [
            r
            for r in self._read(source.datastream, start, end)
            if r.observation.phenomenon_time_ms in source.times
        ]

    def _read(self, datastream: models.Stream, start: int, end: int) -> list[_Reading]:
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
        if head in ("Datastream", "MultiDatastream"):
            entities = ENTITY_SETS[head + "s"]
            owner = reading.datastream if isinstance(reading.datastream, entities.model) else None
            return follow(entities, owner, rest)
        if head == "FeatureOfInterest":
            return follow(ENTITY_SETS["FeaturesOfInterest"], self._feature(reading), rest)
        value = _raw_properties(reading)[head]
        for name in rest:
            value = value.get(name) if isinstance(value, dict) else None
        return value

    def _feature(self, reading: _Reading) -> models.FeatureOfInterest | None:
        """Read once per request (the session's identity map)."""
        key = reading.extras.feature_of_interest_id if reading.extras else None
        return self._session.get(models.FeatureOfInterest, key) if key is not None else None

    def json(self, reading: _Reading, query: Query) -> dict[str, Any]:
        own = f"{self._base}/Observations('{reading.id}')"
        document = {
            "@iot.id": reading.id,
            "@iot.selfLink": own,
            **_stated(reading),
            f"{reading.owner}@iot.navigationLink": f"{own}/{reading.owner}",
            "FeatureOfInterest@iot.navigationLink": f"{own}/FeatureOfInterest",
        }
        if query.select:
            wanted = set(query.select) | ({"@iot.id"} if "id" in query.select else set())
            document = {k: v for k, v in document.items() if k.split("@iot.navigationLink")[0] in wanted}
        for name, inner in query.expand.items():
            if name not in query.select:
                document.pop(f"{name}@iot.navigationLink", None)
            if name == "FeatureOfInterest":
                feature = self._feature(reading)
                document[name] = None if feature is None else self._entity_json(_FEATURES, feature, inner)
            elif name == reading.owner:
                document[name] = self._entity_json(ENTITY_SETS[name + "s"], reading.datastream, inner)
        return document


def _check_expand(query: Query) -> None:
    for name in query.expand:
        if OBSERVATIONS.link(name) is None:
            raise QueryError(
                f"$expand: Observation has no link {name!r}; it has Datastream, MultiDatastream,"
                " FeatureOfInterest"
            )


def check_path(entities: EntitySet, path: list[str]) -> None:
    """A path of to-one links ending in a property (`Datastream/Thing/name`), checked before reading."""
    for segment in path:
        if segment in ("id", "@iot.id") or entities.property(segment) is not None:
            return
        link = entities.link(segment)
        if link is None:
            links = ", ".join(k.json for k in entities.links if not k.many)
            raise QueryError(f"{entities.singular} has no property {segment!r} (nor a to-one link: {links})")
        if link.many:
            raise QueryError(
                f"{'/'.join(path)}: {entities.singular}/{segment} are many; on Observations, $filter and"
                " $orderby follow to-one links only"
            )
        entities = ENTITY_SETS[link.target]
    raise QueryError(f"{'/'.join(path)} is an entity, not a value: name one of its properties")


def follow(entities: EntitySet, row: Any, path: list[str]) -> Any:
    """The value at a checked path (see `check_path`) from a catalog row; None where a link is empty."""
    for index, segment in enumerate(path):
        if row is None:
            return None
        if segment in ("id", "@iot.id"):
            return row.id
        prop = entities.property(segment)
        if prop is not None:
            value = getattr(row, prop.column)
            for name in path[index + 1 :]:
                value = value.get(name) if isinstance(value, dict) else None
            return value
        link = entities.link(segment)
        if link is None:
            raise QueryError(
                f"{'/'.join(path)}: {entities.singular} has no {segment!r}"
            )  # check_path says why
        entities, row = ENTITY_SETS[link.target], getattr(row, link.attribute)
    return None


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
        "result": _as_posted(observation.result),
        "resultQuality": extras.result_quality if extras else None,
        "validTime": extras.valid_time if extras else None,
        "parameters": extras.parameters if extras else None,
    }


def _as_posted(result: Any) -> Any:
    """The store keeps numbers as doubles; a whole one was most likely posted as an integer (JSON
    does not tell them apart, clients comparing text do)."""
    if type(result) is float and result.is_integer() and abs(result) < 2**53:
        return int(result)
    return result


def _sortable(value: Any) -> Any:
    return value if isinstance(value, (int, float, str)) else str(value)

"""The SensorThings operations on resources, each in one catalog transaction. The HTTP routes and the
MQTT extension both call these; neither knows SQL or the store.
"""

import functools
import time
from typing import Any, Protocol

import jsonpatch
from sqlalchemy import select
from sqlalchemy.orm import Session

from iotstream._units import iso_ms, parse_time_ms
from iotstream.models import message_id
from iotstream.registry import models
from iotstream.registry.access.principal import DEFAULT_TENANT
from iotstream.registry.catalog import Catalog
from iotstream.registry.sensorthings import observations as obs
from iotstream.registry.sensorthings.entities import ENTITY_SETS, OBSERVATIONS, STREAMS, EntitySet
from iotstream.registry.sensorthings.errors import BadRequest, NotFound, StaError
from iotstream.registry.sensorthings.json import entity_json, property_value
from iotstream.registry.sensorthings.odata import Query
from iotstream.registry.sensorthings.paths import Resource, Step
from iotstream.registry.sensorthings.read import ObservationsOf, Parent, Reader
from iotstream.registry.sensorthings.write import Writer, Written
from iotstream.storage import BaseStorage

__all__ = ["NOTHING_THERE", "SensorThings"]

NOTHING_THERE = object()  # a property that is null: answered with 204
_ANY = object()


class OnWritten(Protocol):
    """Sends readings and registry changes; → observation ids (with `partial`, "error: …" in the place
    of a reading that was refused, the others sent)."""

    def __call__(self, session: Session, written: Written, *, partial: bool = False) -> list[str]: ...


class SensorThings:
    def __init__(
        self, catalog: Catalog, storage: BaseStorage, on_written: OnWritten, tenant: str | None = None
    ) -> None:
        """`tenant`: the one whose entities this sees and writes (None: every tenant's, writing the
        default tenant's; access control off)."""
        self.catalog = catalog
        self.storage = storage
        self._on_written = on_written
        self.tenant = tenant

    def scoped(self, tenant: str | None) -> "SensorThings":
        """The same API over one tenant's entities."""
        return SensorThings(self.catalog, self.storage, self._on_written, tenant)

    def _visible(self, row: Any) -> bool:
        return self.tenant is None or row.tenant == self.tenant

    def _writer(self, session: Session) -> Writer:
        return Writer(session, self.tenant or DEFAULT_TENANT)

    def _stream(self, session: Session, datastream_id: int) -> models.Stream | None:
        row = session.get(models.Stream, datastream_id)
        return row if row is not None and self._visible(row) else None

    # reading

    def get(self, resource: Resource, query: Query, base: str, page_url: str) -> Any:
        with self.catalog.session() as session:
            reader = self._reader(session, base)
            *parents, last = resource.steps
            if last.entities is OBSERVATIONS:
                return self._observations(session, base, parents, last, query, page_url, resource)
            if parents and parents[-1].entities is OBSERVATIONS:
                row = self._linked_to_observation(session, parents[-1], last)
                if resource.property is not None:
                    return _property(last.entities, row, resource.property)
                return reader.entity(last.entities, row, query)
            parent_row = self._walk(session, parents)
            if last.key is None and (last.link is None or last.link.many):
                parent = None if last.link is None else Parent(parents[-1].entities, parent_row.id, last.link)
                return reader.collection(last.entities, query, parent, page_url)
            row = self._row(session, last, parent_row)
            if resource.property is not None:
                return _property(last.entities, row, resource.property)
            return reader.entity(last.entities, row, query)

    def _observations(
        self,
        session: Session,
        base: str,
        parents: list[Step],
        last: Step,
        query: Query,
        page_url: str,
        resource: Resource,
    ) -> Any:
        reader = self._observation_reader(session, base)
        if last.key is not None:
            document = reader.one(str(last.key), query)
            if resource.property is not None:
                value = document.get(resource.property)
                return NOTHING_THERE if value is None else {resource.property: value}
            return document
        parent_row = self._walk(session, parents) if parents else None
        if parent_row is None:
            streams = select(models.Stream).order_by(models.Stream.id)
            if self.tenant is not None:
                streams = streams.where(models.Stream.tenant == self.tenant)
            all_of = session.scalars(streams)
            return reader.collection([obs.Source(d) for d in all_of], query, page_url)
        return reader.collection(_sources(session, parents[-1].entities.name, parent_row), query, page_url)

    def _linked_to_observation(self, session: Session, observation: Step, last: Step) -> Any:
        """Observations(id)/Datastream, /MultiDatastream or /FeatureOfInterest."""
        datastream_id, time_ms = obs.parse_observation_id(str(observation.key))
        datastream = self._stream(session, datastream_id)
        if datastream is None or not self.storage.raw(datastream.key, time_ms, time_ms + 1, limit=1):
            raise NotFound(f"no Observation {observation.key!r}")
        if last.entities.name in STREAMS:
            if not isinstance(datastream, last.entities.model):
                raise NotFound(f"Observation {observation.key!r} has no {last.entities.singular}")
            return datastream
        extras = session.get(models.ObservationExtras, (datastream_id, time_ms))
        feature = extras.feature_of_interest_id if extras is not None else None
        row = session.get(models.FeatureOfInterest, feature) if feature is not None else None
        if row is None:
            raise NotFound(f"Observation {observation.key!r} has no FeatureOfInterest")
        return row

    def observations_of(self, session: Session, base: str) -> ObservationsOf:
        """For $expand=Observations on a Datastream or a FeatureOfInterest."""

        def expand(row: Any, query: Query, owner: str, page_url: str) -> dict[str, Any]:
            reader = self._observation_reader(session, base)
            return reader.collection(_sources(session, owner, row), query, page_url)

        return expand

    def _reader(self, session: Session, base: str) -> Reader:
        return Reader(session, self.catalog.dialect, base, self.observations_of(session, base), self.tenant)

    def _observation_reader(self, session: Session, base: str) -> obs.ObservationReader:
        entity, stream = self._reader(session, base).entity, functools.partial(self._stream, session)
        return obs.ObservationReader(session, self.storage, base, entity, stream)

    def _walk(self, session: Session, steps: list[Step]) -> Any:
        row = None
        for step in steps:
            row = self._row(session, step, row)
        return row

    def _row(self, session: Session, step: Step, parent_row: Any) -> Any:
        if step.link is not None and not step.link.many:
            row = getattr(parent_row, step.link.attribute)
            if row is None or (step.key is not None and row.id != step.key):
                raise NotFound(f"{step.entities.singular} {step.key} is not linked there")
            return row
        row = session.get(step.entities.model, step.key) if isinstance(step.key, int) else None
        if row is None or not self._visible(row):
            raise NotFound(f"no {step.entities.singular} {step.key!r}")
        if step.link is not None and row not in getattr(parent_row, step.link.attribute):
            raise NotFound(f"{step.entities.singular} {step.key} is not linked to that entity")
        return row

    # writing

    def create(self, resource: Resource, body: Any) -> tuple[str, Any]:
        """(entity set, id) of what was created."""
        *parents, last = resource.steps
        if last.key is not None or resource.property is not None:
            raise BadRequest("POST to a collection, e.g. /v1.1/Things")
        with self.catalog.session(write=True) as session:
            writer = self._writer(session)
            parent_row = self._walk(session, parents) if parents else None
            if last.entities is OBSERVATIONS:
                datastream: Any = parent_row if parents else _datastream_of(writer, body)
                if parents and parents[-1].entities.name not in STREAMS:
                    raise BadRequest(
                        "POST Observations to /v1.1/Observations or (Multi)Datastreams(id)/Observations"
                    )
                writer.observation(datastream, body)
                ids = self._on_written(session, writer.written)
                return "Observations", ids[0]
            implied = self._implied(parents, last, parent_row)
            row = writer.create(last.entities, body, implied)
            if parent_row is not None and last.link is not None and last.link.many and implied is None:
                writer.add_to(parent_row, last.link, row)
            session.flush()
            self._on_written(session, writer.written)
            return last.entities.name, row.id

    def _implied(self, parents: list[Step], last: Step, parent_row: Any) -> dict[str, Any] | None:
        if parent_row is None or last.link is None:
            return None
        back = next(
            (k for k in last.entities.links if k.target == parents[-1].entities.name and not k.many), None
        )
        return {back.json: parent_row} if back else None

    def create_observations(self, owner: str, datastream_id: int, bodies: list[Any]) -> list[str]:
        """The ids of the created Observations in order, "error: <why>" in the place of each one that
        could not be created (SensorThings' CreateObservations creates the others). `owner` is
        "Datastreams" or "MultiDatastreams"."""
        with self.catalog.session(write=True) as session:
            writer = self._writer(session)
            datastream = writer.existing(ENTITY_SETS[owner], datastream_id, "CreateObservations refers to")
            refused: list[str | None] = []
            for body in bodies:  # checked before anything is written, so a refusal writes nothing
                try:
                    writer.observation(datastream, body)
                    refused.append(None)
                except StaError as err:
                    refused.append(f"error: {err}")
            sent = iter(self._on_written(session, writer.written, partial=True))
            return [reason or next(sent) for reason in refused]

    def wait_until_stored(self, observation_id: str, result: Any = _ANY, within_s: float = 5.0) -> None:
        """So a client that creates (or changes, to `result`) an Observation and then queries finds it.
        Called after the commit: the catalog is not held while the sink catches up."""
        datastream_id, time_ms = obs.parse_observation_id(observation_id)
        with self.catalog.session() as session:
            datastream = session.get(models.Stream, datastream_id)
            key = datastream.key if datastream else None
        deadline = time.monotonic() + within_s
        while key is not None and time.monotonic() < deadline:
            stored = self.storage.raw(key, time_ms, time_ms + 1, limit=1)
            if stored and (result is _ANY or stored[0].id == message_id(key, time_ms, result)):
                return
            time.sleep(0.01)

    def update(
        self, resource: Resource, body: Any, *, replace: bool = False, json_patch: bool = False
    ) -> None:
        """PATCH (a JSON merge, or with `json_patch` a JSON patch of the entity's properties) or PUT."""
        *parents, last = resource.steps
        if last.entities is OBSERVATIONS:
            self._update_observation(str(last.key), body, replace=replace, json_patch=json_patch)
            return
        with self.catalog.session(write=True) as session:
            row = self._row(session, last, self._walk(session, parents))
            if json_patch:  # read and written in one transaction, so no other change slips in between
                body = _patched(entity_json(last.entities, row, ""), body)
            writer = self._writer(session)
            writer.update(last.entities, row, body, replace=replace)
            self._on_written(session, writer.written)

    def delete(self, resource: Resource) -> None:
        *parents, last = resource.steps
        if last.entities is OBSERVATIONS:
            self._delete_observation(str(last.key))
            return
        with self.catalog.session(write=True) as session:
            row = self._row(session, last, self._walk(session, parents))
            has_readings = last.entities.name in STREAMS and bool(self.storage.latest([row.key]))
            writer = self._writer(session)
            writer.delete(last.entities, row, has_readings)
            self._on_written(session, writer.written)

    def _update_observation(self, key: str, body: Any, *, replace: bool, json_patch: bool) -> None:
        """The reading at the same instant is written again (the store replaces it and recomputes its
        rollups); its phenomenonTime is its id, so it cannot change."""
        with self.catalog.session(write=True) as session:
            reader = self._observation_reader(session, "")
            current = {k: v for k, v in reader.one(key, Query()).items() if "@iot." not in k}
            datastream_id, time_ms = obs.parse_observation_id(key)
            datastream = session.get_one(models.Stream, datastream_id)
            extras = session.get(models.ObservationExtras, (datastream_id, time_ms))
            if extras is not None and extras.feature_of_interest_id is not None:
                current["FeatureOfInterest"] = {"@iot.id": extras.feature_of_interest_id}
            if json_patch:
                body = _patched(current, body)
            elif not isinstance(body, dict):
                raise BadRequest("an Observation must be a JSON object")
            changed = body if replace else current | body
            if changed.get("@iot.id", key) != key:
                raise BadRequest(f"@iot.id {changed['@iot.id']!r} in the body differs from the URL's {key!r}")
            changed = {k: v for k, v in changed.items() if k != "@iot.id"}
            _same_instant(key, time_ms, changed.get("phenomenonTime"))
            _same_owner(key, datastream, changed)
            writer = self._writer(session)
            writer.observation(datastream, changed)
            self._on_written(session, writer.written)
        self.wait_until_stored(key, changed.get("result"))

    def _delete_observation(self, key: str) -> None:
        """Removed from the store, which recomputes the rollups and the latest value without it."""
        datastream_id, time_ms = obs.parse_observation_id(key)
        with self.catalog.session(write=True) as session:
            datastream = self._stream(session, datastream_id)
            if datastream is None:
                raise NotFound(f"no Observation {key!r}")
            extras = session.get(models.ObservationExtras, (datastream_id, time_ms))
            if extras is not None:
                session.delete(extras)
            if not self.storage.delete_observations(datastream.key, [time_ms]):
                raise NotFound(f"no Observation {key!r}")


def _same_instant(key: str, time_ms: int, phenomenon: Any) -> None:
    start = phenomenon.partition("/")[0] if isinstance(phenomenon, str) else phenomenon
    parsed = parse_time_ms(start, time_ms) if start is not None else time_ms
    if parsed != time_ms:
        raise BadRequest(
            f"Observation {key!r} is the reading of its Datastream at {iso_ms(time_ms)}: its phenomenonTime"
            " is its id and cannot change; delete it and create the reading at the new time"
        )


def _same_owner(key: str, datastream: models.Stream, changed: dict[str, Any]) -> None:
    own = "MultiDatastream" if isinstance(datastream, models.MultiDatastream) else "Datastream"
    for name in ("Datastream", "MultiDatastream"):
        link = changed.pop(name, None)
        if link is not None and (
            name != own or not isinstance(link, dict) or link.get("@iot.id") != datastream.id
        ):
            raise BadRequest(f"Observation {key!r} is a reading of {own} {datastream.id} and stays one")


def _sources(session: Session, owner: str, row: Any) -> list[obs.Source]:
    """The Observations of a (Multi)Datastream or of a FeatureOfInterest (the entities that have them)."""
    if owner in STREAMS:
        return [obs.Source(row)]
    if owner == "FeaturesOfInterest":
        return obs.feature_sources(session, row.id)
    raise BadRequest(f"{owner} have no Observations: list them for a Datastream, a FeatureOfInterest or all")


def _datastream_of(writer: Writer, body: Any) -> Any:
    """An Observation posted to /Observations names its Datastream or its MultiDatastream."""
    links = [name for name in ("Datastream", "MultiDatastream") if isinstance(body, dict) and name in body]
    if len(links) != 1:
        raise BadRequest(
            "an Observation belongs to one Datastream or one MultiDatastream: give Datastream: {'@iot.id': n}"
        )
    link = body[links[0]]
    if not isinstance(link, dict) or "@iot.id" not in link:
        raise BadRequest(f"{links[0]} must be {{'@iot.id': n}}")
    return writer.existing(ENTITY_SETS[links[0] + "s"], link["@iot.id"], "the Observation refers to")


def _patched(current: dict[str, Any], operations: Any) -> dict[str, Any]:
    if not isinstance(operations, list):
        raise BadRequest("a JSON patch is an array of operations")
    document = {k: v for k, v in current.items() if "@iot." not in k}
    try:
        patched: dict[str, Any] = jsonpatch.apply_patch(document, operations)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError) as err:
        raise BadRequest(f"JSON patch: {err}") from err
    return patched


def _property(entities: EntitySet, row: Any, name: str) -> Any:
    if name in ("id", "@iot.id"):
        return {"@iot.id": row.id}
    prop = entities.property(name)
    if prop is None:
        raise NotFound(f"{entities.singular} has no property {name!r}")
    value = property_value(prop, row)
    return NOTHING_THERE if value is None else {name: value}

"""Creating, changing and deleting catalog entities, with SensorThings' rules.

Everything one request writes happens in the caller's session, so a request that fails part-way
(an unknown property three levels deep in a deep insert, a reference to a missing id) writes nothing.
A nested object with `@iot.id` is a reference to an existing entity — even when it repeats other
properties, as frost-sta-client's requests do — and anything else is a new entity (deep insert).
"""

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from iotstream._units import parse_time_ms
from iotstream.registry import keys, models
from iotstream.registry.access.principal import DEFAULT_TENANT
from iotstream.registry.sensorthings import multi
from iotstream.registry.sensorthings.entities import ENTITY_SETS, STREAMS, EntitySet, Link, Property
from iotstream.registry.sensorthings.errors import BadRequest, Conflict, NotFound

__all__ = ["Writer"]

_IGNORED = ("@iot.selfLink", "@iot.navigationLink")


@dataclass
class Written:
    """What a request changed that ingestion must hear of: new Datastream keys, deletions, and the
    Observations to send as readings. (The registry topics learn of changes from the catalog itself.)"""

    changed: list[tuple[str, Any]] = field(default_factory=list)  # (entity set, row)
    deleted: list[tuple[str, int]] = field(default_factory=list)
    observations: list[tuple[models.Stream, dict[str, Any]]] = field(default_factory=list)


class Writer:
    def __init__(self, session: Session, tenant: str = DEFAULT_TENANT) -> None:
        """Writes the `tenant`'s entities: what it creates is the tenant's, and it links only to the
        tenant's (another tenant's entity is "not found", as if it did not exist)."""
        self._session = session
        self.tenant = tenant
        self.written = Written()
        self._ordered: dict[Any, list[Any]] = {}  # a new MultiDatastream's ObservedProperties

    # create

    def create(self, entities: EntitySet, body: Any, implied: dict[str, Any] | None = None) -> Any:
        """A new entity from `body`; `implied` links come from where it is nested (a Thing's Datastream)."""
        row = self._create(entities, body, implied)
        self._session.flush()
        return row

    def _create(self, entities: EntitySet, body: Any, implied: dict[str, Any] | None) -> Any:
        """Nested entities are flushed with their parent, once every required link is set."""
        document = self._document(entities, body)
        if entities.name == "Observations":
            raise BadRequest("Observations are created through the Datastream: see create_observation")
        row = entities.model()
        row.tenant = self.tenant
        self._set_properties(entities, row, document, replace=True)
        if entities.name in STREAMS:
            keys.provisional_key(row)
        with self._session.no_autoflush:  # the row is complete only once every link is set
            self._session.add(row)
            for link in entities.links:
                if link.json in document:
                    self._link(entities, row, link, document[link.json])
                elif implied and link.json in implied:
                    setattr(row, link.attribute, implied[link.json])
                elif link.required:
                    raise BadRequest(
                        f"a {entities.singular} needs a {link.json}: give {link.json}: {{'@iot.id': n}}"
                    )
            self._after_create(entities, row)
        self.written.changed.append((entities.name, row))
        return row

    def _document(self, entities: EntitySet, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise BadRequest(f"a {entities.singular} must be a JSON object, got {type(body).__name__}")
        allowed = {p.json for p in entities.properties} | {k.json for k in entities.links} | {"@iot.id"}
        for key in body:
            if key not in allowed and not key.endswith(_IGNORED):
                known = ", ".join(sorted(allowed - {"@iot.id"}))
                raise BadRequest(f"{entities.singular} has no property {key!r}; it has {known}")
        return {k: v for k, v in body.items() if not k.endswith(_IGNORED)}

    def _set_properties(
        self, entities: EntitySet, row: Any, document: dict[str, Any], *, replace: bool
    ) -> None:
        for prop in entities.properties:
            if prop.computed:
                continue
            if prop.json in document:
                setattr(row, prop.column, _property_value(entities, prop, document[prop.json]))
            elif replace and prop.required:
                raise BadRequest(f"a {entities.singular} needs {prop.json!r}")
            elif replace:
                setattr(row, prop.column, "" if prop.column == "description" else None)

    def _link(self, entities: EntitySet, row: Any, link: Link, value: Any) -> None:
        target = ENTITY_SETS[link.target]
        if link.read_only:
            raise BadRequest(f"{entities.singular}.{link.json} are linked from the other side")
        if not link.attribute:
            self._nested_observations(row, value)
            return
        if not link.many:
            setattr(row, link.attribute, self._related(entities, target, value, implied=None))
            return
        if not isinstance(value, list):
            raise BadRequest(f"{entities.singular}.{link.json} must be a JSON array")
        back = _back_link(entities, link)
        implied = {back: row} if back else None
        related = [self._related(entities, target, item, implied=implied) for item in value]
        if link.ordered:  # written in their order once the row has its id (multi.py)
            self._ordered[row] = related
            return
        collection = getattr(row, link.attribute)
        for item in related:
            if item not in collection:
                collection.append(item)

    def _related(
        self, owner: EntitySet, target: EntitySet, value: Any, implied: dict[str, Any] | None
    ) -> Any:
        if isinstance(value, dict) and "@iot.id" in value:
            return self.existing(target, value["@iot.id"], f"{owner.singular} refers to")
        return self._create(target, value, implied)

    def existing(self, entities: EntitySet, entity_id: Any, context: str = "") -> Any:
        row = self._session.get(entities.model, entity_id) if isinstance(entity_id, int) else None
        if row is None or row.tenant != self.tenant:
            prefix = f"{context} " if context else ""
            raise NotFound(f"{prefix}{entities.singular} {entity_id!r}, which does not exist")
        return row

    def _nested_observations(self, datastream: Any, value: Any) -> None:
        if not isinstance(value, list):
            raise BadRequest("Datastream.Observations must be a JSON array")
        for item in value:
            self.observation(datastream, item)

    def observation(self, datastream: models.Stream, body: Any) -> None:
        """Checked now, sent to ingestion after the commit (the reading needs its Datastream to exist)."""
        if not isinstance(body, dict):
            raise BadRequest("an Observation must be a JSON object")
        allowed = {"phenomenonTime", "resultTime", "result", "resultQuality", "validTime", "parameters"}
        allowed |= {"Datastream", "MultiDatastream", "FeatureOfInterest", "@iot.id"}
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise BadRequest(
                f"Observation has no property {unknown[0]!r}; it has {', '.join(sorted(allowed))}"
            )
        if "result" not in body:
            raise BadRequest("an Observation needs a 'result'")
        multi.check_result(datastream, body["result"])
        if isinstance(body.get("FeatureOfInterest"), dict):
            foi = self._related(
                ENTITY_SETS["Observations"],
                ENTITY_SETS["FeaturesOfInterest"],
                body["FeatureOfInterest"],
                None,
            )
            self._session.flush()  # a new one needs its id before the Observation refers to it
            body = {**body, "FeatureOfInterest": foi}
        elif "FeatureOfInterest" not in body:
            body = {**body, "FeatureOfInterest": self._feature_from_location(datastream)}
        self.written.observations.append((datastream, body))

    def _feature_from_location(self, datastream: models.Stream) -> models.FeatureOfInterest | None:
        """SensorThings: an Observation sent without a FeatureOfInterest gets the one made from its
        Thing's Location — created the first time, shared afterwards. Without a Location, none."""
        locations = sorted(datastream.thing.locations, key=lambda location: location.id)
        if not locations:
            return None
        location = locations[0]
        feature = models.FeatureOfInterest
        if not inspect(location).has_identity:  # created in this request, so is its feature if any
            pending = (f for f in self._session.new if isinstance(f, feature) and f.location is location)
            found = next(pending, None)
        else:
            found = self._session.scalar(select(feature).where(feature.location_id == location.id).limit(1))
        if found is not None:
            return found
        made = feature(
            name=location.name,
            description=location.description,
            encoding_type=location.encoding_type,
            feature=location.location,
            location=location,
            tenant=location.tenant,
        )
        self._session.add(made)
        self._session.flush()
        self.written.changed.append(("FeaturesOfInterest", made))
        return made

    def _after_create(self, entities: EntitySet, row: Any) -> None:
        if entities.name == "Things" and row.locations:
            self._moved(row, list(row.locations))
        elif entities.name == "Locations":
            for thing in row.things:
                self._moved(thing, [row])
        elif entities.name == "Datastreams":
            keys.assign_key(self._session, row)
        elif entities.name == "MultiDatastreams":
            observed = self._ordered.pop(row, [])
            multi.complete(row, len(observed))
            keys.assign_key(self._session, row)
            multi.link_observed_properties(self._session, row, observed)
        elif entities.name == "HistoricalLocations":
            self._relocated(row)

    def add_to(self, parent: Any, link: Link, row: Any) -> None:
        """A new entity created under a parent's to-many link (POST Things(1)/Locations)."""
        getattr(parent, link.attribute).append(row)
        if isinstance(parent, models.Thing) and link.json == "Locations":
            self._moved(parent, [row])

    def _moved(self, thing: models.Thing, locations: list[models.Location]) -> None:
        """SensorThings: a Thing that has a new Location gets a HistoricalLocation, made by the service."""
        history = models.HistoricalLocation(
            time_ms=time.time_ns() // 1_000_000, thing=thing, locations=locations, tenant=thing.tenant
        )
        self._session.add(history)

    def _relocated(self, history: models.HistoricalLocation) -> None:
        """A HistoricalLocation a client adds that is later than all others of its Thing says where the
        Thing is now, so it becomes the Thing's Location (as in FROST); an earlier one is history only."""
        others = [h.time_ms for h in history.thing.historical_locations if h is not history]
        if all(history.time_ms > time_ms for time_ms in others):
            history.thing.locations = list(history.locations)

    # update

    def update(self, entities: EntitySet, row: Any, body: Any, *, replace: bool) -> Any:
        document = self._document(entities, body)
        if document.get("@iot.id", row.id) != row.id:
            raise BadRequest(f"@iot.id {document['@iot.id']!r} in the body differs from the URL's {row.id}")
        self._set_properties(entities, row, document, replace=replace)
        if entities.name in STREAMS:
            keys.keep_key(row, row.properties)
        if entities.name == "MultiDatastreams":
            multi.complete(row, multi.linked(self._session, row))
        for link in entities.links:
            if link.json not in document or not link.attribute:
                continue
            if link.ordered or link.read_only:
                raise BadRequest(f"{entities.singular}.{link.json} cannot change: results are read by them")
            if link.many:
                self._replace_many(entities, row, link, document[link.json])
            else:
                setattr(
                    row,
                    link.attribute,
                    self._related(entities, ENTITY_SETS[link.target], document[link.json], None),
                )
        self._session.flush()
        self.written.changed.append((entities.name, row))
        return row

    def _replace_many(self, entities: EntitySet, row: Any, link: Link, value: Any) -> None:
        if entities.name == "Things" and link.json == "Locations":
            row.locations = []
            self._link(entities, row, link, value)
            self._moved(row, list(row.locations))
            return
        self._link(entities, row, link, value)

    # delete

    def delete(self, entities: EntitySet, row: Any, has_readings: bool) -> None:
        blockers = _blockers(self._session, entities, row)
        if blockers:
            raise Conflict(
                f"{entities.singular} {row.id} is still used by {blockers}; delete or relink those first"
            )
        if entities.name in STREAMS and has_readings:
            raise Conflict(
                f"{entities.singular} {row.id} ({row.key!r}) still has Observations in storage; they are"
                f" kept by the retention tiers, and the {entities.singular} can be deleted once they are gone"
            )
        if entities.name in STREAMS:
            self._session.query(models.ObservationExtras).filter_by(datastream_id=row.id).delete()
        self._session.delete(row)
        self._session.flush()
        self.written.deleted.append((entities.name, row.id))


def _blockers(session: Session, entities: EntitySet, row: Any) -> str:
    if entities.name in ("Things", "Sensors", "ObservedProperties") and row.datastreams:
        return "Datastreams " + ", ".join(str(d.id) for d in row.datastreams)
    if entities.name in ("Things", "Sensors", "ObservedProperties") and row.multi_datastreams:
        return "MultiDatastreams " + ", ".join(sorted({str(d.id) for d in row.multi_datastreams}))
    if entities.name == "FeaturesOfInterest":
        extras = models.ObservationExtras
        used = session.scalar(
            select(extras.datastream_id).where(extras.feature_of_interest_id == row.id).limit(1)
        )
        return "" if used is None else "Observations"
    return ""


def _back_link(entities: EntitySet, link: Link) -> str | None:
    """The required to-one link a nested entity gets from its parent (a Thing's Datastream → Thing)."""
    target = ENTITY_SETS[link.target]
    back = next((k for k in target.links if k.target == entities.name and not k.many), None)
    return back.json if back else None


def _property_value(entities: EntitySet, prop: Property, value: Any) -> Any:
    if value is None and prop.required:
        raise BadRequest(f"a {entities.singular} needs {prop.json!r}, not null")
    if prop.kind == "time":
        parsed = parse_time_ms(value, 0) if value is not None else "is missing"
        if isinstance(parsed, str):
            raise BadRequest(f"{entities.singular}.{prop.json}: {parsed}")
        return parsed
    if prop.kind == "text" and not isinstance(value, str):
        raise BadRequest(f"{entities.singular}.{prop.json} must be text, got {type(value).__name__}")
    if prop.json == "properties" and value is not None and not isinstance(value, dict):
        raise BadRequest(f"{entities.singular}.properties must be a JSON object")
    return value

"""Reading catalog entities: one collection page (filtered, ordered, counted, paged) with its expansions.

Paging follows the standard: a page holds `$top` entities (100 by default) and, when more match,
`@iot.nextLink` is the same request with `$skip` moved on. One extra row is read to know that.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from iotstream.registry.sensorthings.entities import ENTITY_SETS, EntitySet, Link
from iotstream.registry.sensorthings.json import entity_json, link_path, next_link
from iotstream.registry.sensorthings.odata import Query, QueryError
from iotstream.registry.sensorthings.sql import FilterCompiler

__all__ = ["Parent", "Reader", "check_expand"]


@dataclass(frozen=True)
class Parent:
    """The entity a collection hangs off (`Things(1)/Datastreams`): its set, id and the link followed."""

    entities: EntitySet
    id: int
    link: Link


# Expanding Observations reads the time-series store; the SensorThings service supplies that.
ObservationsOf = Callable[[Any, Query, str, str], dict[str, Any]]  # (row, query, its set, page url)


class Reader:
    def __init__(
        self,
        session: Session,
        dialect: str,
        base: str,
        observations: ObservationsOf,
        tenant: str | None = None,
    ) -> None:
        """`tenant`: a collection's top level lists only its entities (what hangs off them is the
        tenant's too); None lists every tenant's."""
        self._session = session
        self._dialect = dialect
        self._base = base
        self._observations = observations
        self._tenant = tenant

    def collection(
        self, entities: EntitySet, query: Query, parent: Parent | None = None, page_url: str = ""
    ) -> dict[str, Any]:
        check_expand(entities, query)
        statement = self._filtered(entities, query, parent)
        document: dict[str, Any] = {}
        if query.count:
            document["@iot.count"] = self._session.scalar(
                select(func.count()).select_from(statement.subquery())
            )
        positions = _positions(parent) if parent is not None and parent.link.ordered else ()
        statement = self._ordered(entities, statement, query, positions)
        statement = statement.offset(query.skip).limit(query.limit + 1)
        rows = list(self._session.scalars(statement))
        if len(rows) > query.limit and page_url:
            document["@iot.nextLink"] = next_link(page_url, query.skip + query.limit, query.limit)
        document["value"] = [self.entity(entities, row, query) for row in rows[: query.limit]]
        return document

    def find(self, entities: EntitySet, entity_id: int) -> Any:
        return self._session.get(entities.model, entity_id)

    def entity(self, entities: EntitySet, row: Any, query: Query) -> dict[str, Any]:
        """With its expansions inline; a navigation link stays only where $select names it (OData)."""
        document = entity_json(entities, row, self._base, query.select)
        for name, inner in query.expand.items():
            link = _expand_link(entities, name)
            if name not in query.select:
                document.pop(f"{name}@iot.navigationLink", None)
            if not link.many:
                related = getattr(row, link.attribute)
                target = ENTITY_SETS[link.target]
                document[name] = None if related is None else self.entity(target, related, inner)
                continue
            expanded = self._expanded(entities, row, link, inner)
            document[name] = expanded["value"]
            for annotation in ("@iot.count", "@iot.nextLink"):
                if annotation in expanded:
                    document[f"{name}{annotation}"] = expanded[annotation]
        return document

    def _expanded(self, entities: EntitySet, row: Any, link: Link, query: Query) -> dict[str, Any]:
        """A to-many expansion as a collection page, with its count and nextLink when asked for."""
        options = urlencode([(k, v) for k, v in query.given if k not in ("$top", "$skip")], safe="$/(),'")
        page_url = f"{self._base}/{link_path(entities, row.id)}/{link.json}?{options}"
        if link.target == "Observations":
            return self._observations(row, query, entities.name, page_url)
        return self.collection(ENTITY_SETS[link.target], query, Parent(entities, row.id, link), page_url)

    def _filtered(self, entities: EntitySet, query: Query, parent: Parent | None) -> Select[Any]:
        statement = select(entities.model)
        if parent is None and self._tenant is not None:
            statement = statement.where(entities.model.tenant == self._tenant)
        if parent is not None and parent.link.ordered:
            statement = _in_order(statement, parent)
        elif parent is not None:
            statement = statement.where(_belongs_to(parent))
        if query.filter is not None:
            compiler = FilterCompiler(entities, self._dialect, self._session)
            statement = statement.where(compiler.where(query.filter))
        return statement

    def _ordered(
        self, entities: EntitySet, statement: Select[Any], query: Query, positions: tuple[Any, ...] = ()
    ) -> Select[Any]:
        compiler = FilterCompiler(entities, self._dialect)
        orders = [compiler.order(order) for order in query.orderby]
        return statement.order_by(*orders, *positions, entities.model.id)


def check_expand(entities: EntitySet, query: Query) -> None:
    """Every $expand name is a link, checked before reading, so an empty page does not hide the mistake."""
    for name, inner in query.expand.items():
        check_expand(ENTITY_SETS[_expand_link(entities, name).target], inner)


def _expand_link(entities: EntitySet, name: str) -> Link:
    link = entities.link(name)
    if link is None:
        raise QueryError(f"$expand: {entities.singular} has no link {name!r}")
    return link


def _belongs_to(parent: Parent) -> Any:
    """The condition "is linked to the parent", on indexed key columns (an EXISTS through the
    relationship would be evaluated once per row of the whole target table)."""
    relationship = getattr(parent.entities.model, parent.link.attribute).property
    target = relationship.mapper.class_
    if relationship.secondary is None:  # the target holds the key: Datastream.thing_id
        ((_, key),) = relationship.local_remote_pairs
        return getattr(target, key.key) == parent.id
    ((_, own),) = relationship.synchronize_pairs  # thing_locations.thing_id
    ((_, theirs),) = relationship.secondary_synchronize_pairs  # thing_locations.location_id
    return target.id.in_(select(theirs).where(own == parent.id))


def _in_order(statement: Select[Any], parent: Parent) -> Select[Any]:
    """The members of an ordered link, one row per link (a MultiDatastream may name an
    ObservedProperty twice), joined with the link table whose positions order them."""
    relationship = getattr(parent.entities.model, parent.link.attribute).property
    ((_, own),) = relationship.synchronize_pairs
    ((theirs, key),) = relationship.secondary_synchronize_pairs
    target = relationship.mapper.class_
    joined = statement.join(relationship.secondary, key == getattr(target, theirs.key))
    return joined.where(own == parent.id)


def _positions(parent: Parent) -> tuple[Any, ...]:
    return tuple(getattr(parent.entities.model, parent.link.attribute).property.order_by or ())

"""SensorThings resource paths: `Things`, `Things(1)`, `Things(1)/Datastreams`, `Datastreams(4)/Thing`,
`Things(1)/properties/$value`, `Observations('4-1704067200000')`."""

import re
from dataclasses import dataclass

from iotstream.registry.sensorthings.entities import ENTITY_SETS, EntitySet, Link
from iotstream.registry.sensorthings.errors import BadRequest, NotFound

__all__ = ["Resource", "Step", "methods_of", "parse_path"]

_LARGEST_ID = 2**63 - 1  # the catalog's ids are 64-bit integers
_SEGMENT = re.compile(r"^(?P<name>[A-Za-z$]+)(?:\((?P<key>[^)]*)\))?$")


@dataclass(frozen=True)
class Step:
    entities: EntitySet
    key: int | str | None  # None: the whole collection (or the one entity of a to-one link)
    link: Link | None  # how it was reached from the step before


@dataclass(frozen=True)
class Resource:
    steps: tuple[Step, ...]
    property: str | None = None  # Things(1)/name
    raw_value: bool = False  # …/$value


def methods_of(resource: Resource) -> tuple[str, ...]:
    """What a resource takes: a collection is read and added to, an entity read, changed and deleted,
    a property only read."""
    last = resource.steps[-1]
    if resource.property is not None:
        return ("GET",)
    if last.key is not None:
        return ("GET", "PATCH", "PUT", "DELETE")
    if last.link is None or last.link.many:
        return ("GET", "POST")
    return ("GET",)  # the entity of a to-one link is changed at its own URL


def parse_path(path: str) -> Resource:
    segments = [s for s in path.strip("/").split("/") if s]
    if not segments:
        raise NotFound("name an entity set, e.g. /v1.1/Things")
    steps: list[Step] = []
    for index, segment in enumerate(segments):
        match = _SEGMENT.match(segment)
        if match is None:
            raise NotFound(f"{segment!r} is not an entity set, entity or property")
        name, key = match["name"], _key(match["key"])
        if not steps:
            if name not in ENTITY_SETS:
                raise NotFound(f"no entity set {name!r}; there are {', '.join(ENTITY_SETS)}")
            steps.append(Step(ENTITY_SETS[name], key, None))
            continue
        last = steps[-1]
        if last.key is None and (last.link is None or last.link.many):
            raise BadRequest(f"{'/'.join(segments[:index])} is a collection: pick one entity before {name}")
        link = last.entities.link(name)
        if link is not None:
            steps.append(Step(ENTITY_SETS[link.target], key, link))
            continue
        return _property(steps, last, name, segments[index + 1 :])
    return Resource(tuple(steps))


def _property(steps: list[Step], last: Step, name: str, rest: list[str]) -> Resource:
    if last.entities.property(name) is None and name not in ("id", "@iot.id"):
        raise NotFound(f"{last.entities.singular} has no property or link {name!r}")
    if rest not in ([], ["$value"]):
        raise NotFound(f"nothing follows {name}/ except $value")
    return Resource(tuple(steps), name, rest == ["$value"])


def _key(text: str | None) -> int | str | None:
    if text is None:
        return None
    if text.isdigit():
        if int(text) > _LARGEST_ID:
            raise NotFound(f"no entity has id {text}: ids are below 2^63")
        return int(text)
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1]
    raise BadRequest(f"entity id {text!r} must be a number or quoted text")

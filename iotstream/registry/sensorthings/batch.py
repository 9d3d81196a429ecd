"""SensorThings batch requests, `POST /v1.1/$batch`: many requests in one, run in order.

The two wire formats (JSON and multipart/mixed) are read and written in `_batch_formats`; this runs the
checked requests. Each request runs the `SensorThings` operations of the single routes, with their
statuses and error bodies, and a request that fails never fails the batch.

- `url` is relative to the service root (`Things(1)`, `v1.1/Things`), or an absolute path or URL under
  it (`/v1.1/Things`).
- `$<id>` as the first segment of a relative url (`$thing1/Datastreams`) or as an `@iot.id` in the body
  (`"Thing": {"@iot.id": "$thing1"}`) stands for the entity that the preceding request with that id
  created, or read (one entity, or the first of a collection, as FROST does).
- A request runs only if every request and atomicity group in its `dependsOn`, and every request it
  refers to, succeeded (2xx); otherwise it is answered 424 Failed Dependency.
- The requests of an atomicity group run in one catalog transaction: all of them commit or none does.
  When one fails the group is rolled back; that request keeps its answer and every other request of the
  group is answered 424 and names it.
- Observations are readings sent to the log, which a rollback cannot take back: they can be created in
  a batch, outside atomicity groups.
"""

import copy
import dataclasses
import itertools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from sqlalchemy.orm import Session

from iotstream.registry.catalog import Catalog
from iotstream.registry.sensorthings._batch_formats import (
    JSON_MEDIA,
    Answer,
    Batch,
    Entity,
    Item,
    Outcome,
    encode_answer,
    media_type,
    parse_batch,
    url_reference,
    with_entities,
)
from iotstream.registry.sensorthings.data_array import as_data_array, check_result_format
from iotstream.registry.sensorthings.entities import ENTITY_SETS, OBSERVATIONS
from iotstream.registry.sensorthings.errors import (
    BadRequest,
    FailedDependency,
    NotFound,
    StaError,
    UnsupportedMediaType,
)
from iotstream.registry.sensorthings.json import link_path
from iotstream.registry.sensorthings.odata import parse_query
from iotstream.registry.sensorthings.paths import Resource, parse_path
from iotstream.registry.sensorthings.service import NOTHING_THERE, SensorThings

__all__ = ["Batch", "BatchRun", "Item", "parse_batch", "run_batch"]

_log = logging.getLogger(__name__)
_TARGETS = {link.json: link.target for entities in ENTITY_SETS.values() for link in entities.links}


def run_batch(service: SensorThings, base: str, batch: Batch) -> tuple[bytes, str]:
    """Runs `batch` on `service` (under the service root URL `base`): its answer and media type.
    Blocks on the catalog and the log: call it in a worker thread."""
    return encode_answer(BatchRun(service, base).run(batch.items), multipart=batch.multipart)


class BatchRun:
    """Runs the checked requests of one batch, in order, on `service` under the service root `base`."""

    def __init__(self, service: SensorThings, base: str) -> None:
        self._service = service
        self._base = base
        self._succeeded: dict[str, bool] = {}  # by request id and by atomicity group
        self._entities: dict[str, Entity] = {}  # by request id

    def run(self, items: list[Item]) -> list[Outcome]:
        """Every request's outcome, in order. Blocks on the catalog and the log."""
        outcomes: list[Outcome] = []
        for group, run in itertools.groupby(items, lambda item: item.group):  # a group's requests adjoin
            if group is None:
                outcomes += [Outcome(item, self._one(self._service, item)) for item in run]
            else:
                outcomes += self._group(list(run))
        return outcomes

    def _one(self, service: SensorThings, item: Item) -> Answer:
        answer = self._answer(service, item)
        self._succeeded[item.id] = answer.ok
        if answer.ok and answer.entity is not None:
            self._entities[item.id] = answer.entity
        return answer

    def _answer(self, service: SensorThings, item: Item) -> Answer:
        try:
            self._check_needs(item)
            return _call(service, self._base, self._resolved(item))
        except StaError as err:
            return _error(err.status, str(err))
        except Exception:  # as a single request would get, but the batch goes on
            _log.exception("$batch request %r failed", item.id)
            return _error(500, "internal server error; the server's log has the details")

    def _check_needs(self, item: Item) -> None:
        failed = next((name for name in item.needs if not self._succeeded[name]), None)
        if failed is not None:
            raise FailedDependency(f"not run: {failed!r}, which it depends on, failed")

    def _resolved(self, item: Item) -> Item:
        """`item` with its `$id` references replaced by the entities they stand for."""
        url, match = item.url, url_reference(item.url)
        if match is not None:
            url = link_path(*self._entity(match[1])) + url[match.end() :]
        return dataclasses.replace(item, url=url, body=with_entities(item.body, self._entity_id))

    def _entity(self, name: str) -> Entity:
        if name not in self._entities:
            raise BadRequest(f"${name} stands for no entity: request {name!r} neither created nor read one")
        return self._entities[name]

    def _entity_id(self, name: str, link: str) -> Any:
        """The @iot.id that `$name` stands for where the body links `link` (a Thing must be a Thing)."""
        entities, key = self._entity(name)
        expected = _TARGETS.get(link)
        if expected and expected != entities.name:
            wanted = ENTITY_SETS[expected].singular
            raise BadRequest(f"{link} refers to ${name}, which is a {entities.singular}, not a {wanted}")
        return key

    def _group(self, items: list[Item]) -> list[Outcome]:
        """One transaction, committed if every request succeeds and rolled back at the first failure."""
        answers: list[Answer] = []
        try:
            with self._service.catalog.session(write=True) as session:
                self._all_or_none(_joined(self._service, session), items, answers)
        except _RolledBack:
            why = f"failed at request {items[len(answers) - 1].id!r}"
            return self._rolled_back(items, len(answers) - 1, answers[-1], why)
        except Exception:
            _log.exception("$batch atomicityGroup %r could not be committed", items[0].group)
            failure = _error(500, "the atomicityGroup could not be committed; the server's log has why")
            return self._rolled_back(items, len(items) - 1, failure, "could not be committed")
        self._succeeded[str(items[0].group)] = True
        return [Outcome(item, answer) for item, answer in zip(items, answers, strict=True)]

    def _all_or_none(self, joined: SensorThings, items: list[Item], answers: list[Answer]) -> None:
        """Answers `items` into `answers`; at the first failure, _RolledBack leaves the transaction."""
        for item in items:
            answers.append(self._one(joined, item))
            if not answers[-1].ok:
                raise _RolledBack

    def _rolled_back(self, items: list[Item], failed: int, failure: Answer, why: str) -> list[Outcome]:
        group = str(items[0].group)
        self._succeeded[group] = False
        for item in items:
            self._succeeded[item.id] = False
            self._entities.pop(item.id, None)
        rolled_back = _error(424, f"atomicityGroup {group!r} {why}; none of it was written")
        return [
            Outcome(item, failure) if index == failed else Outcome(item, rolled_back, rolled_back=True)
            for index, item in enumerate(items)
        ]


class _RolledBack(Exception):
    """A request of an atomicity group failed: leave its transaction without committing."""


def _call(service: SensorThings, base: str, item: Item) -> Answer:
    """One request, as its route would answer it."""
    path, query = _split(item.url, base)
    resource = _batchable(path, item)
    if item.method == "get":
        page_url = f"{base}/{path.lstrip('/')}" + (f"?{query}" if query else "")
        return _get(service, base, resource, page_url, query)
    return _write(service, base, resource, item)


def _batchable(path: str, item: Item) -> Resource:
    """What `item` is about, refused if a batch cannot do it the way its single route does."""
    if path.strip("/") == "CreateObservations":
        raise BadRequest("CreateObservations cannot be batched: send it as a request of its own")
    resource = parse_path(unquote(path))
    if item.group is not None and _creates_observations(resource, item):
        raise BadRequest(
            "Observations cannot be created inside an atomicityGroup: they are readings sent to the log at"
            " once, which a rollback could not take back; create them in requests outside the group"
        )
    return resource


def _write(service: SensorThings, base: str, resource: Resource, item: Item) -> Answer:
    """A POST, PATCH, PUT or DELETE; the body is JSON, or a JSON patch for a PATCH."""
    media = media_type(item.headers.get("content-type", "application/json"))
    if media not in JSON_MEDIA:
        raise UnsupportedMediaType(f"a batched request's body must be {' or '.join(JSON_MEDIA)}, not {media}")
    if item.method == "post":
        return _create(service, base, resource, item.body)
    if item.method == "delete":
        service.delete(resource)
    else:
        json_patch = item.method == "patch" and media == "application/json-patch+json"
        service.update(resource, item.body, replace=item.method == "put", json_patch=json_patch)
    return Answer(200)


def _creates_observations(resource: Resource, item: Item) -> bool:
    """A POST of Observations, or a body with Observations nested in it (a deep insert)."""
    if item.method == "post" and resource.steps[-1].entities is OBSERVATIONS:
        return True
    return _nests_observations(item.body)


def _nests_observations(value: Any) -> bool:
    if isinstance(value, list):
        return any(_nests_observations(v) for v in value)
    if not isinstance(value, dict):
        return False
    return bool(value.get("Observations")) or any(_nests_observations(v) for v in value.values())


def _split(url: str, base: str) -> tuple[str, str]:
    """The resource path under the service root (still percent-encoded) and the query of `url`."""
    parts, root = urlsplit(url), urlsplit(base).path
    if parts.scheme or parts.path.startswith("/"):
        if parts.path != root and not parts.path.startswith(f"{root}/"):
            raise NotFound(f"url {url!r} is outside the SensorThings service root {root}")
        return parts.path.removeprefix(root), parts.query
    version = root.rsplit("/", 1)[-1]
    return parts.path.removeprefix(f"{version}/"), parts.query


def _get(service: SensorThings, base: str, resource: Resource, page_url: str, query: str) -> Answer:
    parameters = dict(parse_qsl(query, keep_blank_values=True))
    options, last = parse_query(parameters), resource.steps[-1]
    observations = last.entities is OBSERVATIONS and last.key is None
    data_array = check_result_format(parameters.get("$resultFormat"), observations=observations)
    whole = dataclasses.replace(options, select=()) if data_array else options  # components select, later
    result = service.get(resource, whole, base, page_url)
    if data_array:
        result = as_data_array(result, options.select, base)
    if result is NOTHING_THERE:
        return Answer(204)
    if resource.raw_value and resource.property is not None:
        return Answer(200, str(result.get(resource.property)), {"content-type": "text/plain"})
    return Answer(200, result, entity=_read(resource, result))


def _read(resource: Resource, result: Any) -> Entity | None:
    """What the `$id` of a GET stands for: the entity it read, or the first of a collection (as FROST)."""
    if resource.property is not None or not isinstance(result, dict):
        return None
    found = result.get("value")
    document = found[0] if isinstance(found, list) and found else result
    key = document.get("@iot.id") if isinstance(document, dict) else None
    return None if key is None else (resource.steps[-1].entities, key)


def _create(service: SensorThings, base: str, resource: Resource, body: Any) -> Answer:
    name, key = service.create(resource, body)
    if name == "Observations":
        service.wait_until_stored(key)
    entities = ENTITY_SETS[name]
    created_path = link_path(entities, key)
    created = service.get(parse_path(created_path), parse_query({}), base, "")
    return Answer(201, created, {"location": f"{base}/{created_path}"}, (entities, key))


def _error(status: int, message: str) -> Answer:
    return Answer(status, {"code": status, "type": "error", "message": message})


def _joined(service: SensorThings, session: Session) -> SensorThings:
    """`service` with every operation run in `session`: an atomicity group's one transaction."""
    joined = copy.copy(service)
    joined.catalog = _Joined(service.catalog, session)
    return joined


class _Joined(Catalog):
    """The catalog as an atomicity group sees it: every session is the group's open one, which commits
    or rolls back once, when the group ends (on the real catalog, with its on_commit callbacks)."""

    def __init__(self, catalog: Catalog, session: Session) -> None:  # no engine or lock of its own
        self.engine, self.dialect, self.on_commit = catalog.engine, catalog.dialect, []
        self._session = session

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        yield self._session

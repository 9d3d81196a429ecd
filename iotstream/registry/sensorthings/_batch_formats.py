"""The two wire formats of SensorThings batch requests, `POST /v1.1/$batch`, read and written.

- JSON (`application/json`): OData 4.01's JSON batch (JSON Format, section 19), FROST-Server's "JSON
  Batch Requests" extension. `{"requests": [{"id", "method", "url", "headers"?, "body"?,
  "atomicityGroup"?, "dependsOn"?}]}` is answered `{"responses": [{"id", "status", "atomicityGroup"?,
  "headers"?, "body"?}]}`, one response per request in request order.
- multipart (`multipart/mixed; boundary=…`): OData 4.0's format, the one SensorThings 1.1 (section 11.2)
  specifies. Each `application/http` part is a request (`Content-ID` is its id); each nested
  `multipart/mixed` change set is an atomicity group, answered as a change set when it succeeds and by
  its failing request alone when it fails.

Both are read into the same checked `Item`s, so that the runner (`batch.py`) never sees the format. A
malformed batch (no `id`, a method other than get/post/patch/put/delete, a duplicate id, an atomicity
group split by other requests, a `dependsOn` or `$` reference naming no preceding request, an unknown
member such as `if`) is refused here whole, with 400, before anything runs.
"""

import dataclasses
import email
import email.policy
import itertools
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from http import HTTPStatus
from typing import Any

import msgspec

from iotstream.registry.sensorthings.entities import EntitySet
from iotstream.registry.sensorthings.errors import BadRequest, UnsupportedMediaType

__all__ = [
    "JSON_MEDIA",
    "Answer",
    "Batch",
    "Entity",
    "Item",
    "Outcome",
    "encode_answer",
    "media_type",
    "parse_batch",
    "url_reference",
    "with_entities",
]

_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()
_METHODS = ("get", "post", "patch", "put", "delete")
_MEMBERS = ("id", "method", "url", "headers", "body", "atomicityGroup", "dependsOn")
_ID = r"[A-Za-z0-9_.:,;~-]+"
_URL_REFERENCE = re.compile(rf"\$({_ID})(?=[/?]|$)")
_BODY_REFERENCE = re.compile(rf"\$({_ID})")
_SYSTEM = ("$batch", "$crossjoin", "$all", "$entity", "$root", "$id", "$metadata")  # never references
_REQUEST_LINE = re.compile(r"([A-Za-z]+) +(\S+)(?: +HTTP/\d(?:\.\d)?)?")
_UNNAMED = "#"  # starts the ids given to multipart requests without a Content-ID: never a `$` reference
JSON_MEDIA = ("application/json", "application/json-patch+json")  # the bodies a batched request may have
Entity = tuple[EntitySet, Any]  # what a `$id` stands for: the entity set and the @iot.id


@dataclasses.dataclass(frozen=True)
class Item:
    """One request of a batch, checked."""

    id: str
    method: str  # lower case
    url: str
    headers: dict[str, str]  # lower-case names
    body: Any = None
    group: str | None = None
    depends_on: tuple[str, ...] = ()

    @property
    def needs(self) -> tuple[str, ...]:
        """Every request and group that must have succeeded: `dependsOn` and the `$` references."""
        return (*self.depends_on, *_references(self))


@dataclasses.dataclass(frozen=True)
class Batch:
    """The checked requests of one batch, and the format its answer is written in."""

    items: list[Item]
    multipart: bool = False


@dataclasses.dataclass(frozen=True)
class Answer:
    """What one request is answered; `entity` is what a later `$id` naming it stands for."""

    status: int
    body: Any = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    entity: Entity | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclasses.dataclass(frozen=True)
class Outcome:
    """A request with its answer, as the answer of the whole batch lists them."""

    item: Item
    answer: Answer
    rolled_back: bool = False  # answered 424 because another request of its atomicity group failed


def media_type(content_type: str) -> str:
    """The media type of a Content-Type without its parameters, which is what the formats depend on."""
    return content_type.split(";", 1)[0].strip().lower()


def parse_batch(body: bytes, content_type: str | None) -> Batch:
    """The requests of a batch body; BadRequest names the first mistake, UnsupportedMediaType the format."""
    media = media_type(content_type or "application/json")
    if media == "multipart/mixed":
        return Batch(_multipart_items(body, str(content_type)), multipart=True)
    if media != "application/json":
        raise UnsupportedMediaType(
            f"a $batch body is application/json (a JSON batch) or multipart/mixed, not {media}"
        )
    document = _json(body)
    if not isinstance(document, dict) or not isinstance(document.get("requests"), list):
        raise BadRequest('a JSON batch is an object {"requests": [...]} with an array of request objects')
    checker, items = _Checker(), list[Item]()
    for index, raw in enumerate(document["requests"]):
        with _numbered(index):
            items.append(checker.add(_json_item(raw)))
    return Batch(items)


def encode_answer(outcomes: list[Outcome], *, multipart: bool) -> tuple[bytes, str]:
    """The answer of a batch in the format it was asked in, and its media type."""
    if multipart:
        return _multipart_answer(outcomes)
    return _encoder.encode({"responses": [_response(o.item, o.answer) for o in outcomes]}), "application/json"


def url_reference(url: str) -> re.Match[str] | None:
    """The `$id` that starts a relative url (`$thing1/Datastreams`), if any; `$batch` and kin are not."""
    first = url.split("/", 1)[0].split("?", 1)[0]
    return None if first in _SYSTEM else _URL_REFERENCE.match(url)


def with_entities(value: Any, resolve: Callable[[str, str], Any], link: str = "") -> Any:
    """`value` with every `"@iot.id": "$name"` replaced by `resolve(name, link it is the id of)`."""
    if isinstance(value, list):
        return [with_entities(v, resolve, link) for v in value]
    if not isinstance(value, dict):
        return value
    resolved = {}
    for key, v in value.items():
        match = _BODY_REFERENCE.fullmatch(v) if key == "@iot.id" and isinstance(v, str) else None
        resolved[key] = resolve(match[1], link) if match else with_entities(v, resolve, key)
    return resolved


def _references(item: Item) -> list[str]:
    """The request ids `item` refers to with `$id`: in its url and in its body's `@iot.id`s."""
    match = url_reference(item.url)
    names = [match[1]] if match else []
    with_entities(item.body, lambda name, _link: names.append(name))
    return names


def _json(text: bytes | str) -> Any:
    try:
        return _decoder.decode(text)
    except msgspec.DecodeError as err:
        raise BadRequest(f"body is not JSON: {err}") from err


def _json_item(raw: Any) -> Item:
    if not isinstance(raw, dict):
        raise BadRequest("a request must be a JSON object")
    unknown = sorted(set(raw) - set(_MEMBERS))
    if unknown:
        why = ": conditional requests are not supported" if "if" in unknown else ""
        raise BadRequest(f"unknown member {unknown[0]!r}{why}; a request has {', '.join(_MEMBERS)}")
    return Item(
        id=_text(raw, "id"),
        method=_method(raw.get("method")),
        url=_text(raw, "url"),
        headers=_headers(raw.get("headers")),
        body=raw.get("body"),
        group=None if raw.get("atomicityGroup") is None else _text(raw, "atomicityGroup"),
        depends_on=_depends_on(raw.get("dependsOn")),
    )


def _text(raw: dict[str, Any], name: str) -> str:
    value = raw.get(name)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{name!r} must be a non-empty string, got {value!r:.40}")
    return value


def _method(value: Any) -> str:
    method = value.lower() if isinstance(value, str) else ""
    if method not in _METHODS:
        raise BadRequest(f"'method' {value!r:.40} is not one of {', '.join(_METHODS)}")
    return method


def _headers(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise BadRequest("'headers' must be an object of header names and string values")
    return {name.lower(): v for name, v in value.items()}


def _depends_on(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest("'dependsOn' must be an array of request ids and atomicity groups")
    return tuple(value)


class _Checker:
    """OData's rules between the requests of a batch: unique ids, adjacent atomicity groups, and
    dependencies and references only on preceding requests."""

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._groups: set[str] = set()
        self._last_group: str | None = None

    def add(self, item: Item) -> Item:
        self._check(item)
        self._ids.add(item.id)
        self._groups.update([item.group] if item.group else [])
        self._last_group = item.group
        return item

    def _check(self, item: Item) -> None:
        ids, groups = self._ids, self._groups
        if item.id in ids or item.id in groups or item.id == item.group:
            raise BadRequest(f"id {item.id!r} is already a request id or atomicityGroup")
        if item.group in ids:
            raise BadRequest(f"atomicityGroup {item.group!r} is already a request id")
        if item.group in groups and item.group != self._last_group:
            raise BadRequest(f"the requests of atomicityGroup {item.group!r} must be adjacent")
        for name in item.depends_on:
            if name not in ids and (name not in groups or name == item.group):
                raise BadRequest(f"dependsOn {name!r} names no preceding request or atomicity group")
        for name in _references(item):
            if name not in ids:
                raise BadRequest(f"${name} refers to no preceding request")
        if item.body is not None and item.method in ("get", "delete"):
            raise BadRequest(f"a {item.method} request has no body")


@contextmanager
def _numbered(index: int) -> Iterator[None]:
    """BadRequest names the request it is about."""
    try:
        yield
    except BadRequest as err:
        raise BadRequest(f"$batch request {index}: {err}") from err


def _multipart_items(body: bytes, content_type: str) -> list[Item]:
    """Each application/http part one request; each multipart/mixed part a change set of them."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.message_from_bytes(head + body, policy=email.policy.HTTP)
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        raise BadRequest("a multipart/mixed batch needs its boundary=… and parts delimited by it")
    checker, items = _Checker(), list[Item]()
    for index, part in enumerate(message.iter_parts()):
        change_set = part.get_content_type() == "multipart/mixed"
        for request in part.iter_parts() if change_set else [part]:
            with _numbered(len(items)):
                group = f"changeset{_UNNAMED}{index}" if change_set else None
                items.append(checker.add(_http_item(request, len(items), group)))
    return items


def _http_item(part: Any, index: int, group: str | None) -> Item:
    """A request from an application/http part: request line, headers, an empty line, the body."""
    if part.get_content_type() != "application/http":
        raise BadRequest(f"a request is an application/http part, not {part.get_content_type()}")
    try:
        text = (part.get_payload(decode=True) or b"").decode().replace("\r\n", "\n")
    except UnicodeDecodeError as err:
        raise BadRequest(f"a request is UTF-8 text: {err}") from err
    head, _, body = text.lstrip("\n").partition("\n\n")
    request_line, *lines = head.split("\n")
    match = _REQUEST_LINE.fullmatch(request_line.strip())
    if match is None:
        raise BadRequest(f"{request_line!r:.60} is not a request line like 'GET Things(1) HTTP/1.1'")
    headers = {name.strip().lower(): value.strip() for name, _, value in (h.partition(":") for h in lines)}
    content_id = str(part.get("Content-ID") or f"{_UNNAMED}{index}")
    return Item(content_id, _method(match[1]), match[2], headers, _http_body(body.strip(), headers), group)


def _http_body(text: str, headers: dict[str, str]) -> Any:
    """JSON bodies decoded; any other body (or an empty one) left as it is, for the runner to refuse."""
    if not text or media_type(headers.get("content-type", "application/json")) not in JSON_MEDIA:
        return text or None
    return _json(text)


def _response(item: Item, answer: Answer) -> dict[str, Any]:
    response: dict[str, Any] = {"id": item.id, "status": answer.status}
    if item.group is not None:
        response["atomicityGroup"] = item.group
    if answer.headers:
        response["headers"] = answer.headers
    if "location" in answer.headers:
        response["location"] = answer.headers["location"]  # where FROST's clients read it
    if answer.body is not None:
        response["body"] = answer.body
    return response


def _multipart_answer(outcomes: list[Outcome]) -> tuple[bytes, str]:
    """OData 4.0's multipart answer: a change set that failed is answered by its failing request alone."""
    boundary, parts = f"batchresponse_{uuid.uuid4()}", []
    for group, grouped in itertools.groupby(outcomes, lambda outcome: outcome.item.group):
        run = list(grouped)
        if group is None or not all(o.answer.ok for o in run):
            parts += [_http_part(o) for o in run if not o.rolled_back]
        else:
            inner = f"changesetresponse_{uuid.uuid4()}"
            change_set = _parts(inner, [_http_part(o) for o in run])
            parts.append(f"Content-Type: multipart/mixed; boundary={inner}\r\n\r\n{change_set}")
    return _parts(boundary, parts).encode(), f"multipart/mixed; boundary={boundary}"


def _parts(boundary: str, parts: list[str]) -> str:
    return "".join(f"--{boundary}\r\n{part}\r\n" for part in parts) + f"--{boundary}--"


def _http_part(outcome: Outcome) -> str:
    answer, content_id = outcome.answer, outcome.item.id
    lines = ["Content-Type: application/http"]
    lines += [] if content_id.startswith(_UNNAMED) else [f"Content-ID: {content_id}"]
    lines += ["", f"HTTP/1.1 {answer.status} {HTTPStatus(answer.status).phrase}"]
    lines += [f"{name.title()}: {value}" for name, value in answer.headers.items()]
    if answer.body is None or isinstance(answer.body, str):
        return "\r\n".join([*lines, "", answer.body or ""])
    return "\r\n".join([*lines, "Content-Type: application/json", "", _encoder.encode(answer.body).decode()])

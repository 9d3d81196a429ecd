"""Commands as LwM2M device-management requests, and the devices' answers as command outcomes.

- **read**: a GET of any path (`/3303`, `/3303/0`, `/3303/0/5700`) without an Accept option: the device
  answers in the format it prefers, and `content.decode` reads them all.
- **write** of a resource: a PUT of its value as plain text, the one format every LwM2M device takes
  for a single resource (booleans as 0 and 1). Of an instance (`/3311/0` with `{"5850": true}`): LwM2M's
  partial update, a POST of the resources as TLV.
- **execute**: a POST of a resource, with its arguments (`0='on',1`) as the payload.
- **discover**: a GET asking for link format; the answer is the links with their attributes.
- **write-attributes**: a PUT with the attributes as query options (`{"pmin": 10, "gt": 30}`; null
  removes one).
- **create**: a POST of the new instance's resources as TLV to its object (`/3303`: the device picks the
  instance; `/3303/1`: that instance); the answer's location is the new instance's path.
- **delete**: a DELETE of an instance.

Kept apart from CoAP itself so the command store can check a command for an LwM2M device when it is
created, and refuse it with the field to fix, without loading aiocoap.

>>> request_of("write", "/3311/0/5850", True)
CoapRequest(method='PUT', path=(3311, 0, 5850), payload=b'1', content_format=0, query=(), accept=None)
"""

import base64
import math
from typing import Any, Literal, NamedTuple

from iotstream.ingest.lwm2m.content import (
    ContentError,
    Path,
    decode,
    encode_tlv,
    encode_tlv_instance,
    parse_path,
)
from iotstream.ingest.lwm2m.links import LinkFormatError, parse_links
from iotstream.relay.command_rules import InvalidCommandError

__all__ = ["CoapRequest", "Outcome", "check", "outcome_of", "request_of"]

TEXT, LINKS, TLV = 0, 40, 11542
_INT64 = 2**63  # LwM2M's integers are signed 64-bit
_ATTRIBUTES = {  # LwM2M 1.1's notification attributes: (a whole number of seconds, at least 0)
    "pmin": (True, True), "pmax": (True, True), "epmin": (True, True), "epmax": (True, True),
    "gt": (False, False), "lt": (False, False), "st": (False, True),
}  # fmt: skip


class CoapRequest(NamedTuple):
    method: Literal["GET", "PUT", "POST", "DELETE"]
    path: Path
    payload: bytes = b""
    content_format: int | None = None
    query: tuple[str, ...] = ()
    accept: int | None = None


class Outcome(NamedTuple):
    """What a device's answer makes of its command: its final state and the value or the error."""

    state: Literal["succeeded", "failed", "expired"]
    value: Any
    error: str | None


def check(action: str, path: str, value: Any) -> None:
    """Raises `InvalidCommandError` naming the field that makes the command unusable on an LwM2M
    device (the general checks, `command_rules.check_command`, came first)."""
    request_of(action, path, value)


def request_of(action: str, path: str, value: Any) -> CoapRequest:
    """The CoAP request a command makes; raises `InvalidCommandError` for one LwM2M cannot carry."""
    try:
        parsed = parse_path(path)
    except ContentError as err:
        raise InvalidCommandError("path", f"must be an LwM2M path such as /3311/0/5850: {err}") from None
    if action == "read":
        return CoapRequest("GET", parsed)
    if action == "discover":
        return CoapRequest("GET", _levels(parsed, path, action, (1, 2, 3)), accept=LINKS)
    if action == "execute":
        if value is not None and not isinstance(value, str):
            raise InvalidCommandError("value", f"of an execute is its arguments as text (0='on'): {value!r}")
        arguments = (value or "").encode()
        return CoapRequest(
            "POST", _levels(parsed, path, action, (3,)), arguments, TEXT if arguments else None
        )
    if action == "write-attributes":
        return CoapRequest("PUT", parsed, query=_attributes(value))
    if action == "create":
        return _create(_levels(parsed, path, action, (1, 2)), value)
    if action == "delete":
        return CoapRequest("DELETE", _levels(parsed, path, action, (2,)))
    return _write(parsed, path, value)


def _levels(parsed: Path, path: str, action: str, allowed: tuple[int, ...]) -> Path:
    if len(parsed) not in allowed:
        names = {1: "an object (/3303)", 2: "an instance (/3303/0)", 3: "a resource (/3303/0/5700)"}
        what = " or ".join(names[n] for n in allowed)
        raise InvalidCommandError("path", f"for {action} must name {what}; got {path!r}")
    return parsed


def _attributes(value: Any) -> tuple[str, ...]:
    if not isinstance(value, dict) or not value:
        raise InvalidCommandError(
            "value", f'of a write-attributes is {{"pmin": 10, "gt": 30, ...}}; got {value!r}'
        )
    query = []
    for name, setting in value.items():
        if name not in _ATTRIBUTES:
            raise InvalidCommandError(
                "value", f"{name!r} is not an attribute; they are {', '.join(_ATTRIBUTES)}"
            )
        if setting is None:
            query.append(name)  # LwM2M: a name without a value removes the attribute
            continue
        whole, at_least_0 = _ATTRIBUTES[name]
        if not _usable(setting, whole=whole, at_least_0=at_least_0):
            sort = "a whole number of seconds" if whole else "a number"
            bound = ", at least 0," if at_least_0 else ""
            raise InvalidCommandError("value", f"{name!r} must be {sort}{bound} or null; got {setting!r}")
        query.append(f"{name}={setting}")
    return tuple(query)


def _usable(setting: Any, *, whole: bool, at_least_0: bool) -> bool:
    if isinstance(setting, bool):
        return False
    if isinstance(setting, int):
        return (0 if at_least_0 else -_INT64) <= setting < _INT64
    if isinstance(setting, float) and not whole:
        return math.isfinite(setting) and (setting >= 0 or not at_least_0)
    return False


def _create(parsed: Path, value: Any) -> CoapRequest:
    resources = _resources(value, "a create")
    payload = resources if len(parsed) == 1 else encode_tlv_instance(parsed[1], resources)
    return CoapRequest("POST", parsed[:1], payload, TLV)


def _resources(value: Any, what: str) -> bytes:
    """`{"<resource id>": value, ...}` as TLV."""
    if not isinstance(value, dict) or not value:
        raise InvalidCommandError("value", f'of {what} is {{"<resource id>": value, ...}}; got {value!r}')
    body = b""
    for resource, resource_value in value.items():
        if not (
            isinstance(resource, str)
            and resource.isascii()
            and resource.isdigit()
            and int(resource) <= 65_535
        ):
            raise InvalidCommandError("value", f"of an instance has resource ids as keys: {resource!r}")
        body += encode_tlv(int(resource), _scalar(resource_value))
    return body


def _write(parsed: Path, path: str, value: Any) -> CoapRequest:
    if len(parsed) >= 3:  # a resource or a resource instance: one value
        return CoapRequest("PUT", parsed, _text(value), TEXT)
    if len(parsed) == 2 and isinstance(value, dict):
        return CoapRequest("POST", parsed, _resources(value, "an instance's write"), TLV)
    raise InvalidCommandError(
        "value", f"does not fit {path!r}: a write takes one value for a resource's path, or"
        ' {"<resource id>": value, ...} for an instance\'s'
    )  # fmt: skip


def _scalar(value: Any) -> bool | int | float | str:
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int) and not -_INT64 <= value < _INT64:
        raise InvalidCommandError("value", f"of a resource is a signed 64-bit integer at most; got {value!r}")
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return value
    raise InvalidCommandError("value", f"of a resource is a number, a boolean or text; got {value!r}")


def _text(value: Any) -> bytes:
    scalar = _scalar(value)
    if isinstance(scalar, bool):
        return b"1" if scalar else b"0"
    return str(scalar).encode()


def outcome_of(
    request: CoapRequest,
    successful: bool,
    code: str,
    payload: bytes,
    content_format: int | None,
    location: tuple[str, ...] = (),
) -> Outcome:
    """A 2.xx answer succeeds, with the values read, the links discovered or the instance created; any
    other fails with the code and the device's diagnostic (`code`: aiocoap's "4.04 Not Found")."""
    if not successful:
        diagnostic = payload.decode("utf-8", "replace").strip()
        error = f"the device answered {code}" + (f": {diagnostic}" if diagnostic else "")
        return Outcome("failed", None, error)
    if request.method == "POST" and location:
        return Outcome("succeeded", "/" + "/".join(location), None)  # the instance created
    if request.method != "GET":
        return Outcome("succeeded", None, None)
    try:
        if request.accept == LINKS:
            links = parse_links(payload.decode())
            return Outcome("succeeded", [{"url": link.path, "at": link.attributes} for link in links], None)
        values = decode(payload, content_format, request.path)
    except (ContentError, LinkFormatError, UnicodeDecodeError) as err:
        return Outcome("failed", None, f"the device answered {code}, but its payload cannot be read: {err}")
    if len(values) == 1 and values[0].path == request.path:
        return Outcome("succeeded", _json(values[0].value), None)
    return Outcome("succeeded", {"/" + "/".join(map(str, v.path)): _json(v.value) for v in values}, None)


def _json(value: Any) -> Any:
    """Opaque bytes as base64 text: a command's value is kept as JSON."""
    return base64.b64encode(value).decode() if isinstance(value, bytes) else value

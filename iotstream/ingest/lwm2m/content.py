"""LwM2M payloads → resource values, in every content format a device may answer or notify with.

A read or a notification of a path (`/3303/0/5700`, `/3303/0`, `/3303`) answers with the values of
the resources under it: plain text for one resource, TLV (types from the object registry: TLV carries
none), SenML JSON or CBOR (LwM2M 1.1), LwM2M 1.0 JSON, or opaque bytes. Each value keeps the device's
time when the format carries one. Anything that cannot be read raises `ContentError` with the reason,
for the dead-letter record.
"""

import math
import struct
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import cbor2
import msgspec

from iotstream.ingest.lwm2m.objects import describe

__all__ = [
    "FORMATS",
    "ContentError",
    "Path",
    "ResourceValue",
    "decode",
    "encode_tlv",
    "encode_tlv_instance",
    "parse_path",
]

Path = tuple[int, ...]  # (object, instance, resource[, resource instance])
FORMATS = {  # content-format number → name; lwm2m-node-lib still sends the pre-registration numbers
    0: "text", 1541: "text", 42: "opaque", 1544: "opaque", 11542: "tlv", 1542: "tlv",
    110: "senml+json", 112: "senml+cbor", 11543: "lwm2m+json", 1543: "lwm2m+json",
}  # fmt: skip
_SENML_LABELS = {-2: "bn", -3: "bt", 0: "n", 2: "v", 3: "vs", 4: "vb", 6: "t", 8: "vd"}
_RELATIVE_TIME_BELOW = 2**28  # SenML: smaller times are seconds relative to now (RFC 8428, 4.5.3)


class ContentError(ValueError):
    pass


class ResourceValue(NamedTuple):
    path: Path
    value: Any  # int, float, str, bool or bytes
    time_ms: int | None  # the device's time, when the format carries one


def parse_path(text: str) -> Path:
    """`/3303/0/5700` → (3303, 0, 5700).

    >>> parse_path("/3303/0/5700")
    (3303, 0, 5700)
    """
    parts = text.strip("/").split("/")
    if not 1 <= len(parts) <= 4 or not all(p.isascii() and p.isdigit() and int(p) <= 65_535 for p in parts):
        raise ContentError(f"not an LwM2M path: {text!r}")
    return tuple(int(p) for p in parts)


def decode(
    payload: bytes, content_format: int | None, path: Path, now: Callable[[], float] = time.time
) -> list[ResourceValue]:
    """The values in a payload for `path`; no content format means plain text (lwm2m-node-lib sends
    none)."""
    kind = "text" if content_format is None else FORMATS.get(content_format)
    if kind is None:
        raise ContentError(f"content format {content_format} is not one LwM2M uses")
    try:
        if kind in ("text", "opaque"):
            return [_single(payload, kind, path)]
        if kind == "tlv":
            return _from_tlv(payload, path)
        if kind == "lwm2m+json":
            document = msgspec.json.decode(payload)
            return _senml(
                document.get("e", []), {"bn": document.get("bn", ""), "bt": document.get("bt", 0)}, now
            )
        records = msgspec.json.decode(payload) if kind == "senml+json" else _cbor_records(payload)
        return _senml(records, {}, now)
    except ContentError:
        raise
    except (msgspec.DecodeError, cbor2.CBORDecodeError, UnicodeDecodeError, struct.error, AttributeError,
            TypeError, ValueError, IndexError) as err:  # fmt: skip
        raise ContentError(f"{kind} payload cannot be read: {err}") from None


def _single(payload: bytes, kind: str, path: Path) -> ResourceValue:
    if len(path) < 3:
        raise ContentError(f"a {kind} payload holds one resource, but {_text(path)} is not a resource")
    if kind == "opaque":
        return ResourceValue(path, payload, None)
    text = payload.decode()
    resource = describe(path[0], path[2])
    kind_of = resource.type if resource is not None else None
    return ResourceValue(path, _from_text(text, kind_of), None)


def _from_text(text: str, kind: str | None) -> Any:
    if kind == "string":
        return text
    if kind == "boolean":
        if text.strip() not in ("0", "1", "true", "false"):
            raise ContentError(f"{text!r} is not a boolean (0 or 1)")
        return text.strip() in ("1", "true")
    try:
        number = (
            float(text) if kind == "float" else int(text) if kind in ("integer", "time") else _number(text)
        )
    except ValueError:
        if kind is None:
            return text  # an unknown resource: text stays text
        raise ContentError(f"{text!r} is not a {kind}") from None
    return number


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        number = float(text)
        if not math.isfinite(number):
            raise ValueError(text) from None
        return number


def _from_tlv(payload: bytes, path: Path) -> list[ResourceValue]:
    entries = _tlv_entries(payload)
    if len(path) == 1:  # an object: its instances
        values = []
        for kind, ident, body in entries:
            if kind != 0:
                raise ContentError(f"expected object instances under {_text(path)}, got TLV type {kind}")
            values += _from_tlv_resources(body, (*path, ident))
        return values
    if len(path) == 2:
        return _from_tlv_resources(payload, path)
    values = []
    for kind, ident, body in entries:
        if kind == 2:  # a multiple resource: its instances
            values += [_tlv_value((*path[:2], ident, ri), b) for _, ri, b in _tlv_entries(body)]
        elif kind == 1:
            values.append(_tlv_value((*path[:3], ident), body))
        else:
            values.append(_tlv_value((*path[:2], ident), body))
    return values


def _from_tlv_resources(body: bytes, instance: Path) -> list[ResourceValue]:
    values = []
    for kind, ident, value in _tlv_entries(body):
        if kind == 2:
            values += [_tlv_value((*instance, ident, ri), b) for _, ri, b in _tlv_entries(value)]
        elif kind == 3:
            values.append(_tlv_value((*instance, ident), value))
        else:
            raise ContentError(f"unexpected TLV type {kind} in instance {_text(instance)}")
    return values


def _tlv_entries(data: bytes) -> list[tuple[int, int, bytes]]:
    """(kind, identifier, value) of each TLV at this level: kind 0 object instance, 1 resource
    instance, 2 multiple resource, 3 resource with a value."""
    entries, at = [], 0
    while at < len(data):
        head = data[at]
        id_size = 2 if head & 0x20 else 1
        length_size = (head >> 3) & 0x03
        ident = int.from_bytes(data[at + 1 : at + 1 + id_size], "big")
        at += 1 + id_size
        length = int.from_bytes(data[at : at + length_size], "big") if length_size else head & 0x07
        at += length_size
        if at + length > len(data):
            raise ContentError(f"TLV value of {length} bytes runs past the payload's end")
        entries.append((head >> 6, ident, data[at : at + length]))
        at += length
    return entries


def _tlv_value(path: Path, raw: bytes) -> ResourceValue:
    resource = describe(path[0], path[2])
    kind = resource.type if resource is not None else "opaque"
    if kind == "float":
        if len(raw) not in (4, 8):
            raise ContentError(f"a TLV float is 4 or 8 bytes, got {len(raw)} at {_text(path)}")
        return ResourceValue(path, struct.unpack(">f" if len(raw) == 4 else ">d", raw)[0], None)
    if kind in ("integer", "time"):
        return ResourceValue(path, int.from_bytes(raw, "big", signed=True), None)
    if kind == "boolean":
        return ResourceValue(path, raw != b"\x00", None)
    if kind == "string":
        return ResourceValue(path, raw.decode(), None)
    return ResourceValue(path, raw, None)


def encode_tlv(resource_id: int, value: Any) -> bytes:
    """One resource with its value as TLV (a write): floats as 8 bytes, integers in the fewest of 1,
    2, 4 or 8, booleans as one byte, text as UTF-8, bytes as they are.

    >>> encode_tlv(5700, 21.5).hex()
    'e81644084035800000000000'
    """
    if isinstance(value, bool):
        body = b"\x01" if value else b"\x00"
    elif isinstance(value, int):
        size = next(n for n in (1, 2, 4, 8) if -(2 ** (8 * n - 1)) <= value < 2 ** (8 * n - 1))
        body = value.to_bytes(size, "big", signed=True)
    elif isinstance(value, float):
        body = struct.pack(">d", value)
    else:
        body = value.encode() if isinstance(value, str) else bytes(value)
    return _tlv(0xC0, resource_id, body)


def encode_tlv_instance(instance_id: int, resources: bytes) -> bytes:
    """An object instance holding resources already in TLV (a create with the instance's id).

    >>> encode_tlv_instance(1, encode_tlv(5750, "hall")).hex()
    '0701e4167668616c6c'
    """
    return _tlv(0x00, instance_id, resources)


def _tlv(kind: int, identifier: int, body: bytes) -> bytes:
    ident = identifier.to_bytes(2 if identifier > 255 else 1, "big")
    head = kind | (0x20 if len(ident) == 2 else 0)
    if len(body) < 8:
        return bytes([head | len(body)]) + ident + body
    size = next(n for n in (1, 2, 3) if len(body) < 256**n)
    return bytes([head | size << 3]) + ident + len(body).to_bytes(size, "big") + body


def _cbor_records(payload: bytes) -> list[dict[str, Any]]:
    records = cbor2.loads(payload)
    if not isinstance(records, list):
        raise ContentError("a SenML CBOR payload is an array of records")
    return [{_SENML_LABELS.get(k, str(k)): v for k, v in r.items()} for r in records if isinstance(r, dict)]


def _senml(records: list[Any], base: dict[str, Any], now: Callable[[], float]) -> list[ResourceValue]:
    """SenML records resolved: base name and base time carry over to the records after them."""
    values, name, base_time = [], base.get("bn", ""), base.get("bt", 0)
    for record in records:
        if not isinstance(record, dict):
            raise ContentError("a SenML record is an object")
        name, base_time = record.get("bn", name), record.get("bt", base_time)
        path = parse_path(name + record.get("n", ""))
        value = next(
            (record[k] for k in ("v", "vs", "vb", "vd", "vlo", "sv", "bv", "ov") if k in record), None
        )
        if value is None:
            continue  # a record without a value (a name only)
        seconds = base_time + record.get("t", 0)
        when = None if seconds == 0 else seconds if seconds >= _RELATIVE_TIME_BELOW else now() + seconds
        values.append(ResourceValue(path, value, None if when is None else round(when * 1000)))
    return values


def _text(path: Path) -> str:
    return "/" + "/".join(map(str, path))

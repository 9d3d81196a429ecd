"""LwM2M payloads read in every content format: the recorded lwm2m-node-lib answers, TLV worked by hand
from the specification's layout and written by `encode_tlv`, SenML JSON and CBOR with base names and
times, LwM2M 1.0 JSON; and precise refusals of what cannot be read."""

import json
import struct
from pathlib import Path
from typing import Any

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from iotstream.ingest.lwm2m.content import ContentError, ResourceValue, decode, encode_tlv, parse_path
from iotstream.ingest.lwm2m.links import LinkFormatError, objects, parse_links
from iotstream.ingest.lwm2m.objects import Resource, describe

FIXTURES = Path(__file__).parents[3] / "fixtures"
NOW_S = 1_767_225_600.0  # 2026-01-01


def capture() -> dict[str, Any]:
    return json.loads((FIXTURES / "lwm2m_node_lib_client_capture.json").read_text())  # type: ignore[no-any-return]


def test_the_recorded_lwm2m_node_lib_read_is_a_temperature_in_plain_text() -> None:
    [read, _, with_accept] = capture()["server_reads"]
    assert read["content_format"] == "None"  # the client names no format: plain text
    value = decode(bytes.fromhex(read["payload_hex"]), None, parse_path(read["GET"]))
    assert value == [ResourceValue((3303, 0, 5700), 21.5, None)]
    assert decode(bytes.fromhex(with_accept["payload_hex"]), 1541, (3303, 0, 5700)) == value  # its old number


def test_the_recorded_registration_links_and_the_peers_spacing() -> None:
    [registration] = capture()["registration_traffic"]
    assert objects(parse_links(registration["payload"])) == [(3303, 0)]
    cases = json.loads((FIXTURES / "lwm2m_registration_cases.json").read_text())["cases"]
    assert {case["request"]["payload"] for case in cases} == {"</1>, </2>, </3>, </4>, </5>"}
    assert objects(parse_links(cases[0]["request"]["payload"])) == [(n, None) for n in range(1, 6)]
    with pytest.raises(LinkFormatError, match="not a link at character 1: '3303/0'"):
        parse_links("3303/0")


def tlv(head: int, ident: int, value: bytes) -> bytes:
    """A TLV built from the layout, not by `encode_tlv`: type byte, 16-bit id, 8-bit length."""
    return bytes([head]) + ident.to_bytes(2, "big") + bytes([len(value)]) + value


def test_tlv_resources_instances_and_objects_with_types_from_the_registry() -> None:
    temperature = bytes.fromhex("e41644 41ac0000".replace(" ", ""))  # 5700 = 21.5 as a float32
    assert decode(temperature, 11542, (3303, 0, 5700)) == [ResourceValue((3303, 0, 5700), 21.5, None)]
    units = tlv(0xE8, 5701, b"Cel")  # a string resource
    instance = temperature + units
    both = [ResourceValue((3303, 0, 5700), 21.5, None), ResourceValue((3303, 0, 5701), "Cel", None)]
    assert decode(instance, 11542, (3303, 0)) == both
    wrapped = bytes([0x08, 0x00, len(instance)]) + instance  # object instance 0, 8-bit length
    second = bytes([0x08, 0x01, len(temperature)]) + temperature
    assert decode(wrapped + second, 1542, (3303,)) == [*both, ResourceValue((3303, 1, 5700), 21.5, None)]
    battery = bytes([0xC1, 9, 87])  # /3/0/9 = 87 %, an integer
    assert decode(battery, 11542, (3, 0, 9)) == [ResourceValue((3, 0, 9), 87, None)]
    unknown = bytes([0xC2, 7, 0x01, 0x02])  # a resource the registry does not know stays bytes
    assert decode(unknown, 11542, (9999, 0, 7)) == [ResourceValue((9999, 0, 7), b"\x01\x02", None)]
    with pytest.raises(ContentError, match="TLV value of 8 bytes runs past the payload's end"):
        decode(bytes([0xE8, 0x16, 0x44, 0x08, 0x40]), 11542, (3303, 0, 5700))
    with pytest.raises(ContentError, match="a TLV float is 4 or 8 bytes, got 2 at /3303/0/5700"):
        decode(bytes([0xE2, 0x16, 0x44, 0x00, 0x01]), 11542, (3303, 0, 5700))


@given(st.one_of(st.floats(allow_nan=False), st.integers(-(2**63), 2**63 - 1), st.booleans(), st.text()))
def test_a_written_tlv_reads_back(value: Any) -> None:
    kind = {bool: "boolean", int: "integer", float: "float", str: "string"}[type(value)]
    [read] = _tlv_resources(encode_tlv(5700, value))
    assert read[0] == 5700
    raw = read[1]
    if kind == "float":
        assert struct.unpack(">d", raw)[0] == value
    elif kind == "integer":
        assert int.from_bytes(raw, "big", signed=True) == value
    elif kind == "boolean":
        assert raw == (b"\x01" if value else b"\x00")
    else:
        assert raw.decode() == value


def _tlv_resources(data: bytes) -> list[tuple[int, bytes]]:
    """Read back by the layout alone (type byte, id, length), independently of the decoder."""
    head = data[0]
    id_size = 2 if head & 0x20 else 1
    length_size = (head >> 3) & 0x03
    ident = int.from_bytes(data[1 : 1 + id_size], "big")
    at = 1 + id_size
    length = int.from_bytes(data[at : at + length_size], "big") if length_size else head & 0x07
    at += length_size
    assert at + length == len(data)
    return [(ident, data[at:])]


def test_senml_json_and_cbor_with_base_names_and_times() -> None:
    records = [
        {"bn": "/3303/0/", "bt": NOW_S, "n": "5700", "v": 21.5},
        {"n": "5700", "t": 60, "v": 22.0},
        {"n": "5701", "vs": "Cel"},
        {"bn": "/3/0/", "n": "9", "v": 87, "t": -30},  # relative: 30 s before now
    ]
    expected = [
        ResourceValue((3303, 0, 5700), 21.5, 1_767_225_600_000),
        ResourceValue((3303, 0, 5700), 22.0, 1_767_225_660_000),
        ResourceValue((3303, 0, 5701), "Cel", 1_767_225_600_000),
        ResourceValue((3, 0, 9), 87, 1_767_225_570_000),
    ]
    clock = lambda: NOW_S  # noqa: E731
    assert decode(json.dumps(records).encode(), 110, (3303, 0), clock) == expected
    labels = {"bn": -2, "bt": -3, "n": 0, "v": 2, "vs": 3, "t": 6}
    cbor = cbor2.dumps([{labels[k]: v for k, v in record.items()} for record in records])
    assert decode(cbor, 112, (3303, 0), clock) == expected
    old = {"bn": "/3303/0/", "e": [{"n": "5700", "v": 21.5}, {"n": "5701", "sv": "Cel"}]}
    assert decode(json.dumps(old).encode(), 11543, (3303, 0)) == [
        ResourceValue((3303, 0, 5700), 21.5, None),
        ResourceValue((3303, 0, 5701), "Cel", None),
    ]


def test_what_cannot_be_read_is_refused_with_the_reason() -> None:
    with pytest.raises(ContentError, match="content format 50 is not one LwM2M uses"):
        decode(b"{}", 50, (3303, 0, 5700))
    with pytest.raises(ContentError, match="'warm' is not a float"):
        decode(b"warm", 0, (3303, 0, 5700))
    with pytest.raises(
        ContentError, match="a text payload holds one resource, but /3303/0 is not a resource"
    ):
        decode(b"21.5", 0, (3303, 0))
    with pytest.raises(ContentError, match="senml\\+json payload cannot be read"):
        decode(b"[{", 110, (3303, 0))
    with pytest.raises(ContentError, match="not an LwM2M path: '/3303/x'"):
        decode(json.dumps([{"n": "/3303/x", "v": 1}]).encode(), 110, (3303,))
    assert decode(b"on", 0, (9999, 0, 1)) == [ResourceValue((9999, 0, 1), "on", None)]  # unknown: text


def test_the_registry_names_ipso_resources_with_their_objects_unit() -> None:
    assert describe(3303, 5700) == Resource("Temperature Sensor Value", "float", "Cel")
    assert describe(3304, 5700) == Resource("Humidity Sensor Value", "float", "%RH")
    assert describe(3331, 5601) == Resource("Energy Min Measured Value", "float", "Wh")
    assert describe(3303, 5701) == Resource("Temperature Sensor Units", "string", None)
    assert describe(3305, 5805) == Resource("Power Measurement Cumulative active power", "float", "Wh")
    assert describe(3303, 1) is None
    assert describe(42, 5700) is None

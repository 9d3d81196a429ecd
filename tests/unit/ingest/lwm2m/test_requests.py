"""Commands as LwM2M requests, and the devices' answers as outcomes."""

import re
from typing import Any

import pytest

from iotstream.ingest.lwm2m.content import decode, encode_tlv, encode_tlv_instance
from iotstream.ingest.lwm2m.requests import CoapRequest, Outcome, check, outcome_of, request_of
from iotstream.relay.command_rules import InvalidCommandError


@pytest.mark.parametrize(
    ("action", "path", "value", "expected"),
    [
        ("read", "/3303/0/5700", None, CoapRequest("GET", (3303, 0, 5700), b"", None)),
        ("read", "/3303", None, CoapRequest("GET", (3303,), b"", None)),
        ("write", "/3303/0/5750", "kitchen", CoapRequest("PUT", (3303, 0, 5750), b"kitchen", 0)),
        ("write", "/3311/0/5850", False, CoapRequest("PUT", (3311, 0, 5850), b"0", 0)),
        ("write", "/3308/0/5900", 21.5, CoapRequest("PUT", (3308, 0, 5900), b"21.5", 0)),
        ("write", "/3/0/13", 1_767_225_600, CoapRequest("PUT", (3, 0, 13), b"1767225600", 0)),
        ("write", "/3/0/11/1", 7, CoapRequest("PUT", (3, 0, 11, 1), b"7", 0)),
        ("execute", "/3/0/4", None, CoapRequest("POST", (3, 0, 4), b"", None)),
        ("execute", "/5/0/2", "0='fw',1", CoapRequest("POST", (5, 0, 2), b"0='fw',1", 0)),
        ("discover", "/3303/0", None, CoapRequest("GET", (3303, 0), accept=40)),
        ("delete", "/3303/1", None, CoapRequest("DELETE", (3303, 1))),
        (
            "write-attributes",
            "/3303/0/5700",
            {"pmin": 10, "pmax": 60, "gt": 30.5, "st": 0, "lt": None},
            CoapRequest("PUT", (3303, 0, 5700), query=("pmin=10", "pmax=60", "gt=30.5", "st=0", "lt")),
        ),
        (
            "write-attributes",
            "/3303/0/5700",
            {"lt": -10, "gt": -2.5},  # thresholds below zero: a freezer's
            CoapRequest("PUT", (3303, 0, 5700), query=("lt=-10", "gt=-2.5")),
        ),
        ("write", "/3/0/13", -(2**63), CoapRequest("PUT", (3, 0, 13), str(-(2**63)).encode(), 0)),
        (
            "create",
            "/3303",
            {"5750": "hall"},
            CoapRequest("POST", (3303,), encode_tlv(5750, "hall"), 11542),
        ),
        (
            "create",
            "/3303/1",
            {"5750": "hall"},
            CoapRequest("POST", (3303,), encode_tlv_instance(1, encode_tlv(5750, "hall")), 11542),
        ),
    ],
)
def test_each_action_becomes_its_coap_request(
    action: str, path: str, value: Any, expected: CoapRequest
) -> None:
    assert request_of(action, path, value) == expected


def test_a_write_of_an_instance_is_a_partial_update_of_its_resources_as_tlv() -> None:
    request = request_of("write", "/3311/0", {"5850": True, "5851": 40})
    assert request == CoapRequest("POST", (3311, 0), encode_tlv(5850, True) + encode_tlv(5851, 40), 11542)
    assert [(v.path, v.value) for v in decode(request.payload, 11542, (3311, 0))] == [
        ((3311, 0, 5850), b"\x01"),  # 3311 is not in the object registry: its TLV values stay bytes
        ((3311, 0, 5851), b"\x28"),
    ]


@pytest.mark.parametrize(
    ("action", "path", "value", "message"),
    [
        ("read", "3303/x", None, "'path' must be an LwM2M path such as /3311/0/5850: not an LwM2M path"),
        ("read", "/1/2/3/4/5", None, "'path' must be an LwM2M path"),
        ("read", "/70000", None, "'path' must be an LwM2M path"),
        ("execute", "/3/0", None, "'path' for execute must name a resource (/3303/0/5700); got '/3/0'"),
        ("discover", "/3/0/1/0", None, "'path' for discover must name an object (/3303) or an instance"),
        ("delete", "/3303", None, "'path' for delete must name an instance (/3303/0); got '/3303'"),
        ("create", "/3303/0/5750", {"5750": "x"}, "'path' for create must name an object (/3303) or an"),
        ("create", "/3303", {}, "'value' of a create is {\"<resource id>\": value, ...}; got {}"),
        ("create", "/3303", ["x"], "'value' of a create is {\"<resource id>\": value, ...}; got ['x']"),
        ("write-attributes", "/3303/0/5700", {}, "'value' of a write-attributes is {\"pmin\": 10,"),
        (
            "write-attributes",
            "/3303/0/5700",
            {"every": 5},
            "'value' 'every' is not an attribute; they are pmin,",
        ),
        (
            "write-attributes",
            "/3303/0/5700",
            {"pmin": 1.5},
            "'value' 'pmin' must be a whole number of seconds,",
        ),
        (
            "write-attributes",
            "/3303/0/5700",
            {"pmax": -1},
            "'value' 'pmax' must be a whole number of seconds",
        ),
        ("write-attributes", "/3303/0/5700", {"gt": True}, "'value' 'gt' must be a number or null; got True"),
        (
            "write-attributes",
            "/3303/0/5700",
            {"st": -1},
            "'value' 'st' must be a number, at least 0, or null",
        ),
        ("write-attributes", "/3303/0/5700", {"pmin": 10**400}, "'value' 'pmin' must be a whole number of"),
        (
            "write",
            "/3303/0/5750",
            2**63,
            "'value' of a resource is a signed 64-bit integer at most; got 9223",
        ),
        (
            "write",
            "/3303/0/5750",
            float("inf"),
            "'value' of a resource is a number, a boolean or text; got inf",
        ),
        ("create", "/3303", {"5750": -(2**63) - 1}, "'value' of a resource is a signed 64-bit integer"),
        ("read", "/3303/0/\u00b2", None, "'path' must be an LwM2M path such as /3311/0/5850"),
        ("create", "/3303", {"\u00b2": 1}, "'value' of an instance has resource ids as keys: '\u00b2'"),
        ("write-attributes", "/3303/0/5700", {"st": float("nan")}, "'value' 'st' must be a number"),
        ("execute", "/3/0/4", 5, "'value' of an execute is its arguments as text (0='on'): 5"),
        ("write", "/3311/0/5850", {"on": True}, "'value' of a resource is a number, a boolean or text"),
        ("write", "/3311/0/5850", [1], "'value' of a resource is a number, a boolean or text; got [1]"),
        (
            "write",
            "/3311/0",
            5,
            "'value' does not fit '/3311/0': a write takes one value for a resource's path, or"
            ' {"<resource id>": value, ...} for an instance\'s',
        ),
        ("write", "/3311/0", {}, "'value' of an instance's write is {\"<resource id>\": value, ...}; got {}"),
        ("write", "/3311", {"0": 1}, "'value' does not fit '/3311'"),
        ("write", "/3311/0", {"on": 1}, "'value' of an instance has resource ids as keys: 'on'"),
        (
            "write",
            "/3311/0",
            {"5850": None},
            "'value' of a resource is a number, a boolean or text; got None",
        ),
    ],
)
def test_a_command_lwm2m_cannot_carry_is_refused_naming_the_field(
    action: str, path: str, value: Any, message: str
) -> None:
    with pytest.raises(InvalidCommandError, match="^" + re.escape(message)) as raised:
        check(action, path, value)
    assert raised.value.field == message.split("'")[1]


def test_a_read_answer_is_the_value_or_a_mapping_of_the_values_read() -> None:
    resource = request_of("read", "/3303/0/5700", None)
    assert outcome_of(resource, True, "2.05 Content", b"21.5", None) == Outcome("succeeded", 21.5, None)
    assert outcome_of(resource, True, "2.05 Content", b"21.5", 0) == Outcome("succeeded", 21.5, None)
    instance = request_of("read", "/3303/0", None)
    tlv = encode_tlv(5700, 21.5) + encode_tlv(5701, "Cel")
    assert outcome_of(instance, True, "2.05 Content", tlv, 11542) == Outcome(
        "succeeded", {"/3303/0/5700": 21.5, "/3303/0/5701": "Cel"}, None
    )
    opaque = request_of("read", "/5/0/0", None)
    assert outcome_of(opaque, True, "2.05 Content", b"\x00\xff", 42) == Outcome("succeeded", "AP8=", None)


def test_an_error_answer_fails_with_the_code_and_the_devices_diagnostic() -> None:
    write = request_of("write", "/3303/0/5700", 1)
    assert outcome_of(write, True, "2.04 Changed", b"", None) == Outcome("succeeded", None, None)
    assert outcome_of(write, False, "4.05 Method Not Allowed", b"read-only\n", 0) == Outcome(
        "failed", None, "the device answered 4.05 Method Not Allowed: read-only"
    )
    assert outcome_of(write, False, "4.04 Not Found", b"", None) == Outcome(
        "failed", None, "the device answered 4.04 Not Found"
    )


def test_a_discover_answers_with_the_links_and_a_create_with_the_new_instance() -> None:
    discover = request_of("discover", "/3303/0", None)
    links = b"</3303/0>,</3303/0/5700>;pmin=10;gt=30,</3303/0/5701>"
    assert outcome_of(discover, True, "2.05 Content", links, 40) == Outcome(
        "succeeded",
        [
            {"url": "/3303/0", "at": {}},
            {"url": "/3303/0/5700", "at": {"pmin": "10", "gt": "30"}},
            {"url": "/3303/0/5701", "at": {}},
        ],
        None,
    )
    assert outcome_of(discover, True, "2.05 Content", b"<broken", 40).error == (
        "the device answered 2.05 Content, but its payload cannot be read:"
        " not a link at character 1: '<broken'"
    )
    create = request_of("create", "/3303", {"5750": "hall"})
    assert outcome_of(create, True, "2.01 Created", b"", None, ("3303", "1")) == Outcome(
        "succeeded", "/3303/1", None
    )
    delete = request_of("delete", "/3303/1", None)
    assert outcome_of(delete, True, "2.02 Deleted", b"", None) == Outcome("succeeded", None, None)


def test_a_read_answer_that_cannot_be_read_fails_with_the_reason() -> None:
    read = request_of("read", "/3303/0/5700", None)
    assert outcome_of(read, True, "2.05 Content", b"warm", 0) == Outcome(
        "failed",
        None,
        "the device answered 2.05 Content, but its payload cannot be read: 'warm' is not a float",
    )
    assert outcome_of(read, True, "2.05 Content", b"1", 9999).error == (
        "the device answered 2.05 Content, but its payload cannot be read:"
        " content format 9999 is not one LwM2M uses"
    )

"""The registration interface's state, driven by the fixtures' cases and a clock: register with the
defaults LwM2M gives, update from a new address, de-register, expire after the lifetime and grace,
and a client registering again replacing itself."""

import json
from pathlib import Path

import pytest

from iotstream.ingest.lwm2m.registrations import Registration, RegistrationError, Registrations

FIXTURES = Path(__file__).parents[3] / "fixtures"
HOME = ("127.0.0.1", 53_189)


def query(text: str) -> dict[str, str]:
    return dict(part.partition("=")[::2] for part in text.split("&"))


def test_the_peer_servers_registration_cases() -> None:
    cases = json.loads((FIXTURES / "lwm2m_registration_cases.json").read_text())["cases"]
    for case in cases:
        request, registrations = case["request"], Registrations()
        if case["expect_code"] == "4.00":
            with pytest.raises(RegistrationError, match=r"needs its endpoint name: \?ep=<name>"):
                registrations.register(query(request["query"]), request["payload"], HOME, 0)
            continue
        registration, [event] = registrations.register(query(request["query"]), request["payload"], HOME, 0)
        assert (registration.endpoint, registration.lifetime_s, registration.version) == (
            "ROOM001",
            86_400,
            "1.0",
        )
        assert (registration.binding, registration.queue) == ("U", False)
        assert [link.path for link in registration.links] == ["/1", "/2", "/3", "/4", "/5"]
        assert event["event"] == "new"
        assert registrations.get(registration.id) == registration


def test_update_deregister_and_expiry() -> None:
    registrations = Registrations(grace_ms=5_000)
    registration, _ = registrations.register(query("ep=dev&lt=60&lwm2m=1.1&b=U&Q"), "</3303/0>", HOME, 1_000)
    assert registration.queue
    moved = ("127.0.0.1", 40_000)
    assert registrations.update("nope", {}, "", moved, 2_000) is None
    renewed, event = registrations.update(registration.id, {"lt": "120"}, "", moved, 30_000) or (None, None)
    assert isinstance(renewed, Registration)
    assert (renewed.address, renewed.lifetime_s, renewed.renewed_ms) == (moved, 120, 30_000)
    assert [link.path for link in renewed.links] == ["/3303/0"]  # no payload: the objects stay
    assert event is not None
    assert (event["event"], event["port"], event["lt"]) == ("update", 40_000, 120)
    assert registrations.next_expiry_ms() == 30_000 + 120_000 + 5_000
    assert registrations.expire(155_000 - 1) == []
    [(expired, record)] = registrations.expire(155_000)
    assert (expired.endpoint, record["event"]) == ("dev", "expired")
    assert registrations.get(registration.id) is None
    again, _ = registrations.register(query("ep=dev"), "</1>", HOME, 200_000)
    assert registrations.deregister(again.id, 201_000)["event"] == "delete"  # type: ignore[index]
    assert registrations.deregister(again.id, 202_000) is None


def test_registering_again_replaces_the_old_registration_and_bad_requests_are_refused() -> None:
    registrations = Registrations()
    first, _ = registrations.register(query("ep=dev&lt=60"), "</1>", HOME, 0)
    second, events = registrations.register(query("ep=dev&lt=60"), "</1>, </3303/0>", HOME, 1)
    assert [e["event"] for e in events] == ["delete", "new"]
    assert registrations.get(first.id) is None
    assert registrations.of_endpoint("dev") == second
    with pytest.raises(
        RegistrationError, match="lt='soon': the lifetime is a whole number of seconds above 0"
    ):
        registrations.register(query("ep=x&lt=soon"), "</1>", HOME, 0)
    with pytest.raises(RegistrationError, match="the object links cannot be read: not a link at character 1"):
        registrations.register(query("ep=x"), "3303", HOME, 0)

"""Device commands end to end: `POST /api/v1/commands` on an embedded platform, a real broker, and a
paho-mqtt device that gets its commands on `iotstream/<device>/commands` and answers on
`iotstream/<device>/responses`."""

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from iotstream.config import Settings, load_settings
from iotstream.embedded import EmbeddedPlatform
from iotstream.log.topics import DEADLETTER
from iotstream.registry.catalog import open_catalog
from iotstream.relay.commands import CommandStore
from iotstream.roles import Platform
from tests.devices import Device, send, wait_for
from tests.servers import Server, start_mqtt_broker

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_mqtt_broker(tmp_path_factory.mktemp("mqtt"))
    yield server
    server.stop()


@pytest.fixture
def settings(tmp_path: Path, broker: Server) -> Settings:
    mosquitto = "mosquitto" in Path(broker.argv[0]).name
    mqtt = {
        "enabled": True,
        "url": f"mqtt://127.0.0.1:{broker.port}",
        "client_id": f"ingest-{uuid.uuid4().hex[:8]}",
        "version": 5 if mosquitto else 3,  # the amqtt fallback speaks 3.1.1 only
    }
    return load_settings(data_dir=tmp_path, api={"port": 0}, mqtt=mqtt)


@pytest.fixture
def platform(settings: Settings) -> Iterator[EmbeddedPlatform]:
    with EmbeddedPlatform(settings) as running:
        yield running


@pytest.fixture
def device_factory(broker: Server) -> Iterator[Any]:
    devices: list[Device] = []

    def make(answers: bool = True) -> Device:
        devices.append(Device(broker.port, answers))
        return devices[-1]

    yield make
    for device in devices:
        device.close()


def test_a_device_answers_a_write_and_a_read_and_gets_each_command_once(
    platform: EmbeddedPlatform, device_factory: Any
) -> None:
    assert platform.api is not None
    api, device = platform.api.url, device_factory()
    write = send(api, device.name, "write", "/3311/0/5850", value={"on": True, "level": 0.7})
    written = wait_for(api, write, "succeeded", "failed", "expired")
    assert written["state"] == "succeeded"
    assert "value" not in written  # the device answered "ok" without one
    read = send(api, device.name, "read", "/3311/0/5850", timeout="5s")
    assert wait_for(api, read, "succeeded", "failed", "expired")["value"] == {"on": True, "level": 0.7}
    missing = send(api, device.name, "read", "/3/0/1")
    assert wait_for(api, missing, "succeeded", "failed", "expired")["error"] == "no such resource"
    time.sleep(1.0)  # two more polls of the catalog: nothing is published again
    assert device.received == [
        {"ticket": write, "action": "write", "path": "/3311/0/5850", "value": {"on": True, "level": 0.7}},
        {"ticket": read, "action": "read", "path": "/3311/0/5850"},
        {"ticket": missing, "action": "read", "path": "/3/0/1"},
    ]
    listed = httpx.get(f"{api}/api/v1/commands", params={"device": device.name}).json()
    assert [(c["ticket"], c["state"]) for c in listed] == [
        (missing, "failed"),
        (read, "succeeded"),
        (write, "succeeded"),
    ]


def test_a_command_the_device_never_answers_is_delivered_then_expires(
    platform: EmbeddedPlatform, device_factory: Any
) -> None:
    assert platform.api is not None
    api, device = platform.api.url, device_factory(answers=False)
    ticket = send(api, device.name, "execute", "/3/0/4", timeout="1500ms")
    assert wait_for(api, ticket, "delivered", "expired")["state"] == "delivered"  # the broker took it
    expired = wait_for(api, ticket, "expired", "succeeded", "failed", timeout_s=10)
    assert expired["state"] == "expired"
    assert [command["ticket"] for command in device.received] == [ticket]
    device.respond({"ticket": ticket, "status": "ok", "value": 1})  # too late: it stays expired
    time.sleep(0.5)
    assert httpx.get(f"{api}/api/v1/commands/{ticket}").json()["state"] == "expired"


def test_a_command_to_a_device_nobody_subscribes_to_fails_at_once(
    platform: EmbeddedPlatform, settings: Settings
) -> None:
    if settings.mqtt.version != 5:
        pytest.fail("the broker says 'no matching subscribers' over MQTT 5 only: apt-get install mosquitto")
    assert platform.api is not None
    ticket = send(platform.api.url, f"nobody-{uuid.uuid4().hex[:8]}", "read", "/3/0/1", timeout="1m")
    failed = wait_for(platform.api.url, ticket, "failed", "delivered", "expired", timeout_s=10)
    assert (failed["state"], failed["error"]) == ("failed", "no device is subscribed to its topic")


def test_a_command_queued_while_the_mqtt_role_is_not_running_is_delivered_once_it_runs(
    settings: Settings, device_factory: Any
) -> None:
    device = device_factory()
    with Platform(settings, ["api"]) as api_only:
        assert api_only.api is not None
        queued = send(api_only.api.url, device.name, "write", "/1/0/1", value=60, timeout="1m")
        time.sleep(1.0)
        assert httpx.get(f"{api_only.api.url}/api/v1/commands/{queued}").json()["state"] == "queued"
    # A process that crashed after claiming a command (sent, never published): it is not sent again.
    catalog = open_catalog(settings.registry.url)
    claimed = CommandStore(catalog).create(device.name, "read", "/1/0/1", None, 2_000)
    assert CommandStore(catalog).advance(claimed.ticket, "sent")
    catalog.close()
    assert device.received == []
    with EmbeddedPlatform(settings) as platform:
        assert platform.api is not None
        assert wait_for(platform.api.url, queued, "succeeded", "failed", "expired")["state"] == "succeeded"
        assert (
            wait_for(platform.api.url, claimed.ticket, "expired", "succeeded", timeout_s=10)["state"]
            == "expired"
        )
    assert [command["ticket"] for command in device.received] == [queued]
    assert device.values == {"/1/0/1": 60}


def test_an_unusable_response_is_dead_lettered_with_the_reason_and_the_next_one_applies(
    platform: EmbeddedPlatform, device_factory: Any
) -> None:
    assert platform.api is not None
    assert platform.log is not None
    api, device, other = platform.api.url, device_factory(answers=False), device_factory(answers=False)
    ticket = send(api, device.name, "read", "/3/0/1")
    wait_for(api, ticket, "delivered")
    device.respond(b"{not json")
    device.respond({"status": "ok"})
    device.respond({"ticket": ticket, "status": "maybe"})
    device.respond({"ticket": "no-such-ticket", "status": "ok"})
    other.respond({"ticket": ticket, "status": "ok", "value": 1}, device=other.name)
    device.respond({"ticket": ticket, "status": "ok", "value": 7})  # the right one
    device.respond({"ticket": ticket, "status": "error", "error": "again"})  # after the final state
    assert wait_for(api, ticket, "succeeded", "failed", "expired")["value"] == 7
    with platform.log.consumer("dead-letters", auto_offset_reset="earliest") as consumer:
        consumer.subscribe([DEADLETTER])
        letters: list[Any] = []
        deadline = time.monotonic() + 20
        while len(letters) < 6 and time.monotonic() < deadline:
            letters += consumer.poll(10, 0.2)
    reasons = [dict(letter.headers)["reason"].decode() for letter in letters]
    assert [reason.split(":")[0] for reason in reasons] == ["command response"] * 6
    assert reasons[0].startswith("command response: not JSON")
    assert reasons[1:] == [
        "command response: 'ticket' is missing or not a string",
        "command response: 'status' must be 'ok' or 'error'; got 'maybe'",
        "command response: unknown ticket 'no-such-ticket'",
        f"command response: ticket {ticket!r} is a command to device {device.name!r}, not to {other.name!r}",
        f"command response: command {ticket!r} is already succeeded",
    ]
    sources = [dict(letter.headers)["source"].decode() for letter in letters]
    assert sources[4] == f"mqtt:iotstream/{other.name}/responses"
    assert letters[0].value == b"{not json"

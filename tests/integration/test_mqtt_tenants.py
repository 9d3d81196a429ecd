"""MQTT with `[auth] enabled`, with paho as the devices: a token is the password, each tenant publishes
and reads only in its own topic namespace, revoked tokens are cut off — on the embedded mosquitto and
on the amqtt fallback — and MQTT over TLS with certificates from `iotstream certs dev`."""

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from iotstream.cli._certs import make_dev_certificates
from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform
from iotstream.ingest import mqtt_broker
from iotstream.ingest.mqtt_broker import find_mosquitto
from iotstream.registry.access import AccessStore, Role
from iotstream.registry.catalog import open_catalog
from tests.servers import free_port

T0 = 1_767_225_600_000


@dataclass
class Site:
    api: str
    port: int
    store: AccessStore
    tokens: dict[str, str]
    ca: Path | None = None


class Device:
    """A paho client that remembers what it was answered and what it received."""

    def __init__(self, site: Site, token: str | None, user: str | None = None) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        if token is not None:
            self.client.username_pw_set(user or token.split("_")[1], token)
        if site.ca is not None:
            self.client.tls_set(ca_certs=str(site.ca))
        self.connected = threading.Event()
        self.refused: Any = None
        self.received: list[tuple[str, bytes]] = []
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda _c, _u, message: self.received.append(
            (message.topic, message.payload)
        )
        self.client.connect("127.0.0.1", site.port)
        self.client.loop_start()
        self.connected.wait(10)

    def _on_connect(self, _client: Any, _userdata: Any, _flags: Any, code: Any, _props: Any) -> None:
        if code.is_failure:
            self.refused = code
        self.connected.set()

    def publish(self, topic: str, payload: str) -> bool:
        """Whether the broker took it (a device cut off has nobody to give it to)."""
        try:
            self.client.publish(topic, payload, qos=1).wait_for_publish(5)
        except RuntimeError:
            return False
        return True

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture(params=["mosquitto", "amqtt"])
def site(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    if request.param == "amqtt":
        monkeypatch.setenv("PATH", str(tmp_path))
        monkeypatch.setattr(mqtt_broker, "_DEBIAN_MOSQUITTO", tmp_path / "mosquitto")
    else:
        assert find_mosquitto() is not None, "install mosquitto: apt-get install mosquitto"
    yield from _running(tmp_path, {})


def _running(tmp_path: Path, mqtt_settings: dict[str, Any], ca: Path | None = None) -> Iterator[Site]:
    port = free_port()
    scheme = "mqtts" if ca else "mqtt"
    mqtt_settings = {"embedded": True, "url": f"{scheme}://127.0.0.1:{port}"} | mqtt_settings
    settings = load_settings(data_dir=tmp_path, api={"port": 0}, auth={"enabled": True}, mqtt=mqtt_settings)
    catalog = open_catalog(settings.registry.url)
    store = AccessStore(catalog)
    for tenant in ("acme", "globex"):
        store.create_tenant(tenant, actor="test")
    store.create_system("acme", "b1", actor="test")
    tokens = {
        "acme": store.create_token("acme", Role.writer, actor="test")[1],
        "acme-reader": store.create_token("acme", Role.reader, actor="test")[1],
        "acme-b1": store.create_token("acme", Role.writer, actor="test", system="b1")[1],
        "globex": store.create_token("globex", Role.writer, actor="test")[1],
        "default": store.create_token("default", Role.writer, actor="test")[1],
    }
    with EmbeddedPlatform(settings) as platform:
        assert platform.api is not None
        yield Site(platform.api.url, port, store, tokens, ca)
    catalog.close()


def reading(time_ms: int, value: int) -> str:
    return f'{{"time": {time_ms}, "value": {value}}}'


def readings(site: Site, tenant: str, name: str) -> list[float]:
    headers = {"Authorization": f"Bearer {site.tokens[tenant]}"}
    answer = httpx.get(f"{site.api}/api/v1/readings", params={"datastream": name}, headers=headers)
    return [r["value"] for r in answer.json()]


def wait_for(site: Site, tenant: str, name: str, count: int) -> list[float]:
    deadline = time.monotonic() + 20
    while len(found := readings(site, tenant, name)) < count:
        assert time.monotonic() < deadline, f"{tenant} has {found} of {name}"
        time.sleep(0.05)
    return found


def test_without_a_valid_token_nobody_connects(site: Site) -> None:
    for token, user in [
        (None, None),
        ("iot_000000000000_wrong", None),
        (site.tokens["acme"], "someone-else"),
    ]:
        device = Device(site, token, user)
        try:
            assert device.refused is not None, (token, user)
        finally:
            device.close()


def test_each_tenant_publishes_and_reads_only_in_its_namespace(site: Site) -> None:
    acme, globex = Device(site, site.tokens["acme"]), Device(site, site.tokens["globex"])
    reader, system = Device(site, site.tokens["acme-reader"]), Device(site, site.tokens["acme-b1"])
    try:
        globex.client.subscribe("@acme/#", qos=1)
        reader.client.subscribe("@acme/iotstream/+/readings", qos=1)
        time.sleep(0.3)
        acme.publish("@globex/iotstream/kitchen/readings", reading(T0, 1))  # not its own
        acme.publish("iotstream/kitchen/readings", reading(T0, 2))  # the default tenant's
        reader.publish("@acme/iotstream/kitchen/readings", reading(T0, 3))  # a reader
        system.publish("@acme/iotstream/kitchen/readings", reading(T0, 4))  # not its system
        acme.publish("@acme/iotstream/kitchen/readings", reading(T0 + 1, 1001))
        system.publish("@acme.b1/iotstream/temp/readings", reading(T0, 1002))
        globex.publish("@globex/iotstream/kitchen/readings", reading(T0, 2001))
        assert wait_for(site, "acme", "kitchen", 1) == [1001]
        assert wait_for(site, "acme", "b1/temp", 1) == [1002]
        assert wait_for(site, "globex", "kitchen", 1) == [2001]
        time.sleep(0.5)  # what was refused had as long to arrive
        assert readings(site, "acme", "kitchen") == [1001]
        assert readings(site, "globex", "kitchen") == [2001]
        assert readings(site, "default", "kitchen") == []
        assert [topic for topic, _ in reader.received] == ["@acme/iotstream/kitchen/readings"]
        assert globex.received == []
    finally:
        for device in (acme, globex, reader, system):
            device.close()


def test_a_revoked_token_is_cut_off(site: Site) -> None:
    info, token = site.store.create_token("acme", Role.writer, actor="test")
    time.sleep(0.5)  # mosquitto's files follow the catalog within 0.1 s
    device = Device(site, token)
    try:
        assert device.refused is None
        device.publish("@acme/iotstream/pump/readings", reading(T0, 1))
        assert wait_for(site, "acme", "pump", 1) == [1]
        site.store.revoke_token(info.id, actor="test")
        time.sleep(0.5)  # mosquitto drops the connection; amqtt refuses each publication
        device.publish("@acme/iotstream/pump/readings", reading(T0 + 1, 2))
        time.sleep(0.5)
        assert readings(site, "acme", "pump") == [1]
    finally:
        device.close()
    again = Device(site, token)
    try:
        assert again.refused is not None
    finally:
        again.close()


@pytest.fixture
def tls_site(tmp_path: Path) -> Iterator[Site]:
    assert find_mosquitto() is not None, "install mosquitto: apt-get install mosquitto"
    certs = tmp_path / "certs"
    make_dev_certificates(certs, [])
    mqtt_tls = {"tls_cert": certs / "server.pem", "tls_key": certs / "server.key", "tls_ca": certs / "ca.pem"}
    yield from _running(tmp_path / "data", mqtt_tls, ca=certs / "ca.pem")


def test_mqtt_over_tls_with_the_development_certificates(tls_site: Site) -> None:
    device = Device(tls_site, tls_site.tokens["acme"])
    try:
        assert device.refused is None
        device.publish("@acme/iotstream/secure/readings", reading(T0, 7))
        assert wait_for(tls_site, "acme", "secure", 1) == [7]
    finally:
        device.close()


def test_sensorthings_over_mqtt_stays_in_each_tenants_namespace(site: Site) -> None:
    acme, globex = Device(site, site.tokens["acme"]), Device(site, site.tokens["globex"])
    try:
        acme.client.subscribe("@acme/v1.1/#", qos=1)
        globex.client.subscribe("@acme/v1.1/#", qos=1)  # not its namespace: it hears nothing
        globex.client.subscribe("v1.1/#", qos=1)  # nor the default tenant's
        time.sleep(0.3)
        headers = {"Authorization": f"Bearer {site.tokens['acme']}"}
        thing = {
            "name": "pump",
            "description": "",
            "Datastreams": [
                {
                    "name": "flow",
                    "description": "",
                    "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
                    "unitOfMeasurement": {"name": "l/s", "symbol": "l/s", "definition": "l/s"},
                    "Sensor": {"name": "s", "description": "", "encodingType": "text/plain", "metadata": ""},
                    "ObservedProperty": {"name": "flow", "definition": "flow", "description": ""},
                }
            ],
        }
        created = httpx.post(f"{site.api}/v1.1/Things", json=thing, headers=headers)
        assert created.status_code == 201, created.text
        flows = httpx.get(f"{site.api}/v1.1/Datastreams", headers=headers).json()["value"]
        flow = next(d["@iot.id"] for d in flows if d["name"] == "flow")
        acme.publish(f"@acme/v1.1/Datastreams({flow})/Observations", '{"result": 1500}')
        globex.publish(f"@globex/v1.1/Datastreams({flow})/Observations", '{"result": 2500}')  # acme's id
        globex.publish(f"@acme/v1.1/Datastreams({flow})/Observations", '{"result": 2501}')  # acme's topic
        assert wait_for(site, "acme", "flow", 1) == [1500]
        deadline = time.monotonic() + 10
        while not any(topic == "@acme/v1.1/Observations" for topic, _ in acme.received):
            assert time.monotonic() < deadline, acme.received
            time.sleep(0.05)
        time.sleep(0.5)
        assert readings(site, "acme", "flow") == [1500]
        assert "@acme/v1.1/Things" in {topic for topic, _ in acme.received}
        assert globex.received == []
    finally:
        acme.close()
        globex.close()


def test_a_tenant_commands_only_its_own_devices(site: Site) -> None:
    pump, intruder = Device(site, site.tokens["acme"]), Device(site, site.tokens["globex"])
    answered = threading.Event()

    def answer(_client: Any, _userdata: Any, message: Any) -> None:
        pump.received.append((message.topic, message.payload))
        ticket = json.loads(message.payload)["ticket"]
        reply = json.dumps({"ticket": ticket, "status": "ok", "value": 42})
        pump.client.publish("@acme/iotstream/pump/responses", reply, qos=1)
        answered.set()

    pump.client.on_message = answer
    try:
        pump.client.subscribe("@acme/iotstream/pump/commands", qos=1)
        intruder.client.subscribe("@acme/iotstream/+/commands", qos=1)  # not its namespace
        time.sleep(0.5)
        acme = {"Authorization": f"Bearer {site.tokens['acme']}"}
        globex = {"Authorization": f"Bearer {site.tokens['globex']}"}
        command = {"device": "pump", "action": "execute", "path": "/start", "timeout": "20s"}
        made = httpx.post(f"{site.api}/api/v1/commands", json=command, headers=acme)
        assert made.status_code == 202, made.text
        ticket = made.json()["ticket"]
        assert answered.wait(15)
        deadline = time.monotonic() + 10
        while (state := httpx.get(f"{site.api}/api/v1/commands/{ticket}", headers=acme).json())[
            "state"
        ] != "succeeded":
            assert time.monotonic() < deadline, state
            time.sleep(0.05)
        assert (state["device"], state["value"]) == ("pump", 42)
        assert [topic for topic, _ in pump.received] == ["@acme/iotstream/pump/commands"]
        assert intruder.received == []
        assert httpx.get(f"{site.api}/api/v1/commands/{ticket}", headers=globex).status_code == 404
        assert httpx.get(f"{site.api}/api/v1/commands", headers=globex).json() == []
        assert [c["ticket"] for c in httpx.get(f"{site.api}/api/v1/commands", headers=acme).json()] == [
            ticket
        ]
    finally:
        pump.close()
        intruder.close()

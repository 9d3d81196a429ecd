"""MQTT clients that misbehave on the embedded broker: connections gone quiet halfway through a packet,
subscribers that never read, packets past the size limit. Each costs itself; readings from everyone
else are stored, and the broker lets go of the misbehaving connection."""

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import httpx
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform
from iotstream.ingest import _amqtt_reader, mqtt_broker
from iotstream.ingest.mqtt_broker import find_mosquitto
from iotstream.ingest.mqtt_wire import _string as _length_prefixed
from iotstream.ingest.mqtt_wire import _varint as _length
from tests.servers import free_port

T0 = 1_714_557_600_000
MAX_BODY = 65_536


class Site(NamedTuple):
    api: str
    port: int
    broker: str


@pytest.fixture(params=["mosquitto", "amqtt"])
def site(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    if request.param == "amqtt":
        monkeypatch.setenv("PATH", str(tmp_path))
        monkeypatch.setattr(mqtt_broker, "_DEBIAN_MOSQUITTO", tmp_path / "mosquitto")
        monkeypatch.setattr(_amqtt_reader, "PACKET_STALL_S", 2.0)  # mosquitto waits 1.5 keepalives
    else:
        assert find_mosquitto() is not None, "install mosquitto: apt-get install mosquitto"
    port = free_port()
    settings = load_settings(
        data_dir=tmp_path,
        api={"port": 0},
        ingest={"max_body_bytes": MAX_BODY},
        mqtt={"enabled": True, "embedded": True, "url": f"mqtt://127.0.0.1:{port}"},
    )
    with EmbeddedPlatform(settings) as platform:
        assert platform.api is not None
        yield Site(platform.api.url, port, request.param)
        assert platform.problems() == []


def _string(text: str) -> bytes:
    return _length_prefixed(text.encode())


def _connected(port: int, client_id: str, keepalive_s: int) -> socket.socket:
    """A raw MQTT 3.1.1 connection, CONNACK read."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    body = _string("MQTT") + bytes([4, 0x02]) + keepalive_s.to_bytes(2, "big") + _string(client_id)
    conn.sendall(b"\x10" + _length(len(body)) + body)
    assert conn.recv(4)[:1] == b"\x20", "no CONNACK"
    return conn


def _closed_within(conn: socket.socket, seconds: float) -> bool:
    """Whether the broker closes the connection within `seconds` (what it sends before is read away)."""
    conn.settimeout(0.2)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if conn.recv(65_536) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:
            return True
    return False


def _publish_and_count(site: Site, name: str, count: int) -> int:
    """Publishes `count` readings of `name` with QoS 1 from a well-behaved client; how many are stored."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"good-{name}")
    client.connect("127.0.0.1", site.port)
    client.loop_start()
    try:
        sent = [
            client.publish(f"iotstream/{name}/readings", json.dumps({"time": T0 + n, "value": n}), qos=1)
            for n in range(count)
        ]
        for info in sent:
            info.wait_for_publish(20)
    finally:
        client.loop_stop()
        client.disconnect()
    deadline = time.monotonic() + 20
    while True:
        rows = httpx.get(f"{site.api}/api/v1/readings", params={"datastream": name, "limit": count}).json()
        if len(rows) >= count or time.monotonic() > deadline:
            return len(rows)
        time.sleep(0.1)


def test_connections_gone_quiet_are_dropped_and_hold_up_no_one(site: Site) -> None:
    """Half of them between packets (a device whose network vanished), half halfway through one; and
    on amqtt, connections that never send their CONNECT (mosquitto ends those on a timeout of its own,
    longer than a test should wait)."""
    quiet = [_connected(site.port, f"quiet-{n}", keepalive_s=1) for n in range(20)]
    for conn in quiet[::2]:  # a PUBLISH announcing 1,000 bytes, of which 3 come
        conn.sendall(b"\x30" + _length(1_000) + _string("i"))
    if site.broker == "amqtt":
        quiet += [socket.create_connection(("127.0.0.1", site.port), timeout=10) for _ in range(10)]
    try:
        assert _publish_and_count(site, "good", 500) == 500
        closed = [_closed_within(conn, 15) for conn in quiet]
        assert all(closed[:20]), f"kept past the keepalive: {closed[:20]}"
        assert all(closed[20:]), f"kept without a CONNECT: {closed[20:]}"
    finally:
        for conn in quiet:
            conn.close()


def test_an_idle_client_that_pings_stays_connected(site: Site) -> None:
    """What ends a silent connection must not end a quiet device that keeps its keepalive."""
    dropped: list[object] = []
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="idle")
    client.on_disconnect = lambda *args: dropped.append(args)
    client.connect("127.0.0.1", site.port, keepalive=1)
    client.loop_start()
    try:
        time.sleep(6)
        assert dropped == []
        info = client.publish("iotstream/idle/readings", json.dumps({"time": T0, "value": 1}), qos=1)
        info.wait_for_publish(10)
        assert info.is_published()
    finally:
        client.loop_stop()
        client.disconnect()


def test_a_subscriber_that_never_reads_holds_up_no_one(site: Site) -> None:
    stuck = _connected(site.port, "stuck", keepalive_s=0)
    try:
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4_096)
        body = (1).to_bytes(2, "big") + _string("iotstream/#") + b"\x01"
        stuck.sendall(b"\x82" + _length(len(body)) + body)  # SUBSCRIBE with QoS 1, then never reads
        assert _publish_and_count(site, "busy", 5_000) == 5_000
    finally:
        stuck.close()


@pytest.mark.parametrize(
    "start",
    [b"\x30" + _string("iotstream/big/readings"), b"\x82" + (1).to_bytes(2, "big")],
    ids=["publish", "subscribe"],
)
def test_a_packet_past_the_size_limit_closes_its_connection_and_nothing_else(
    site: Site, start: bytes
) -> None:
    big = _connected(site.port, "big", keepalive_s=60)
    try:
        big.sendall(start[:1] + _length(len(start) - 1 + 100_000_000) + start[1:])
        try:
            for _ in range(200):  # 20 MB of the 100 MB announced
                big.sendall(b"x" * 100_000)
        except OSError:
            pass  # closed by the broker: what the test wants
        assert _closed_within(big, 10), "a 100 MB packet was taken in"
        assert _publish_and_count(site, "after-big", 100) == 100
    finally:
        big.close()

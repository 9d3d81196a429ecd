"""`[mqtt] embedded = true`'s broker: mosquitto as a child process when installed, amqtt in the process
otherwise. Both must carry QoS 1 messages, and stopping must leave nothing running."""

import os
import queue
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from iotstream.ingest import mqtt_broker
from iotstream.ingest.mqtt_broker import BrokerStartError, EmbeddedBroker, MosquittoBroker, find_mosquitto
from tests.servers import free_port


def _mosquitto() -> str:
    binary = find_mosquitto()
    if binary is None:
        pytest.fail("mosquitto is missing: apt-get install mosquitto (`make test` installs it as root)")
    return binary


@pytest.fixture
def no_mosquitto(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The binary lookup finds nothing, as on a machine without mosquitto."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(mqtt_broker, "_DEBIAN_MOSQUITTO", tmp_path / "mosquitto")


@pytest.fixture
def mosquitto_broker() -> Iterator[tuple[EmbeddedBroker, int]]:
    """An embedded broker on a free port, with mosquitto installed; and the port."""
    _mosquitto()
    port = free_port()
    broker = EmbeddedBroker("127.0.0.1", port).start()
    yield broker, port
    broker.stop()


def _children() -> dict[int, str]:
    """This process's child processes: pid → command name."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            command, _, rest = stat.read_text().rpartition(")")
        except OSError:
            continue  # ended while we looked
        if int(rest.split()[1]) == os.getpid():
            children[int(stat.parent.name)] = command.partition("(")[2]
    return children


def _config_of(pid: int) -> Path:
    """The configuration file a running mosquitto was started with (`mosquitto -c FILE`)."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return Path(argv[argv.index(b"-c") + 1].decode())


def _round_trip(port: int, count: int = 500) -> list[tuple[int, bytes]]:
    """Publishes count QoS 1 messages with paho and returns what a QoS 1 subscriber got: (qos, payload)."""
    topic = f"iotstream/{uuid.uuid4().hex}/readings"
    received: queue.Queue[tuple[int, bytes]] = queue.Queue()
    subscribed: queue.Queue[int] = queue.Queue()
    subscriber, publisher = paho.Client(CallbackAPIVersion.VERSION2), paho.Client(CallbackAPIVersion.VERSION2)
    subscriber.on_message = lambda _c, _u, message: received.put((message.qos, bytes(message.payload)))
    subscriber.on_subscribe = lambda _c, _u, mid, _r, _p: subscribed.put(mid)
    clients = [subscriber, publisher]
    try:
        for client in clients:
            client.connect("127.0.0.1", port)
            client.loop_start()
        _, mid = subscriber.subscribe(topic, qos=1)
        assert subscribed.get(timeout=10) == mid
        sent = [publisher.publish(topic, str(i).encode(), qos=1) for i in range(count)]
        for info in sent:
            info.wait_for_publish(timeout=10)
        return [received.get(timeout=10) for _ in range(count)]
    finally:
        for client in clients:
            client.disconnect()
            client.loop_stop()


def test_with_mosquitto_installed_the_broker_is_a_mosquitto_child(
    mosquitto_broker: tuple[EmbeddedBroker, int],
) -> None:
    broker, port = mosquitto_broker
    assert broker.kind == "mosquitto"
    assert broker.pid is not None
    assert _children()[broker.pid] == "mosquitto"
    assert Path(f"/proc/{broker.pid}/exe").resolve() == Path(_mosquitto()).resolve()
    assert f"listener {port} 127.0.0.1" in _config_of(broker.pid).read_text().splitlines()


def test_mosquitto_carries_qos1_messages_in_order(mosquitto_broker: tuple[EmbeddedBroker, int]) -> None:
    _, port = mosquitto_broker
    assert _round_trip(port) == [(1, str(i).encode()) for i in range(500)]


def test_stopping_mosquitto_leaves_no_process_and_no_files() -> None:
    _mosquitto()
    before = set(_children())
    broker = EmbeddedBroker("127.0.0.1", free_port()).start()
    pid = broker.pid
    assert pid is not None
    config = _config_of(pid)
    broker.stop()
    assert broker.pid is None
    assert pid not in _children()
    assert set(_children()) <= before
    assert not config.parent.exists()


def test_a_port_in_use_is_refused_with_the_reason() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(BrokerStartError, match="already in use"):
            MosquittoBroker(_mosquitto(), "127.0.0.1", port).start()


def test_a_mosquitto_that_cannot_listen_fails_with_its_log() -> None:
    with socket.socket() as held:  # bound but not listening: mosquitto's bind fails
        held.bind(("127.0.0.1", 0))
        broker = MosquittoBroker(_mosquitto(), "127.0.0.1", held.getsockname()[1])
        with pytest.raises(BrokerStartError, match=r"exited at start(.|\n)*Address already in use"):
            broker.start()
    assert broker.pid is None


def test_a_broker_that_never_listens_is_stopped_after_the_timeout(tmp_path: Path) -> None:
    silent = tmp_path / "silent-broker"
    silent.write_text("#!/bin/sh\necho 'starting, never listening'\nexec sleep 60\n")
    silent.chmod(0o755)
    broker = MosquittoBroker(str(silent), "127.0.0.1", free_port(), start_timeout_s=0.5)
    with pytest.raises(BrokerStartError, match=r"did not listen(.|\n)*never listening"):
        broker.start()
    assert broker.pid is None
    assert broker.process is not None
    assert broker.process.returncode is not None


def test_the_lookup_finds_debians_mosquitto_outside_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    debian = tmp_path / "sbin" / "mosquitto"
    debian.parent.mkdir()
    debian.touch()
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(mqtt_broker, "_DEBIAN_MOSQUITTO", debian)
    assert find_mosquitto() == str(debian)


@pytest.mark.usefixtures("no_mosquitto")
def test_without_mosquitto_amqtt_runs_in_the_process_and_carries_qos1() -> None:
    assert find_mosquitto() is None
    before = set(_children())
    port = free_port()
    broker = EmbeddedBroker("127.0.0.1", port).start()
    try:
        assert broker.kind == "amqtt"
        assert broker.pid is None
        assert set(_children()) <= before
        assert _round_trip(port, count=100) == [(1, str(i).encode()) for i in range(100)]
    finally:
        broker.stop()

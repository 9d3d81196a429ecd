"""The SensorThings extension's own MQTT client, against mosquitto (MQTT 5) and amqtt (MQTT 3.1.1)."""

import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from iotstream.ingest.mqtt_amqtt import AmqttBroker
from iotstream.ingest.mqtt_wire import Incoming, WireClient
from tests.servers import free_port, start_mqtt_broker


@pytest.fixture(scope="module")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    broker = start_mqtt_broker(tmp_path_factory.mktemp("mosquitto"))
    assert Path(broker.argv[0]).name == "mosquitto", "these tests need mosquitto: apt-get install mosquitto"
    yield broker.port
    broker.stop()


@pytest.fixture(scope="module")
def amqtt() -> Iterator[int]:
    port = free_port()
    broker = AmqttBroker("127.0.0.1", port)
    broker.start()
    yield port
    broker.stop()


def paho_client(port: int, *topics: str) -> "tuple[paho.Client, queue.Queue[paho.MQTTMessage]]":
    received: queue.Queue[paho.MQTTMessage] = queue.Queue()
    subscribed = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2)
    client.on_message = lambda _c, _u, message: received.put(message)
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    if topics:
        client.subscribe([(topic, 1) for topic in topics])
        assert subscribed.wait(10)
    return client, received


def wire(port: int, version: int, inbox: "queue.Queue[Incoming]", client_id: str = "wire") -> WireClient:
    return WireClient(
        ("127.0.0.1", port), client_id, version, ["in/+"], lambda batch: [inbox.put(m) for m in batch]
    ).start(10)


def test_a_qos1_message_not_acknowledged_comes_again_after_a_restart_and_an_acknowledged_one_does_not(
    mosquitto: int,
) -> None:
    inbox: queue.Queue[Incoming] = queue.Queue()
    client = wire(mosquitto, 5, inbox, "wire-redelivery")
    sender, _ = paho_client(mosquitto)
    sender.publish("in/a", b"first", qos=1).wait_for_publish(10)
    sender.publish("in/b", b"second", qos=1).wait_for_publish(10)
    first, second = inbox.get(timeout=10), inbox.get(timeout=10)
    assert (first.topic, first.payload, second.payload) == ("in/a", b"first", b"second")
    assert first.packet_id
    assert second.packet_id
    client.ack([first])
    time.sleep(0.2)
    client.stop()
    again = wire(mosquitto, 5, inbox, "wire-redelivery")
    try:
        assert inbox.get(timeout=10).payload == b"second"
        with pytest.raises(queue.Empty):
            inbox.get(timeout=1)
    finally:
        again.stop()
        sender.loop_stop()


def test_over_mqtt5_its_own_publications_do_not_come_back_but_reach_others_in_order(mosquitto: int) -> None:
    inbox: queue.Queue[Incoming] = queue.Queue()
    client = wire(mosquitto, 5, inbox, "wire-no-local")
    listener, heard = paho_client(mosquitto, "in/+")
    try:
        client.publish((f"in/{i % 3}", b"%d" % i) for i in range(2_000))
        got = [heard.get(timeout=10).payload for _ in range(2_000)]
        assert got == [b"%d" % i for i in range(2_000)]
        with pytest.raises(queue.Empty):
            inbox.get(timeout=1)
    finally:
        client.stop()
        listener.loop_stop()


def test_over_mqtt311_with_amqtt_it_subscribes_receives_and_publishes(amqtt: int) -> None:
    inbox: queue.Queue[Incoming] = queue.Queue()
    client = wire(amqtt, 3, inbox, "wire-311")
    listener, heard = paho_client(amqtt, "in/+")
    sender, _ = paho_client(amqtt)
    try:
        sender.publish("in/x", b"from a device", qos=1).wait_for_publish(10)
        message = inbox.get(timeout=10)
        assert (message.topic, message.payload) == ("in/x", b"from a device")
        client.ack([message])
        client.publish([("in/y", b"a notification")])
        heard_payloads = {heard.get(timeout=10).payload for _ in range(2)}
        assert heard_payloads == {b"from a device", b"a notification"}
        assert inbox.get(timeout=10).payload == b"a notification"  # 3.1.1 has no "no local"
    finally:
        client.stop()
        listener.loop_stop()
        sender.loop_stop()


def test_a_broker_that_is_not_there_is_reported_with_its_address() -> None:
    port = free_port()
    with pytest.raises(OSError, match=f"mqtt://127.0.0.1:{port}"):
        WireClient(("127.0.0.1", port), "nobody", 5, ["in/+"], lambda _: None).start(1)


def test_a_handler_that_fails_does_not_end_the_connection(mosquitto: int) -> None:
    inbox: queue.Queue[Incoming] = queue.Queue()

    def received(batch: list[Incoming]) -> None:
        if any(m.payload == b"poison" for m in batch):
            raise RuntimeError("a bug in the handler")
        for message in batch:
            inbox.put(message)

    client = WireClient(("127.0.0.1", mosquitto), "wire-poison", 5, ["in/+"], received).start(10)
    sender, _ = paho_client(mosquitto)
    try:
        sender.publish("in/a", b"poison", qos=1).wait_for_publish(10)
        time.sleep(0.3)
        sender.publish("in/a", b"fine", qos=1).wait_for_publish(10)
        assert inbox.get(timeout=10).payload == b"fine"
    finally:
        client.stop()
        sender.loop_stop()

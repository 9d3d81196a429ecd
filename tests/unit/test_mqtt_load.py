"""benchmarks/_mqtt_load.py, the end-to-end benchmark's QoS 1 publisher, against real brokers and a
scripted one: every message arrives exactly once, in order per connection, and is acknowledged."""

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from benchmarks._mqtt_load import PublishError, publish_many
from iotstream.ingest.mqtt_amqtt import AmqttBroker
from iotstream.ingest.mqtt_broker import find_mosquitto
from tests.servers import Server, free_port

Script = Callable[[socket.socket], None]  # what the scripted broker does with its one client


@pytest.fixture(scope="module")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """mosquitto with a plain configuration (no TCP_NODELAY: it holds PUBACKs back); its port."""
    binary = find_mosquitto()
    if binary is None:
        pytest.fail("mosquitto is missing: apt-get install mosquitto (`make test` installs it as root)")
    port, workdir = free_port(), tmp_path_factory.mktemp("mosquitto")
    settings = ["allow_anonymous true", "max_inflight_messages 1000", "max_queued_messages 1000000"]
    (workdir / "mosquitto.conf").write_text("\n".join([f"listener {port} 127.0.0.1", *settings]) + "\n")
    server = Server([binary, "-c", str(workdir / "mosquitto.conf")], port, workdir / "mosquitto.log").start()
    yield port
    server.stop()


class _Subscriber:
    """A paho QoS 1 subscriber to prefix/#, collecting the payloads in arrival order."""

    def __init__(self, port: int, prefix: str) -> None:
        self.payloads: list[bytes] = []
        self._subscribed = threading.Event()
        self._client = paho.Client(CallbackAPIVersion.VERSION2)
        self._client.on_message = lambda _c, _u, message: self.payloads.append(bytes(message.payload))
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        self._client.subscribe(f"{prefix}/#", qos=1)
        assert self._subscribed.wait(timeout=10)

    def wait_for(self, count: int, timeout_s: float = 20) -> list[bytes]:
        deadline = time.monotonic() + timeout_s
        while len(self.payloads) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)  # room for a duplicate to show up
        return self.payloads

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def subscribe() -> Iterator[Callable[[int, str], _Subscriber]]:
    """Starts subscribers, stopped after the test."""
    started: list[_Subscriber] = []

    def start(port: int, prefix: str) -> _Subscriber:
        started.append(_Subscriber(port, prefix))
        return started[-1]

    yield start
    for subscriber in started:
        subscriber.stop()


def _readings(prefix: str) -> Callable[[int], tuple[str, bytes]]:
    """Message i: a reading on one of 10 topics, its payload carrying i."""
    topics = [f"{prefix}/device-{d}/readings" for d in range(10)]
    return lambda i: (topics[i % 10], b'{"n": %d, "value": 21.5}' % i)


def _payloads(numbers: range) -> list[bytes]:
    return [b'{"n": %d, "value": 21.5}' % i for i in numbers]


def _number(payload: bytes) -> int:
    return int(payload[6:].split(b",", 1)[0])


def _longest_decreasing(payloads: list[bytes]) -> int:
    """The fewest increasing runs the message numbers split into (Mirsky): patience sorting."""
    tails: list[int] = []  # tails[k]: the largest last number of a decreasing run of length k + 1
    for payload in payloads:
        number = -_number(payload)
        low, high = 0, len(tails)
        while low < high:
            mid = (low + high) // 2
            low, high = (mid + 1, high) if tails[mid] < number else (low, mid)
        tails[low : low + 1] = [number]
    return len(tails)


def test_100k_messages_reach_mosquitto_each_once_in_order(
    mosquitto: int, subscribe: Callable[[int, str], _Subscriber]
) -> None:
    """100,000 messages also wrap the packet identifiers (1..65535) once."""
    prefix = f"bench/{uuid.uuid4().hex}"
    subscriber = subscribe(mosquitto, prefix)
    result = publish_many("127.0.0.1", mosquitto, _readings(prefix), count=100_000)
    assert (result.sent, result.last) == (100_000, 99_999)
    assert subscriber.wait_for(100_000) == _payloads(range(100_000))


def test_a_broker_holding_pubacks_back_does_not_stall_it(mosquitto: int) -> None:
    """Without TCP_NODELAY mosquitto sends a PUBACK only once our kernel ACKs the last, which it delays
    ~40 ms unless we send: a publisher that waits for several PUBACKs before writing runs at ~2,000/s."""
    prefix = f"bench/{uuid.uuid4().hex}"
    result = publish_many("127.0.0.1", mosquitto, _readings(prefix), count=10_000, inflight=100)
    assert result.sent == 10_000
    assert result.sent / result.elapsed_s > 10_000  # ~200,000/s measured on 2 cores


def test_two_connections_share_the_numbers_each_in_order(
    mosquitto: int, subscribe: Callable[[int, str], _Subscriber]
) -> None:
    prefix = f"bench/{uuid.uuid4().hex}"
    subscriber = subscribe(mosquitto, prefix)
    result = publish_many(
        "127.0.0.1", mosquitto, _readings(prefix), count=20_000, connections=2, inflight=300
    )
    assert (result.sent, result.last) == (20_000, 19_999)
    received = subscriber.wait_for(20_000)
    assert sorted(received, key=_number) == _payloads(range(20_000))
    assert _longest_decreasing(received) <= 2


def test_a_timed_run_stops_and_waits_for_every_ack(
    mosquitto: int, subscribe: Callable[[int, str], _Subscriber]
) -> None:
    prefix = f"bench/{uuid.uuid4().hex}"
    subscriber = subscribe(mosquitto, prefix)
    result = publish_many("127.0.0.1", mosquitto, _readings(prefix), seconds=0.2, inflight=100)
    assert 0 < result.sent == result.last + 1
    assert 0.2 <= result.elapsed_s < 2
    assert subscriber.wait_for(result.sent) == _payloads(range(result.sent))


def test_5000_messages_reach_amqtt_each_once_in_order() -> None:
    port, prefix = free_port(), f"bench/{uuid.uuid4().hex}"
    broker = AmqttBroker("127.0.0.1", port)
    broker.start()
    try:
        subscriber = _Subscriber(port, prefix)
        try:
            result = publish_many("127.0.0.1", port, _readings(prefix), count=5_000, inflight=200)
            assert (result.sent, result.last) == (5_000, 4_999)
            assert subscriber.wait_for(5_000) == _payloads(range(5_000))
        finally:
            subscriber.stop()
    finally:
        broker.stop()


# A scripted broker: one client, on a thread, to break the protocol in ways real brokers seldom do.


def _serve(script: Script) -> tuple[int, threading.Thread, list[BaseException]]:
    listener = socket.create_server(("127.0.0.1", 0))
    errors: list[BaseException] = []

    def run() -> None:
        with listener, listener.accept()[0] as client:
            try:
                script(client)
            except BaseException as err:  # the test thread reports it
                errors.append(err)

    thread = threading.Thread(target=run, name="scripted-mqtt-broker")
    thread.start()
    return listener.getsockname()[1], thread, errors


def _scripted(script: Script, **kwargs: int) -> int:
    """Runs publish_many against the script; the number of messages acknowledged."""
    port, thread, errors = _serve(script)
    try:
        return publish_many("127.0.0.1", port, lambda i: ("t", b"%d" % i), **kwargs).sent
    finally:
        thread.join(timeout=10)
        assert not errors, errors


class _Packets:
    """Reads whole MQTT packets off a socket: (first byte, body)."""

    def __init__(self, client: socket.socket) -> None:
        self._client, self._buffer, self._pos = client, b"", 0

    def next(self) -> tuple[int, bytes]:
        while (packet := self._whole()) is None:
            data = self._client.recv(65536)
            if not data:
                raise EOFError("the client closed the connection")
            self._buffer, self._pos = self._buffer[self._pos :] + data, 0
        return packet

    def _whole(self) -> tuple[int, bytes] | None:
        buffer, pos = self._buffer, self._pos
        length, at = 0, pos + 1
        while True:
            if at >= len(buffer):
                return None
            length |= (buffer[at] & 0x7F) << 7 * (at - pos - 1)
            at += 1
            if not buffer[at - 1] & 0x80:
                break
        if len(buffer) < at + length:
            return None
        self._pos = at + length
        return buffer[pos], buffer[at : at + length]


def _connect(client: socket.socket, connack: bytes = b"\x20\x02\x00\x00") -> _Packets:
    packets = _Packets(client)
    first, body = packets.next()
    assert first == 0x10
    assert body[:7] == b"\x00\x04MQTT\x04"  # protocol level 4: 3.1.1
    assert body[7] == 0x02  # clean session, no will, no credentials
    assert body[8:10] == (60).to_bytes(2, "big")
    assert body[12:].startswith(b"iotstream-bench-")
    client.sendall(connack)
    return packets


def _publish_id(first: int, body: bytes) -> int:
    assert first == 0x32
    topic_end = 2 + int.from_bytes(body[:2], "big")
    return int.from_bytes(body[topic_end : topic_end + 2], "big")


def _pubacks(packet_ids: list[int]) -> bytes:
    return b"".join(b"\x40\x02" + i.to_bytes(2, "big") for i in packet_ids)


def test_ids_wrap_skipping_one_still_in_flight_while_acks_come_out_of_order() -> None:
    total, release = 70_000, 66_000  # ids wrap after 65,535 messages; id 5 is held until `release`

    def script(client: socket.socket) -> None:
        packets, in_flight, pending = _connect(client), set[int](), list[int]()
        for received in range(1, total + 1):
            packet_id = _publish_id(*packets.next())
            assert 1 <= packet_id <= 65535
            assert packet_id not in in_flight
            in_flight.add(packet_id)
            if packet_id != 5 or received > release:
                pending.append(packet_id)
            if received == release:
                pending.append(5)
            if len(pending) == 7 or received in (release, total):
                client.sendall(_pubacks(pending[::-1]))  # newest first
                in_flight.difference_update(pending)
                pending.clear()
        assert not in_flight
        assert packets.next() == (0xE0, b"")

    assert _scripted(script, count=total, inflight=100) == total


def test_packets_split_across_reads_and_run_together_are_parsed() -> None:
    def dribble(client: socket.socket) -> None:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        packets = _connect(client, connack=b"\x20")
        time.sleep(0.02)
        client.sendall(b"\x02\x00\x00")
        ids = [_publish_id(*packets.next()) for _ in range(50)]
        acks = b"\xd0\x00".join(_pubacks([i]) for i in ids)  # PINGRESPs in between
        for start in range(0, len(acks), 3):
            client.sendall(acks[start : start + 3])
            time.sleep(0.001)
        assert packets.next() == (0xE0, b"")

    assert _scripted(dribble, count=50, inflight=50) == 50


def test_a_refused_connection_raises_with_the_reason() -> None:
    def refuse(client: socket.socket) -> None:
        _connect(client, connack=b"\x20\x02\x00\x05")

    with pytest.raises(PublishError, match="refused the connection: code 5, not authorized"):
        _scripted(refuse, count=10)


def test_a_connection_dropped_before_the_last_ack_raises() -> None:
    def drop(client: socket.socket) -> None:
        packets = _connect(client)
        packets.next()

    with pytest.raises(PublishError, match="closed the connection, 10 unacknowledged"):
        _scripted(drop, count=10)


def test_an_unknown_ack_raises() -> None:
    def stray_ack(client: socket.socket) -> None:
        packets = _connect(client)
        packets.next()
        client.sendall(b"\x40\x02\x99\x99")
        client.recv(1)

    with pytest.raises(PublishError, match="packet identifier 39321, which is not in flight"):
        _scripted(stray_ack, count=10)


def test_neither_count_nor_seconds_is_refused() -> None:
    with pytest.raises(ValueError, match="count, seconds or both"):
        publish_many("127.0.0.1", 1, lambda i: ("t", b""))

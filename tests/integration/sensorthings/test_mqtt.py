"""The SensorThings MQTT extension against a real broker: creating Observations by publishing them, and
receiving new entities, changed properties and new Observations by subscribing."""

import queue
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform
from iotstream.log.topics import DEADLETTER
from iotstream.log.types import TopicPartition
from tests.servers import start_mqtt_broker

from .test_errors import OBSERVED, SENSOR, _datastream

T0 = "2026-11-01T10:00:00Z"


@pytest.fixture(scope="module")
def broker_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    broker = start_mqtt_broker(tmp_path_factory.mktemp("mqtt"))
    yield broker.port
    broker.stop()


@pytest.fixture
def platform(tmp_path: Path, broker_port: int) -> Iterator[EmbeddedPlatform]:
    mqtt = {"enabled": True, "url": f"mqtt://127.0.0.1:{broker_port}", "client_id": tmp_path.name}
    settings = load_settings(data_dir=tmp_path, api={"port": 0}, mqtt=mqtt)
    with EmbeddedPlatform(settings) as running:
        yield running


class Subscriber:
    """A plain MQTT client, as a SensorThings client would use one."""

    def __init__(self, port: int, topics: list[str]) -> None:
        self.messages: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._subscribed = queue.Queue[int]()
        self._held: list[tuple[str, Any]] = []
        self.client = paho.Client(CallbackAPIVersion.VERSION2)
        self.client.on_message = lambda _c, _u, m: self.messages.put((m.topic, _decode(m.payload)))
        self.client.on_subscribe = lambda _c, _u, mid, _r, _p: self._subscribed.put(mid)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        for topic in topics:
            self.client.subscribe(topic, qos=1)
            self._subscribed.get(timeout=10)

    def next(self, topic: str, timeout_s: float = 10.0) -> Any:
        """The next message on `topic`; messages on other topics wait for their turn."""
        deadline = time.monotonic() + timeout_s
        while True:
            for index, (got, document) in enumerate(self._held):
                if got == topic:
                    del self._held[index]
                    return document
            left = deadline - time.monotonic()
            try:
                assert left > 0
                self._held.append(self.messages.get(timeout=left))
            except (queue.Empty, AssertionError):
                raise AssertionError(f"nothing arrived on {topic}; got {self._held}") from None

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def sta(platform: EmbeddedPlatform) -> Iterator[httpx.Client]:
    assert platform.api is not None
    with httpx.Client(base_url=f"{platform.api.url}/v1.1", timeout=30) as client:
        yield client


def _boiler(sta: httpx.Client) -> dict[str, Any]:
    created = sta.post("/Datastreams", json=_datastream({"name": "boiler"}, SENSOR, OBSERVED, "boiler-t"))
    assert created.status_code == 201, created.text
    document: dict[str, Any] = sta.get(created.headers["location"] + "?$expand=Thing").json()
    return document


def test_subscribers_receive_new_entities_changed_properties_and_new_observations(
    platform: EmbeddedPlatform, sta: httpx.Client, broker_port: int
) -> None:
    things = Subscriber(broker_port, ["v1.1/Things"])
    try:
        datastream = _boiler(sta)
        thing_id = datastream["Thing"]["@iot.id"]
        assert things.next("v1.1/Things")["name"] == "boiler"
    finally:
        things.close()
    own = f"v1.1/Things({thing_id})"
    observations = f"v1.1/Datastreams({datastream['@iot.id']})/Observations"
    topics = [own, f"{own}/name", f"{own}/Datastreams", observations, "v1.1/Observations"]
    subscriber = Subscriber(broker_port, topics)
    try:
        assert sta.patch(f"/Things({thing_id})", json={"name": "boiler 2"}).status_code == 200
        assert subscriber.next(f"{own}/name") == {"name": "boiler 2"}
        assert subscriber.next(own)["@iot.id"] == thing_id

        sta.post("/Datastreams", json=_datastream({"@iot.id": thing_id}, SENSOR, OBSERVED, "boiler-p"))
        assert subscriber.next(f"{own}/Datastreams")["name"] == "boiler-p"

        assert platform.api is not None
        reading = {"datastream": "boiler-t", "time": T0, "value": 71.5}  # sent the iotstream way
        assert httpx.post(f"{platform.api.url}/api/v1/readings", json=reading).status_code == 202
        received = subscriber.next(observations)
        assert (received["result"], received["phenomenonTime"]) == (71.5, T0)
        assert received["@iot.id"] == f"{datastream['@iot.id']}-1793527200000"
        served = httpx.get(received["@iot.selfLink"]).json()  # the Observation a GET serves
        assert {key: served[key] for key in received} == received
        assert subscriber.next("v1.1/Observations")["result"] == 71.5
    finally:
        subscriber.close()


def test_an_observation_published_to_its_datastream_topic_is_created(
    platform: EmbeddedPlatform, sta: httpx.Client, broker_port: int
) -> None:
    datastream = _boiler(sta)
    topic = f"v1.1/Datastreams({datastream['@iot.id']})/Observations"
    subscriber = Subscriber(broker_port, [topic])
    try:
        body = {"phenomenonTime": T0, "result": 20.5, "parameters": {"battery": 0.8}}
        subscriber.client.publish(topic, msgspec.json.encode(body), qos=1).wait_for_publish(10)
        received = subscriber.next(topic)  # our own publication first, then iotstream's notification
        if "@iot.id" not in received:
            received = subscriber.next(topic)
        assert received["result"] == 20.5
    finally:
        subscriber.close()
    stored = _eventually(lambda: sta.get(f"{topic.removeprefix('v1.1')}").json()["value"])
    assert [(o["phenomenonTime"], o["result"], o["parameters"]) for o in stored] == [
        (T0, 20.5, {"battery": 0.8})
    ]
    assert len(sta.get("/Observations").json()["value"]) == 1  # the notification was not created again


def test_an_observation_that_cannot_be_created_is_dead_lettered_and_the_next_one_is_created(
    platform: EmbeddedPlatform, sta: httpx.Client, broker_port: int
) -> None:
    datastream = _boiler(sta)
    topic = f"v1.1/Datastreams({datastream['@iot.id']})/Observations"
    client = paho.Client(CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", broker_port)
    client.loop_start()
    try:
        client.publish(topic, b"{not json", qos=1).wait_for_publish(10)
        client.publish(topic, b'{"result": 1, "colour": "red"}', qos=1).wait_for_publish(10)
        client.publish("v1.1/Datastreams(999)/Observations", b'{"result": 2}', qos=1).wait_for_publish(10)
        client.publish(topic, b'{"result": 3, "phenomenonTime": "' + T0.encode() + b'"}', qos=1)
    finally:
        client.loop_stop()
        client.disconnect()
    stored = _eventually(lambda: sta.get(f"{topic.removeprefix('v1.1')}").json()["value"])
    assert [o["result"] for o in stored] == [3]
    reasons = _eventually(lambda: _dead_letter_reasons(platform), count=3)
    assert len(reasons) == 3
    # In publication order within a topic; MQTT orders nothing across topics (Datastream 999's).
    same_topic = [reason for reason in reasons if "999" not in reason]
    assert same_topic[0].startswith("SensorThings MQTT: the payload is not JSON")
    assert "Observation has no property 'colour'" in same_topic[1]
    assert ["no Datastream 999" in reason for reason in reasons].count(True) == 1


def _decode(payload: bytes) -> Any:
    return msgspec.json.decode(payload)


def _eventually(read: Any, count: int = 1, timeout_s: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while len(found := read()) < count:
        assert time.monotonic() < deadline, f"only {found}"
        time.sleep(0.05)
    return found


def _dead_letter_reasons(platform: EmbeddedPlatform) -> list[str]:
    assert platform.log is not None
    consumer = platform.log.consumer()
    consumer.assign([TopicPartition(DEADLETTER, 0)])
    records = consumer.poll(max_records=100, timeout_s=0.5)
    consumer.close()
    return [dict(r.headers)["reason"].decode() for r in records]


def _platform(tmp_path: Path, broker_port: int, **storage: Any) -> EmbeddedPlatform:
    """With the default retention (every tier forever) unless `storage` says otherwise."""
    mqtt = {"enabled": True, "url": f"mqtt://127.0.0.1:{broker_port}", "client_id": tmp_path.name}
    return EmbeddedPlatform(load_settings(data_dir=tmp_path, api={"port": 0}, mqtt=mqtt, storage=storage))


def _publish(port: int, messages: list[tuple[str, dict[str, Any]]]) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for topic, body in messages:
            client.publish(topic, msgspec.json.encode(body), qos=1).wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()


def test_an_observation_of_1999_published_over_mqtt_is_stored_and_served(
    tmp_path: Path, broker_port: int
) -> None:
    with _platform(tmp_path, broker_port) as platform:
        assert platform.api is not None
        with httpx.Client(base_url=f"{platform.api.url}/v1.1", timeout=30) as sta:
            datastream = _boiler(sta)["@iot.id"]
            topic = f"v1.1/Datastreams({datastream})/Observations"
            _publish(broker_port, [(topic, {"phenomenonTime": "1999-12-31T23:59:00Z", "result": 12.5})])
            stored = _eventually(lambda: sta.get(f"/Datastreams({datastream})/Observations").json()["value"])
    assert [(o["phenomenonTime"], o["result"]) for o in stored] == [("1999-12-31T23:59:00Z", 12.5)]


def test_with_a_raw_tier_a_too_old_reading_over_mqtt_is_dead_lettered_with_the_tier(
    tmp_path: Path, broker_port: int
) -> None:
    with _platform(tmp_path, broker_port, retention={"raw": "30d"}) as platform:
        assert platform.api is not None
        with httpx.Client(base_url=f"{platform.api.url}/v1.1", timeout=30) as sta:
            datastream = _boiler(sta)["@iot.id"]
            old = {"phenomenonTime": "1999-12-31T23:59:00Z", "result": 12.5}
            _publish(
                broker_port,
                [
                    (f"v1.1/Datastreams({datastream})/Observations", old),
                    ("iotstream/boiler-t/readings", {"time": "1999-12-31T23:59:00Z", "value": 1}),
                ],
            )
            reasons = _eventually(lambda: _dead_letter_reasons(platform), count=2)
            assert sta.get(f"/Datastreams({datastream})/Observations").json()["value"] == []
    assert all("the raw tier keeps 30 days" in reason for reason in reasons), reasons
    assert any(reason.startswith("SensorThings MQTT:") for reason in reasons)

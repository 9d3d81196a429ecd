"""Avro in and out with the client Kafka users have: confluent-kafka's AvroSerializer writes readings the
platform takes over HTTP, MQTT and a gateway topic, and its AvroDeserializer reads what the platform
writes with `[log] format = "avro"`. The smart-home meter job gives the daily values it gives from JSON."""

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import paho.mqtt.client as paho
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from paho.mqtt.enums import CallbackAPIVersion

from iotstream.embedded import EmbeddedPlatform
from iotstream.ingest.avro import MEDIA_TYPE
from iotstream.log import BaseLog
from iotstream.log.avro import AvroLog, SchemaRefusedError
from iotstream.log.topics import DEADLETTER
from tests.integration.test_end_to_end import house, settle, start_platform, wait_for_days
from tests.meters import expected_days
from tests.servers import free_port, start_mqtt_broker, start_tansu

HOUSE_READING = {
    "type": "record",
    "name": "HouseReading",
    "namespace": "home",
    "fields": [
        {"name": "datastream", "type": "string"},
        {"name": "time", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "value", "type": "double"},
    ],
}
GATEWAY = "gateway.readings"


def registry(platform: EmbeddedPlatform) -> SchemaRegistryClient:
    assert platform.api is not None
    return SchemaRegistryClient({"url": f"{platform.api.url}/schema-registry"})


def frames(platform: EmbeddedPlatform, readings: list[dict[str, Any]], topic: str = "house") -> list[bytes]:
    """The readings as the Confluent serializer writes them (registering the schema as `<topic>-value`)."""
    with registry(platform) as client:
        serializer = AvroSerializer(client, json.dumps(HOUSE_READING))
        context = SerializationContext(topic, MessageField.VALUE)
        return [serializer(reading, context) for reading in readings]


@pytest.fixture(scope="module")
def mqtt_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    broker = start_mqtt_broker(tmp_path_factory.mktemp("mqtt"))
    yield broker.port
    broker.stop()


@pytest.fixture
def platforms(tmp_path: Path) -> Iterator[Callable[..., EmbeddedPlatform]]:
    started: list[EmbeddedPlatform] = []

    def start(name: str, **settings: Any) -> EmbeddedPlatform:
        started.append(start_platform(tmp_path / name, "0s", **settings))
        return started[-1]

    yield start
    for platform in reversed(started):
        platform.stop()


@pytest.fixture(scope="module")
def json_days(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int], float]:
    """The daily values of the house sent as JSON."""
    readings = house()
    platform = start_platform(tmp_path_factory.mktemp("json"), "0s")
    try:
        assert platform.api is not None
        with httpx.Client(base_url=platform.api.url, timeout=30) as api:
            for start in range(0, len(readings), 100):
                body = msgspec.json.encode(readings[start : start + 100])
                assert api.post("/api/v1/readings", content=body).status_code == 202
            expected = _expected(readings)
            days = wait_for_days(api, expected)
    finally:
        platform.stop()
    assert days.keys() == expected.keys()
    return days


def _expected(readings: list[dict[str, Any]]) -> dict[tuple[str, int], float]:
    return expected_days([(r["datastream"], r["value"], r["time"]) for r in readings], 0)[0]


def _send_http(platform: EmbeddedPlatform, encoded: list[bytes], _: int) -> None:
    assert platform.api is not None
    with httpx.Client(base_url=platform.api.url, timeout=30) as api:
        for start in range(0, len(encoded), 100):
            body = b"".join(encoded[start : start + 100])  # frames back to back
            answer = api.post("/api/v1/readings", content=body, headers={"Content-Type": MEDIA_TYPE})
            assert answer.status_code == 202, answer.text
            assert answer.json() == {"accepted": len(encoded[start : start + 100]), "rejected": []}


def _send_mqtt(platform: EmbeddedPlatform, encoded: list[bytes], port: int) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2)
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        infos = [client.publish("iotstream/house/readings", frame, qos=1) for frame in encoded]
        for info in infos:
            info.wait_for_publish(30)
    finally:
        client.loop_stop()
        client.disconnect()


def _send_to_topic(platform: EmbeddedPlatform, encoded: list[bytes], _: int) -> None:
    """What a gateway producing straight into Kafka does."""
    with raw_log(platform).producer() as producer:
        for frame in encoded:
            producer.produce(GATEWAY, frame, b"house")


def raw_log(platform: EmbeddedPlatform) -> BaseLog:
    log = platform.log
    assert log is not None
    return log.inner if isinstance(log, AvroLog) else log


WAYS = {"http": _send_http, "mqtt": _send_mqtt, "topic": _send_to_topic}


@pytest.mark.parametrize(
    ("way", "log_format"), [("http", "json"), ("mqtt", "json"), ("topic", "avro"), ("http", "avro")]
)
def test_the_meter_job_gives_the_same_daily_values_from_avro_as_from_json(
    platforms: Callable[..., EmbeddedPlatform],
    json_days: dict[tuple[str, int], float],
    mqtt_port: int,
    way: str,
    log_format: str,
) -> None:
    settings: dict[str, Any] = {"log": {"format": log_format}, "sources": [{"topic": GATEWAY}]}
    if way == "mqtt":
        settings["mqtt"] = {"enabled": True, "url": f"mqtt://127.0.0.1:{mqtt_port}", "client_id": "avro-in"}
    platform = platforms(way, **settings)
    readings = house()
    WAYS[way](platform, frames(platform, readings), mqtt_port)
    assert platform.api is not None
    with httpx.Client(base_url=platform.api.url, timeout=30) as api:
        days = wait_for_days(api, json_days)
        assert days.keys() == json_days.keys() == _expected(readings).keys()
        for key, value in json_days.items():
            assert days[key] == pytest.approx(value, rel=1e-12), key
        stored = api.get("/api/v1/readings", params={"datastream": "W1", "limit": 100_000}).json()
    assert len(stored) == len([r for r in readings if r["datastream"] == "W1"])
    if log_format == "avro":  # the daily values are on the log as Avro the Confluent client reads
        with registry(platform) as client:
            context = SerializationContext("aggregates.1d", MessageField.VALUE)
            results = [AvroDeserializer(client)(v, context) for v in read_raw(platform, "aggregates.1d", 5)]
        assert {r["window"] for r in results} == {"1d"}
        assert all(r["key"] and r["start"] for r in results)


def read_raw(platform: EmbeddedPlatform, topic: str, count: int, timeout_s: float = 30) -> list[bytes]:
    """The values of a topic as the backend stores them: what Spark or Kafka Connect would read."""
    values: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    with raw_log(platform).consumer(f"raw-{topic}", auto_offset_reset="earliest") as consumer:
        consumer.subscribe([topic])
        while len(values) < count and time.monotonic() < deadline:
            values += [r.value for r in consumer.poll(500, 0.2) if r.value is not None]
    return values


def test_the_confluent_deserializer_reads_the_platforms_own_topics(
    platforms: Callable[..., EmbeddedPlatform],
) -> None:
    rule = {"type": "threshold", "name": "busy", "datastreams": ["W1"], "above": 0.0}
    platform = platforms("out", log={"format": "avro"}, jobs=[rule])
    readings = [
        {"datastream": "W1", "time": 1_704_067_200_000 + i * 60_000, "value": value}
        for i, value in enumerate([1.5, 2, -1, 7.25])
    ]
    readings.append({"datastream": "door", "time": 1_704_067_200_000, "value": "open"})
    assert platform.api is not None
    with httpx.Client(base_url=platform.api.url, timeout=30) as api:
        assert api.post("/api/v1/readings", json=readings).json()["accepted"] == 5
    with registry(platform) as client:
        deserialize = AvroDeserializer(client)
        observations = [
            deserialize(value, SerializationContext("observations", MessageField.VALUE))
            for value in read_raw(platform, "observations", 5)
        ]
        alerts = [
            deserialize(value, SerializationContext("alerts", MessageField.VALUE))
            for value in read_raw(platform, "alerts", 4)
        ]
        entities = [
            deserialize(value, SerializationContext("registry.datastreams", MessageField.VALUE))
            for value in read_raw(platform, "registry.datastreams", 2)
        ]
        assert [(e["key"], e["name"], json.loads(e["extra"])["@iot.id"]) for e in entities] == [
            ("W1", "W1", 1),
            ("door", "door", 2),
        ]
        assert "observations-value" in client.get_subjects()
    got = [(o["datastream"], int(o["time"].timestamp() * 1000), o["value"]) for o in observations]
    assert got == [(r["datastream"], r["time"], r["value"]) for r in readings]
    assert [type(o["value"]) for o in observations] == [float, int, int, float, str]  # each keeps its type
    assert all(o["id"] and o["resultTime"] is not None and o["extra"] is None for o in observations)
    episodes = [(a["value"]["event"], a["value"]["state"], a["value"]["max"]) for a in alerts]
    assert episodes == [
        ("open", "open", 1.5),
        ("update", "open", 2.0),
        ("close", "closed", 2.0),
        ("open", "open", 7.25),
    ]
    closed = alerts[2]["value"]
    assert closed["closed_at"] is not None
    assert (closed["threshold"], closed["direction"]) == (0.0, "above")
    assert {(a["key"], a["value"]["rule"], a["value"]["unit"]) for a in alerts} == {("W1", "busy", None)}
    with httpx.Client(base_url=platform.api.url, timeout=30) as api:  # the platform reads them back too
        stored = api.get("/api/v1/readings", params={"datastream": "door"}).json()
        assert [r["value"] for r in stored] == ["open"]
        alert_rows = api.get("/api/v1/alerts", params={"from": "2024-01-01T00:00:00Z"}).json()
    assert [row["rule"] for row in alert_rows] == ["busy", "busy"]


NO_VALUE = {"type": "record", "name": "Tag", "fields": [{"name": "datastream", "type": "string"}]}


def _bad_frames(platform: EmbeddedPlatform) -> dict[str, bytes]:
    """Every way a frame can be wrong, for a platform whose registry has HouseReading."""
    [good] = frames(platform, [{"datastream": "pump", "time": 1_704_067_200_000, "value": 3.5}])
    with registry(platform) as client:
        tag = AvroSerializer(client, json.dumps(NO_VALUE))(
            {"datastream": "pump"}, SerializationContext("tags", MessageField.VALUE)
        )
    return {
        "good": good,
        "wrong magic byte": b"\x01" + good[1:],
        "truncated": good[:3],
        "unknown id": b"\x00\x00\x00\x03\xe7" + good[5:],  # schema 999
        "cut short": good[:-4],
        "no value field": tag,
    }


REASONS = {
    "wrong magic byte": "magic byte 1, not 0: not a Confluent-framed record",
    "truncated": "a truncated frame: 3 bytes, a Confluent frame has at least 5",
    "unknown id": "unknown schema id 999",
    "cut short": "the bytes do not decode as schema",
    "no value field": "the record has no value field (its fields: datastream)",
}


def test_bad_avro_bodies_are_refused_with_the_reason_and_take_nothing_else(
    platforms: Callable[..., EmbeddedPlatform],
) -> None:
    platform = platforms("bad-http")
    bad = _bad_frames(platform)
    assert platform.api is not None
    with httpx.Client(base_url=platform.api.url, timeout=30, headers={"Content-Type": MEDIA_TYPE}) as api:
        empty = api.post("/api/v1/readings", content=b"")
        assert (empty.status_code, empty.json()["detail"]) == (400, "the body holds no Avro record")
        for case, reason in REASONS.items():
            answer = api.post("/api/v1/readings", content=bad[case])
            if case == "no value field":  # the frame decodes: a rejected reading, as in JSON
                assert answer.status_code == 202
                assert answer.json()["rejected"] == [{"index": 0, "error": reason}]
            else:
                assert answer.status_code == 400, case
                assert answer.json()["detail"].startswith(f"no Avro record could be read: {reason}"), case
        mixed = api.post("/api/v1/readings", content=bad["good"] + bad["unknown id"])
        assert mixed.status_code == 202
        assert mixed.json() == {
            "accepted": 1,
            "rejected": [
                {
                    "index": 1,
                    "error": f"{REASONS['unknown id']} ({len(bad['unknown id'])} bytes from byte "
                    f"{len(bad['good'])} not read)",
                }
            ],
        }
        as_json = api.post(
            "/api/v1/readings", content=bad["good"], headers={"Content-Type": "application/json"}
        )
        assert as_json.status_code == 400
        assert as_json.json()["detail"].startswith("body is not JSON")
        settle(platform)  # accepted means in the log; the sink stores it a moment later
        stored = api.get("/api/v1/readings", params={"datastream": "pump"}).json()
    assert [(r["time"], r["value"]) for r in stored] == [("2024-01-01T00:00:00Z", 3.5)]  # stored once


def dead_letters(platform: EmbeddedPlatform, count: int) -> list[tuple[str, str]]:
    letters: list[tuple[str, str]] = []
    deadline = time.monotonic() + 30
    with raw_log(platform).consumer("dead-test", auto_offset_reset="earliest") as consumer:
        consumer.subscribe([DEADLETTER])
        while len(letters) < count and time.monotonic() < deadline:
            for record in consumer.poll(100, 0.2):
                headers = {name: value.decode() for name, value in record.headers}
                letters.append((headers["source"], headers["reason"]))
    return letters


@pytest.mark.parametrize("way", ["mqtt", "topic"])
def test_bad_avro_records_from_mqtt_and_a_gateway_topic_are_dead_lettered_with_the_reason(
    platforms: Callable[..., EmbeddedPlatform], mqtt_port: int, way: str
) -> None:
    settings: dict[str, Any] = {"log": {"format": "avro"}, "sources": [{"topic": GATEWAY}]}
    if way == "mqtt":
        settings["mqtt"] = {"enabled": True, "url": f"mqtt://127.0.0.1:{mqtt_port}", "client_id": "avro-bad"}
    platform = platforms(way, **settings)
    bad = _bad_frames(platform)
    cases = [case for case in REASONS if way == "topic" or case != "wrong magic byte"]  # JSON over MQTT
    if way == "mqtt":
        _send_mqtt(platform, [bad[case] for case in cases] + [bad["good"]], mqtt_port)
    else:
        _send_to_topic(platform, [bad[case] for case in cases] + [bad["good"]], 0)
    letters = dead_letters(platform, len(cases))
    assert len(letters) == len(cases)
    for (source, reason), case in zip(letters, cases, strict=True):
        assert REASONS[case] in reason, (case, reason)
        expected_source = (
            "mqtt:iotstream/house/readings" if way == "mqtt" else f"topic:{GATEWAY}/0@{cases.index(case)}"
        )
        assert source == expected_source
    assert platform.api is not None
    with httpx.Client(base_url=platform.api.url) as api:
        deadline = time.monotonic() + 30
        while not (stored := api.get("/api/v1/readings", params={"datastream": "pump"}).json()):
            assert time.monotonic() < deadline
            time.sleep(0.1)
    assert [r["value"] for r in stored] == [3.5]
    assert platform.problems() == []  # every role still runs


def test_a_platform_uses_an_existing_registry_instead_of_its_own(
    platforms: Callable[..., EmbeddedPlatform],
) -> None:
    central = platforms("registry")  # stands for the team's Confluent registry
    assert central.api is not None
    url = f"{central.api.url}/schema-registry"
    with_password = url.replace("http://", "http://team:s3cret@")  # Confluent's basic authentication
    platform = platforms("user", log={"format": "avro"}, schemas={"url": with_password})
    [frame] = frames(central, [{"datastream": "pump", "time": 1_704_067_200_000, "value": 3.5}])
    assert platform.api is not None
    with httpx.Client(base_url=platform.api.url, timeout=30) as api:
        taken = api.post("/api/v1/readings", content=frame, headers={"Content-Type": MEDIA_TYPE})
        assert taken.json() == {"accepted": 1, "rejected": []}
        own = api.get("/schema-registry/subjects")
        assert own.status_code == 404
        shown = url.replace("http://", "http://team@")  # the user name, never the password
        assert (
            own.json()["message"]
            == f"this process serves no schema registry; it uses the one at {shown} ([schemas] url)"
        )
        assert "s3cret" not in own.text
    [value] = read_raw(platform, "observations", 1)
    with SchemaRegistryClient({"url": url}) as client:
        assert "observations-value" in client.get_subjects()
        reading = AvroDeserializer(client)(value, SerializationContext("observations", MessageField.VALUE))
    assert (reading["datastream"], reading["value"]) == ("pump", 3.5)


def test_consume_prints_avro_records_as_their_json(
    platforms: Callable[..., EmbeddedPlatform], cli: Callable[..., Any], tmp_path: Path
) -> None:
    platform = platforms("cli", log={"format": "avro"})
    assert platform.api is not None
    with httpx.Client(base_url=platform.api.url, timeout=30) as api:
        readings = [{"datastream": "pump", "time": 1_704_067_200_000, "value": v} for v in (1, "on")]
        assert api.post("/api/v1/readings", json=readings).json()["accepted"] == 2
    log_url = f"sqlite:///{tmp_path / 'cli' / 'log.db'}"
    consumed = cli(
        "--log", log_url, "consume", "observations", "--from-beginning", "--max", "2", "--timeout", "20"
    )
    assert consumed.returncode == 0, consumed.stderr
    lines = [json.loads(line) for line in consumed.stdout.splitlines()]
    assert [(line["value"]["datastream"], line["value"]["value"]) for line in lines] == [
        ("pump", 1),
        ("pump", "on"),
    ]
    assert len({line["schema_id"] for line in lines}) == 1
    values = cli(
        "--log", log_url, "consume", "observations", "--from-beginning", "--max", "1", "--value-only"
    )
    assert json.loads(values.stdout)["value"] == 1


def test_avro_readings_wait_for_a_registry_that_cannot_be_reached(
    platforms: Callable[..., EmbeddedPlatform],
) -> None:
    """A registry that does not answer is a reason to retry (503), never an unknown schema."""
    gone = f"http://127.0.0.1:{free_port()}"
    platform = platforms("unreachable", schemas={"url": gone})
    assert platform.api is not None
    with httpx.Client(base_url=platform.api.url, timeout=30) as api:
        answer = api.post(
            "/api/v1/readings", content=b"\x00\x00\x00\x00\x01\x02", headers={"Content-Type": MEDIA_TYPE}
        )
        assert answer.status_code == 503
        assert f"the schema registry at {gone} cannot be reached" in answer.json()["detail"]
        assert answer.headers["Retry-After"]
        assert (
            api.post("/api/v1/readings", json={"datastream": "a", "value": 1}).status_code == 202
        )  # JSON still


def test_on_kafka_a_gateways_avro_goes_in_and_kafka_consumers_read_the_platforms_avro(
    platforms: Callable[..., EmbeddedPlatform], tmp_path: Path
) -> None:
    """The Kafka user's whole story with the real clients: confluent-kafka's Producer and AvroSerializer
    as the gateway, its Consumer and AvroDeserializer as the downstream reader."""
    from confluent_kafka import Consumer, Producer

    broker = start_tansu(tmp_path)
    platform = None
    try:
        address = f"127.0.0.1:{broker.port}"
        platform = platforms(
            "kafka", log={"url": f"kafka://{address}", "format": "avro"}, sources=[{"topic": GATEWAY}]
        )
        readings = [
            {"datastream": f"meter-{i % 3}", "time": 1_704_067_200_000 + i, "value": i / 2} for i in range(30)
        ]
        gateway = Producer({"bootstrap.servers": address})
        for frame, reading in zip(frames(platform, readings), readings, strict=True):
            gateway.produce(GATEWAY, frame, reading["datastream"].encode())
        assert gateway.flush(30) == 0
        reader = Consumer(
            {"bootstrap.servers": address, "group.id": "spark", "auto.offset.reset": "earliest"}
        )
        reader.subscribe(["observations"])
        got: list[dict[str, Any]] = []
        with registry(platform) as client:
            deserialize = AvroDeserializer(client)
            deadline = time.monotonic() + 60
            while len(got) < len(readings) and time.monotonic() < deadline:
                message = reader.poll(0.5)
                if message is not None and message.error() is None:
                    got.append(
                        deserialize(message.value(), SerializationContext("observations", MessageField.VALUE))
                    )
        reader.close()
    finally:
        if platform is not None:
            platform.stop()  # before its broker goes
        broker.stop()
    as_sent = sorted((r["datastream"], r["time"], r["value"]) for r in readings)
    assert sorted((g["datastream"], int(g["time"].timestamp() * 1000), g["value"]) for g in got) == as_sent


def test_an_incompatible_change_of_an_own_record_type_stops_the_start_with_the_reason(tmp_path: Path) -> None:
    """Stands for a release whose `observations` records changed incompatibly: the subject holds a
    schema today's record type cannot read (BACKWARD, the default), so the log refuses to open."""
    earlier = {
        "type": "record",
        "name": "Reading",
        "namespace": "io.iotstream",
        "fields": [{"name": "datastream", "type": "long"}],
    }
    platform = start_platform(tmp_path, "0s")
    try:
        with registry(platform) as client:
            client.register_schema("observations-value", Schema(json.dumps(earlier), "AVRO"))
    finally:
        platform.stop()
    with pytest.raises(SchemaRefusedError) as refused:
        start_platform(tmp_path, "0s", log={"format": "avro"})
    assert "subject 'observations-value': Schema being registered is incompatible" in str(refused.value)
    assert "writer type long" in str(refused.value)  # what Avro's checker found

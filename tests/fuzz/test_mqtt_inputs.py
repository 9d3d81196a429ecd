"""MQTT messages with any topic level and any payload, through a real broker into the running platform:
each bad message is dead-lettered with its reason, every good reading sent among them is stored, and
the platform's roles all keep running."""

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform
from iotstream.log.topics import DEADLETTER
from tests.fuzz import fuzz
from tests.fuzz.test_reading_payloads import JSON_VALUES, READING_LIKE
from tests.servers import start_mqtt_broker

T0 = 1_714_557_600_000
# A topic level: any text a broker takes in a topic name (no wildcards or separator; no control
# characters or non-characters, for which mosquitto disconnects the publisher).
LEVELS = st.text(
    st.characters(exclude_characters="+#/", exclude_categories=("Cs", "Cc", "Cn")), min_size=1, max_size=12
)
PAYLOADS = st.one_of(
    st.binary(max_size=100),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.lists(READING_LIKE, max_size=3).map(lambda v: json.dumps(v).encode()),
)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[EmbeddedPlatform, paho.Client]]:
    broker = start_mqtt_broker(tmp_path)
    url = f"mqtt://127.0.0.1:{broker.port}"
    keep = {"raw": "36500d", "1m": "36500d", "1h": "36500d"}
    settings = load_settings(
        data_dir=tmp_path / "data",
        api={"port": 0},
        storage={"retention": keep},
        mqtt={"enabled": True, "url": url},
    )
    client = paho.Client(CallbackAPIVersion.VERSION2)
    client.max_inflight_messages_set(1000)
    try:
        with EmbeddedPlatform(settings) as platform:
            client.connect("127.0.0.1", broker.port)
            client.loop_start()
            yield platform, client
            client.loop_stop()
            client.disconnect()
    finally:
        broker.stop()


def test_any_topic_and_payload_is_stored_or_dead_lettered_and_good_readings_get_through(
    running: tuple[EmbeddedPlatform, paho.Client],
) -> None:
    platform, client = running
    good: list[int] = []
    published: list[Any] = []
    numbers = itertools.count()

    @fuzz(60)
    @given(st.lists(st.tuples(LEVELS, PAYLOADS), max_size=4))
    def publish(messages: list[tuple[str, bytes]]) -> None:
        for level, payload in messages:
            published.append(client.publish(f"iotstream/{level}/readings", payload, qos=1))
        number = next(numbers)
        reading = json.dumps({"time": T0 + number, "value": number}).encode()
        published.append(client.publish("iotstream/fuzz-good/readings", reading, qos=1))
        good.append(T0 + number)

    publish()
    for info in published:
        info.wait_for_publish(30)
    assert platform.api is not None
    with httpx.Client(base_url=platform.api.url, timeout=30) as api:
        deadline = time.monotonic() + 30
        while True:
            rows = api.get("/api/v1/readings", params={"datastream": "fuzz-good", "limit": 100_000}).json()
            if len(rows) >= len(good) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert len(rows) == len(good), "a good reading among bad messages was lost"
    assert platform.problems() == []
    letters = _dead_letters(platform)
    assert letters, "among so many bad messages some must be dead-lettered"
    assert all(source.startswith("mqtt:iotstream/") and reason for source, reason in letters)


def _dead_letters(platform: EmbeddedPlatform) -> list[tuple[str, str]]:
    assert platform.log is not None
    letters: list[tuple[str, str]] = []
    with platform.log.consumer("fuzz-dead", auto_offset_reset="earliest") as consumer:
        consumer.subscribe([DEADLETTER])
        for _ in range(10):
            for record in consumer.poll(1000, 0.2):
                headers = {name: value.decode() for name, value in record.headers}
                letters.append((headers["source"], headers["reason"]))
    return letters

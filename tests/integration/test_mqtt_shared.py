"""Several `mqtt` processes on one broker: members of an MQTT 5 shared subscription, each message is
taken by exactly one of them (mosquitto hands them out in turn)."""

import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from iotstream.ingest.config import IngestSettings, MqttSettings
from iotstream.ingest.ingestor import Ingestor
from iotstream.ingest.mqtt import MqttIngest
from iotstream.log import BaseLog, TopicPartition
from iotstream.log.topics import OBSERVATIONS
from iotstream.sim.publish import MqttPublisher
from tests.servers import Server, start_mqtt_broker

pytestmark = pytest.mark.slow


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Server]:
    server = start_mqtt_broker(tmp_path)
    if "mosquitto" not in Path(server.argv[0]).name:
        pytest.fail("shared subscriptions need mosquitto: apt-get install mosquitto (`make test` does)")
    yield server
    server.stop()


def test_two_members_of_a_shared_group_take_each_message_once(broker: Server, log: BaseLog) -> None:
    url = f"mqtt://127.0.0.1:{broker.port}"
    ingestors = [Ingestor(log, IngestSettings()) for _ in range(2)]
    members = [
        MqttIngest(
            MqttSettings(enabled=True, url=url, client_id=f"ingest-{n}", shared_group="ingest"), ingestor
        )
        for n, ingestor in enumerate(ingestors)
    ]
    for member in members:
        member.start()
    publisher = MqttPublisher("127.0.0.1", broker.port)
    try:
        publisher.send([{"datastream": "shared", "time": 1_000 + i, "value": i} for i in range(400)])
        deadline = time.monotonic() + 30
        while sum(ingestor.counts.accepted for ingestor in ingestors) < 400:
            assert time.monotonic() < deadline, [ingestor.counts for ingestor in ingestors]
            time.sleep(0.05)
    finally:
        publisher.close()
        for member in members:
            member.stop()
    assert all(ingestor.counts.accepted > 0 for ingestor in ingestors)  # both took a share
    for ingestor in ingestors:
        ingestor.flush()
        ingestor.close()
    consumer = log.consumer()
    consumer.assign([TopicPartition(OBSERVATIONS, 0)])
    times = [
        msgspec.json.decode(r.value or b"")["time"] for r in consumer.poll(max_records=1_000, timeout_s=2)
    ]
    consumer.close()
    assert sorted(times) == [1_000 + i for i in range(400)]  # each once

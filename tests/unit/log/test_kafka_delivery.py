"""What a Kafka delivery report tells the caller about where a record landed."""

from typing import cast

import pytest

from iotstream.log.config import LogSettings
from iotstream.log.kafka._client import Availability, client_config, confluent_kafka
from iotstream.log.kafka._topics import KafkaTopics
from iotstream.log.kafka.producer import KafkaProducer
from iotstream.log.types import RecordMetadata


@pytest.mark.parametrize(("offset", "reported"), [(41, 41), (-1, -1)])
def test_a_delivery_reports_the_offset_or_minus_one_when_there_is_none(offset: int, reported: int) -> None:
    """librdkafka hands Python no offset (None) when the broker's answer had none, as for a retried batch
    the broker calls a duplicate; 0 would name a record that is someone else's."""
    settings = LogSettings(url="kafka://127.0.0.1:9")
    availability = Availability("127.0.0.1:9")
    config = client_config(settings, availability)
    producer = KafkaProducer(config, settings, cast(KafkaTopics, None), availability)
    landed: list[RecordMetadata] = []
    message = confluent_kafka.Message(topic="t", partition=1, offset=offset, value=b"x", timestamp=(1, 7))
    producer._delivered(lambda _err, metadata: landed.append(metadata), None, message)
    producer.close()
    assert landed == [RecordMetadata("t", 1, reported, 7)]

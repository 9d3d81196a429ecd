"""Contract: groups of records that become readable together or not at all, on every log backend."""

from collections.abc import Callable

import pytest

from iotstream.log import BaseLog, TopicPartition
from iotstream.log.exceptions import RecordTooLargeError
from iotstream.log.partitioner import partition_for
from iotstream.log.types import OutgoingRecord
from tests.contract.helpers import consume


def test_a_group_spans_topics_and_lands_where_its_keys_say(
    log: BaseLog, new_topic: Callable[..., str]
) -> None:
    readings, cursors = new_topic(partitions=4), new_topic()
    group = [
        OutgoingRecord(readings, f"v{i}".encode(), f"sensor-{i}".encode(), timestamp_ms=1_000 + i)
        for i in range(20)
    ]
    group.append(OutgoingRecord(cursors, b"19", b"site-a", headers=[("h", b"1")]))
    with log.atomic_producer("contract-atomic") as producer:
        landed = producer.produce_all(group)
    assert sorted((m.topic, m.partition) for m in landed) == sorted(
        [(readings, partition_for(f"sensor-{i}".encode(), 4)) for i in range(20)] + [(cursors, 0)]
    )
    consumer = log.consumer()
    consumer.assign([TopicPartition(readings, p) for p in range(4)] + [TopicPartition(cursors, 0)])
    records = consume(consumer, 21)
    assert sorted(r.value or b"" for r in records if r.topic == readings) == sorted(
        r.value or b"" for r in group[:20]
    )
    [cursor] = [r for r in records if r.topic == cursors]
    assert (cursor.key, cursor.value, list(cursor.headers)) == (b"site-a", b"19", [("h", b"1")])
    consumer.close()


def test_a_group_with_one_refused_record_appends_nothing(log: BaseLog, new_topic: Callable[..., str]) -> None:
    topic = new_topic()
    refused = OutgoingRecord(topic, b"x" * (log.settings.max_record_bytes + 1))
    with log.atomic_producer("contract-atomic-refused") as producer:
        with pytest.raises(RecordTooLargeError):
            producer.produce_all([OutgoingRecord(topic, b"first"), refused])
        producer.produce_all([OutgoingRecord(topic, b"after")])
    consumer = log.consumer()
    consumer.assign([TopicPartition(topic, 0)])
    assert [r.value for r in consume(consumer, 1)] == [b"after"]
    assert consumer.poll(timeout_s=0.5) == []
    consumer.close()

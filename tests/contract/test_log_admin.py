"""Contract: topic administration, lag, retention and compaction."""

from collections.abc import Callable

import pytest

from iotstream.log import BaseLog, CleanupPolicy, TopicPartition, TopicSpec
from iotstream.log.exceptions import (
    InvalidRecordError,
    InvalidTopicError,
    TopicExistsError,
    UnknownTopicError,
)
from tests.contract.helpers import consume, produce_acked


def test_topics_are_created_described_listed_and_deleted(log: BaseLog) -> None:
    log.create_topic(TopicSpec("admin-a", partitions=3, retention_ms=60_000, retention_bytes=1_000_000))
    log.create_topic(TopicSpec("admin-b", cleanup_policy=CleanupPolicy.COMPACT))
    assert {"admin-a", "admin-b"} <= set(log.list_topics())
    assert log.describe_topic("admin-b").spec.cleanup_policy is CleanupPolicy.COMPACT
    description = log.describe_topic("admin-a")
    assert description.spec.partitions == 3
    assert (description.spec.retention_ms, description.spec.retention_bytes) == (60_000, 1_000_000)
    assert [(p.partition, p.start_offset, p.end_offset) for p in description.partitions] == [
        (0, 0, 0),
        (1, 0, 0),
        (2, 0, 0),
    ]
    log.delete_topic("admin-a")
    assert "admin-a" not in log.list_topics()
    with pytest.raises(UnknownTopicError):
        log.describe_topic("admin-a")


def test_bad_topic_requests_get_precise_errors(log: BaseLog) -> None:
    log.create_topic(TopicSpec("dup"))
    with pytest.raises(TopicExistsError, match="'dup' already exists"):
        log.create_topic(TopicSpec("dup"))
    log.create_topic(TopicSpec("dup"), exist_ok=True)
    with pytest.raises(InvalidTopicError, match="invalid topic name"):
        log.create_topic(TopicSpec("no spaces allowed"))
    with pytest.raises(InvalidTopicError, match="partitions must be"):
        log.create_topic(TopicSpec("zero", partitions=0))
    with pytest.raises(UnknownTopicError):
        log.delete_topic("never-created")


def test_describe_shows_consumer_group_lag(log: BaseLog, new_topic: Callable[..., str]) -> None:
    topic = new_topic()
    with log.producer() as producer:
        produce_acked(producer, topic, [b"x"] * 10)
    consumer = log.consumer("lagging")
    consumer.subscribe([topic])
    consume(consumer, 4)
    consumer.commit()
    (lag,) = log.describe_topic(topic).groups
    assert (lag.group, lag.committed, lag.end_offset, lag.lag) == ("lagging", 4, 10, 6)
    assert log.group_lag("lagging") == [lag]
    consumer.close()


def test_time_retention_drops_old_records_and_moves_the_start_offset(
    log: BaseLog, new_topic: Callable[..., str]
) -> None:
    import time

    topic = new_topic(retention_ms=60_000)
    now_ms = int(time.time() * 1000)
    with log.producer() as producer:
        for i in range(5):
            producer.produce(topic, b"old", timestamp_ms=now_ms - 3_600_000 + i)
        assert producer.flush(10) == 0
        for _ in range(3):
            producer.produce(topic, b"new", timestamp_ms=now_ms)
        assert producer.flush(10) == 0
    log.run_maintenance()
    (partition,) = log.describe_topic(topic).partitions
    assert (partition.start_offset, partition.end_offset) == (5, 8)
    consumer = log.consumer()
    consumer.assign([TopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    assert [(r.offset, r.value) for r in consume(consumer, 3)] == [(5, b"new"), (6, b"new"), (7, b"new")]
    consumer.close()


def test_size_retention_keeps_the_newest_records_within_the_limit(
    log: BaseLog, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(retention_bytes=2_000)
    with log.producer() as producer:
        for i in range(20):  # one flush per record: one stored batch per record
            produce_acked(producer, topic, [f"{i:03d}".encode() * 100])
    log.run_maintenance()
    (partition,) = log.describe_topic(topic).partitions
    assert partition.end_offset == 20
    assert 12 <= partition.start_offset < 20
    consumer = log.consumer()
    consumer.assign([TopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    records = consume(consumer, 20 - partition.start_offset)
    assert records[-1].value == b"019" * 100


def test_compaction_keeps_the_latest_value_of_every_key(log: BaseLog) -> None:
    log.create_topic(TopicSpec("registry", cleanup_policy=CleanupPolicy.COMPACT))
    with log.producer() as producer:
        for version in range(3):
            for device in ("d1", "d2", "d3"):
                produce_acked(producer, "registry", [f"{device}-v{version}".encode()], key=device.encode())
        produce_acked(producer, "registry", [b"d1-v3"], key=b"d1")
        with pytest.raises(InvalidRecordError, match="needs a key"):
            producer.produce("registry", b"keyless")
    report = log.run_maintenance()
    assert report.records_compacted == 7
    consumer = log.consumer()
    consumer.assign([TopicPartition("registry", 0)])
    consumer.seek_to_beginning()
    latest = consume(consumer, 3)
    assert [(r.key, r.value, r.offset) for r in latest] == [
        (b"d2", b"d2-v2", 7),
        (b"d3", b"d3-v2", 8),
        (b"d1", b"d1-v3", 9),
    ]
    assert consumer.poll(timeout_s=0.1) == []
    consumer.close()

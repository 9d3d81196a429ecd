"""Contract: producing and reading records, on every log backend."""

import time
from collections.abc import Callable
from typing import Any

import pytest

from iotstream.log import BaseConsumer, BaseLog, BaseProducer, TopicPartition, TopicSpec
from iotstream.log.exceptions import InvalidRecordError, RecordTooLargeError, UnknownTopicError
from iotstream.log.partitioner import partition_for
from tests.contract.helpers import consume, produce_acked


def test_records_keep_their_order_and_get_dense_offsets(log: BaseLog, new_topic: Callable[..., str]) -> None:
    topic = new_topic()
    values = [f"reading-{i}".encode() for i in range(1_000)]
    with log.producer() as producer:
        acks = produce_acked(producer, topic, values)
    assert [a.offset for a in acks] == list(range(1_000))
    consumer = log.consumer()
    consumer.assign([TopicPartition(topic, 0)])
    records = consume(consumer, 1_000)
    assert [r.value for r in records] == values
    assert [r.offset for r in records] == list(range(1_000))
    consumer.close()


def test_a_key_always_lands_in_the_partition_kafka_would_choose(
    log: BaseLog, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=6)
    keys = [f"sensor-{i}".encode() for i in range(40)]
    with log.producer() as producer:
        acks = [produce_acked(producer, topic, [b"v"], key=key)[0] for key in keys]
    assert [a.partition for a in acks] == [partition_for(key, 6) for key in keys]
    assert partition_for(b"foobar", 50) == 16  # value from Kafka's own partitioner tests


def test_order_is_kept_per_partition_when_partitions_interleave(
    log: BaseLog, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=4)
    with log.producer() as producer:
        for i in range(2_000):
            producer.produce(topic, str(i).encode(), key=f"k{i % 10}".encode())
        assert producer.flush(10) == 0
    consumer = log.consumer()
    consumer.assign([TopicPartition(topic, p) for p in range(4)])
    records = consume(consumer, 2_000)
    for key in {r.key for r in records}:
        sequence = [int(r.value or b"") for r in records if r.key == key]
        assert sequence == sorted(sequence), f"key {key!r} out of order"
    consumer.close()


def test_keys_headers_timestamps_and_tombstones_round_trip(
    log: BaseLog, new_topic: Callable[..., str]
) -> None:
    topic = new_topic()
    with log.producer() as producer:
        producer.produce(
            topic,
            b"v1",
            key=b"k1",
            headers=[("trace", b"abc"), ("unit", b"kWh")],
            timestamp_ms=1_700_000_000_123,
        )
        producer.produce(topic, None, key=b"k1", timestamp_ms=1_700_000_000_456)
        producer.produce(topic, b"keyless")
        assert producer.flush(10) == 0
    consumer = log.consumer()
    consumer.assign([TopicPartition(topic, 0)])
    first, tombstone, keyless = consume(consumer, 3)
    assert (first.key, first.value, first.timestamp_ms) == (b"k1", b"v1", 1_700_000_000_123)
    assert [tuple(h) for h in first.headers] == [("trace", b"abc"), ("unit", b"kWh")]
    assert (tombstone.key, tombstone.value, tombstone.timestamp_ms) == (b"k1", None, 1_700_000_000_456)
    assert (keyless.key, keyless.value) == (None, b"keyless")
    consumer.close()


def _ten_records(log: BaseLog, topic: str) -> BaseConsumer:
    with log.producer() as producer:
        for i in range(10):
            producer.produce(topic, str(i).encode(), timestamp_ms=1_000 * (i + 1))
        assert producer.flush(10) == 0
    consumer = log.consumer()
    consumer.assign([TopicPartition(topic, 0)])
    return consumer


def test_seek_to_an_offset_and_to_the_beginning(log: BaseLog, new_topic: Callable[..., str]) -> None:
    consumer = _ten_records(log, new_topic())
    consumer.seek(TopicPartition(consumer.assignment().pop().topic, 0), 7)
    assert [r.offset for r in consume(consumer, 3)] == [7, 8, 9]
    consumer.seek_to_beginning()
    assert [r.offset for r in consume(consumer, 2)] == [0, 1]
    consumer.close()


def test_seek_to_the_end_reads_nothing_old(log: BaseLog, new_topic: Callable[..., str]) -> None:
    topic = new_topic()
    consumer = _ten_records(log, topic)
    consumer.seek_to_end()
    assert consumer.position(TopicPartition(topic, 0)) == 10
    assert consumer.poll(timeout_s=0.1) == []
    consumer.close()


def test_seek_to_a_timestamp(log: BaseLog, new_topic: Callable[..., str]) -> None:
    consumer = _ten_records(log, new_topic())
    consumer.seek_to_timestamp(4_500)
    assert consume(consumer, 1)[0].timestamp_ms == 5_000
    consumer.close()


def test_latest_reset_reads_only_new_records(log: BaseLog, new_topic: Callable[..., str]) -> None:
    topic = new_topic()
    with log.producer() as producer:
        produce_acked(producer, topic, [b"old"])
        consumer = log.consumer("g-latest", auto_offset_reset="latest")
        consumer.assign([TopicPartition(topic, 0)])
        assert consumer.poll(timeout_s=0.1) == []
        produce_acked(producer, topic, [b"new"])
        assert [r.value for r in consume(consumer, 1)] == [b"new"]
    consumer.close()


def test_end_offsets_report_the_next_offset(log: BaseLog, new_topic: Callable[..., str]) -> None:
    topic = new_topic(partitions=2)
    with log.producer() as producer:
        for i in range(5):
            producer.produce(topic, b"x", partition=i % 2)
        assert producer.flush(10) == 0
    assert log.end_offsets([TopicPartition(topic, 0), TopicPartition(topic, 1)]) == {
        TopicPartition(topic, 0): 3,
        TopicPartition(topic, 1): 2,
    }


def test_an_oversized_record_is_refused_and_the_others_still_arrive(
    make_log: Callable[..., BaseLog],
) -> None:
    log = make_log(max_record_bytes=1_000)
    log.create_topic(TopicSpec("sized"))
    with log.producer() as producer:
        producer.produce("sized", b"a" * 10)
        with pytest.raises(RecordTooLargeError, match=r"2000 bytes .* max_record_bytes = 1000"):
            producer.produce("sized", b"b" * 2_000)
        producer.produce("sized", b"c" * 10)
        assert producer.flush(10) == 0
    consumer = log.consumer()
    consumer.assign([TopicPartition("sized", 0)])
    assert [r.value for r in consume(consumer, 2)] == [b"a" * 10, b"c" * 10]
    consumer.close()


def test_producing_to_a_missing_topic_fails_clearly_when_auto_create_is_off(
    make_log: Callable[..., BaseLog],
) -> None:
    log = make_log(auto_create_topics=False)
    with log.producer() as producer, pytest.raises(UnknownTopicError, match="'nope' does not exist"):
        producer.produce("nope", b"x")


def test_a_missing_topic_is_created_on_first_produce_by_default(log: BaseLog) -> None:
    with log.producer() as producer:
        produce_acked(producer, "created-on-demand", [b"x"])
    assert "created-on-demand" in log.list_topics()


def test_poll_returns_empty_after_its_timeout(log: BaseLog, new_topic: Callable[..., str]) -> None:
    consumer = log.consumer()
    consumer.assign([TopicPartition(new_topic(), 0)])
    started = time.monotonic()
    assert consumer.poll(timeout_s=0.3) == []
    assert 0.25 <= time.monotonic() - started < 2.0
    consumer.close()


def test_produce_many_queues_a_batch_of_one_topic_and_answers_it_once(
    make_log: Callable[..., BaseLog],
) -> None:
    """`on_done` runs once per batch, after the log has every record, or at once with the error when
    a record is refused (the SQLite log then queues none of the batch; Kafka those before it)."""
    log = make_log(max_record_bytes=1_000, auto_create_topics=False)
    log.create_topic(TopicSpec("many", partitions=2))
    records = [(f"v{i}".encode(), f"k{i % 5}".encode(), 1_000 + i) for i in range(300)]
    unkeyed = [(f"u{i}".encode(), None, 2_000 + i) for i in range(10)]
    bad = [(b"ok", b"k0", 1), (b"x" * 2_000, b"k0", 2), (b"after", b"k0", 3)]
    done: list[Exception | None] = []
    failed: list[Exception | None] = []

    def produce(producer: BaseProducer, topic: str, batch: list[Any], into: list[Exception | None]) -> None:
        values, keys, times = (list(column) for column in zip(*batch, strict=True))
        producer.produce_many(topic, values, keys, times, into.append)

    with log.producer() as producer:
        produce(producer, "many", records, done)
        produce(producer, "many", unkeyed, done)
        producer.produce_many("many", [], [], [], done.append)  # answered at once
        with pytest.raises(RecordTooLargeError):
            produce(producer, "many", bad, failed)
        with pytest.raises(UnknownTopicError):
            produce(producer, "nope", [(b"x", None, 1)], failed)
        with pytest.raises(InvalidRecordError):
            producer.produce_many("many", ["text"], [None], [1], failed.append)  # type: ignore[list-item]
        assert producer.flush(10) == 0
    assert done == [None, None, None]
    assert len(failed) == 3  # Kafka answers the batch too large once its queued record landed
    assert {type(e) for e in failed} == {RecordTooLargeError, UnknownTopicError, InvalidRecordError}
    consumer = log.consumer()
    consumer.assign([TopicPartition("many", p) for p in (0, 1)])
    landed = consume(consumer, 310, timeout_s=5)
    landed += consumer.poll(max_records=10, timeout_s=1.0)  # of `bad`: "ok" at most (Kafka)
    consumer.close()
    ours = [r.value for r in landed if r.value != b"ok"]
    assert sorted(ours) == sorted(v for v, _, _ in records + unkeyed)
    assert len(landed) - len(ours) <= 1
    for record in landed:
        if record.key is not None:
            assert record.partition == partition_for(record.key, 2)
        if record.value.startswith(b"v"):
            assert record.timestamp_ms == 1_000 + int(record.value[1:])
    by_partition: dict[int, list[bytes]] = {}
    for record in landed:
        by_partition.setdefault(record.partition, []).append(record.value)
    for values in by_partition.values():  # each partition keeps the batch's order
        keyed = [v for v in values if v.startswith(b"v")]
        assert keyed == sorted(keyed, key=lambda v: int(v[1:]))

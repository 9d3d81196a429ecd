"""Small helpers shared by the contract tests."""

import time

from iotstream.log import BaseConsumer, BaseProducer, Record, RecordMetadata


def consume(consumer: BaseConsumer, count: int, timeout_s: float = 10.0) -> list[Record]:
    """Poll until `count` records arrived; fail loudly instead of hanging when they do not."""
    records: list[Record] = []
    deadline = time.monotonic() + timeout_s
    while len(records) < count and time.monotonic() < deadline:
        records.extend(consumer.poll(max_records=count - len(records), timeout_s=0.2))
    assert len(records) == count, f"expected {count} records, got {len(records)}"
    return records


def produce_acked(
    producer: BaseProducer, topic: str, values: list[bytes], key: bytes | None = None
) -> list[RecordMetadata]:
    """Produce and flush; return the metadata of every acknowledgement, failing on any error."""
    acks: list[RecordMetadata] = []

    def on_delivery(error: Exception | None, metadata: RecordMetadata) -> None:
        assert error is None, error
        acks.append(metadata)

    for value in values:
        producer.produce(topic, value, key=key, on_delivery=on_delivery)
    assert producer.flush(10) == 0
    return acks

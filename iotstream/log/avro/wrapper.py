"""`[log] format = "avro"`: a log that stores iotstream's own topics as Confluent-framed Avro.

It wraps any backend. Producers encode what they are given on the way in, consumers decode on the way
out, so every role still reads and writes JSON documents and none of them knows the format; tools
reading the backend directly (Spark, Kafka Connect, `confluent_kafka`'s `AvroDeserializer`) see Avro
with schemas in the registry.
"""

from collections.abc import Iterable, Sequence

import msgspec

from iotstream.log.avro.codec import AvroCodec
from iotstream.log.base import BaseAtomicProducer, BaseConsumer, BaseLog, BaseProducer
from iotstream.log.exceptions import LogError
from iotstream.log.types import (
    DeliveryCallback,
    GroupLag,
    Headers,
    MaintenanceReport,
    OffsetResetValue,
    OutgoingRecord,
    PartitionsCallback,
    Record,
    RecordMetadata,
    TopicDescription,
    TopicPartition,
    TopicSpec,
)

__all__ = ["AvroLog"]


class AvroLog(BaseLog):
    def __init__(self, log: BaseLog, codec: AvroCodec) -> None:
        self.inner = log
        self.codec = codec

    def create_topic(self, spec: TopicSpec, *, exist_ok: bool = False) -> None:
        self.inner.create_topic(spec, exist_ok=exist_ok)

    def delete_topic(self, name: str) -> None:
        self.inner.delete_topic(name)

    def list_topics(self) -> list[str]:
        return self.inner.list_topics()

    def describe_topic(self, name: str) -> TopicDescription:
        return self.inner.describe_topic(name)

    def end_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        return self.inner.end_offsets(partitions)

    def group_lag(self, group: str) -> list[GroupLag]:
        return self.inner.group_lag(group)

    def producer(self) -> BaseProducer:
        return _Producer(self.inner.producer(), self.codec)

    def atomic_producer(self, transactional_id: str) -> BaseAtomicProducer:
        return _AtomicProducer(self.inner.atomic_producer(transactional_id), self.codec)

    def consumer(
        self, group_id: str | None = None, *, auto_offset_reset: OffsetResetValue = "earliest"
    ) -> BaseConsumer:
        return _Consumer(self.inner.consumer(group_id, auto_offset_reset=auto_offset_reset), self.codec)

    def run_maintenance(self) -> MaintenanceReport:
        return self.inner.run_maintenance()

    def close(self) -> None:
        self.inner.close()


class _Producer(BaseProducer):
    def __init__(self, inner: BaseProducer, codec: AvroCodec) -> None:
        self._inner = inner
        self._encode = codec.encode

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        *,
        headers: Headers = (),
        timestamp_ms: int | None = None,
        partition: int | None = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None:
        self._inner.produce(
            topic,
            self._encode(topic, value),
            key,
            headers=headers,
            timestamp_ms=timestamp_ms,
            partition=partition,
            on_delivery=on_delivery,
        )

    def flush(self, timeout_s: float | None = None) -> int:
        return self._inner.flush(timeout_s)

    def close(self) -> None:
        self._inner.close()


class _AtomicProducer(BaseAtomicProducer):
    def __init__(self, inner: BaseAtomicProducer, codec: AvroCodec) -> None:
        self._inner = inner
        self._encode = codec.encode

    def produce_all(self, records: Sequence[OutgoingRecord], timeout_s: float = 30.0) -> list[RecordMetadata]:
        encoded = [r._replace(value=self._encode(r.topic, r.value)) for r in records]
        return self._inner.produce_all(encoded, timeout_s)

    def close(self) -> None:
        self._inner.close()


class _Consumer(BaseConsumer):
    def __init__(self, inner: BaseConsumer, codec: AvroCodec) -> None:
        self._inner = inner
        self._decode = codec.decode

    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]:
        """A batch that cannot be decoded now (the registry does not answer) is read again next time,
        not skipped: the inner consumer has already moved past it."""
        records = self._inner.poll(max_records, timeout_s)
        decode, replace = self._decode, msgspec.structs.replace
        try:
            return [
                replace(r, value=decode(r.topic, r.value)) if r.value and r.value[0] == 0 else r
                for r in records
            ]
        except LogError:
            self._inner.rewind(records)
            raise

    def subscribe(
        self,
        topics: Sequence[str],
        *,
        on_assign: PartitionsCallback | None = None,
        on_revoke: PartitionsCallback | None = None,
    ) -> None:
        self._inner.subscribe(topics, on_assign=on_assign, on_revoke=on_revoke)

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        self._inner.assign(partitions)

    def assignment(self) -> set[TopicPartition]:
        return self._inner.assignment()

    def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        self._inner.commit(offsets)

    def committed(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int | None]:
        return self._inner.committed(partitions)

    def position(self, partition: TopicPartition) -> int:
        return self._inner.position(partition)

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self._inner.seek(partition, offset)

    def offset_bounds(self, partition: TopicPartition) -> tuple[int, int]:
        return self._inner.offset_bounds(partition)

    def seek_to_beginning(self, partitions: Iterable[TopicPartition] | None = None) -> None:
        self._inner.seek_to_beginning(partitions)

    def seek_to_end(self, partitions: Iterable[TopicPartition] | None = None) -> None:
        self._inner.seek_to_end(partitions)

    def seek_to_timestamp(
        self, timestamp_ms: int, partitions: Iterable[TopicPartition] | None = None
    ) -> None:
        self._inner.seek_to_timestamp(timestamp_ms, partitions)

    def close(self) -> None:
        self._inner.close()

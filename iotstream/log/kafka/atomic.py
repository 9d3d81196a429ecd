"""All-or-nothing groups on Kafka: one transaction per group, read by consumers with `read_committed`
(librdkafka's default isolation). A process that restarts with the same transactional id fences its
older self and aborts what it left open, so a group half-written before a crash is never read."""

import contextlib
import threading
from collections.abc import Sequence
from typing import Any

from iotstream.log.base import BaseAtomicProducer
from iotstream.log.config import LogSettings
from iotstream.log.exceptions import LogError, RecordTooLargeError
from iotstream.log.kafka._client import KafkaError, KafkaException, confluent_kafka, translate
from iotstream.log.kafka._topics import KafkaTopics
from iotstream.log.types import OutgoingRecord, RecordMetadata

__all__ = ["KafkaAtomicProducer"]


class KafkaAtomicProducer(BaseAtomicProducer):
    def __init__(
        self, config: dict[str, Any], settings: LogSettings, topics: KafkaTopics, transactional_id: str
    ) -> None:
        self._settings = settings
        self._topics = topics
        self._producer = confluent_kafka.Producer(
            {
                "transactional.id": transactional_id,
                # A group commits within milliseconds; a process that dies with one open holds back
                # every read-committed consumer until the coordinator aborts it after this long.
                "transaction.timeout.ms": 10_000,
                "linger.ms": 0,  # a group is committed right after it is produced
                "message.max.bytes": max(settings.max_record_bytes + 4096, 1_000_000),
                "partitioner": "murmur2_random",
                **config,
            }
        )
        self._lock = threading.Lock()  # one transaction at a time per producer
        try:
            self._producer.init_transactions(settings.request_timeout_ms / 1000)
        except KafkaException as err:
            raise translate(err, f"starting transactions as {transactional_id!r}") from err

    def produce_all(self, records: Sequence[OutgoingRecord], timeout_s: float = 30.0) -> list[RecordMetadata]:
        landed: list[RecordMetadata] = []
        failures: list[KafkaError] = []

        def delivered(error: KafkaError | None, message: "confluent_kafka.Message") -> None:
            if error is not None:
                failures.append(error)
                return
            topic, partition, offset = message.topic() or "", message.partition() or 0, message.offset()
            ts = message.timestamp()[1]
            landed.append(RecordMetadata(topic, partition, -1 if offset is None else offset, ts))

        self._check(records)  # a record Kafka would refuse fails the group before anything is sent
        with self._lock:
            try:
                self._producer.begin_transaction()
                for r in records:
                    self._producer.produce(
                        r.topic,
                        r.value,
                        r.key,
                        on_delivery=delivered,
                        timestamp=r.timestamp_ms or 0,
                        headers=list(r.headers) or None,
                    )
                self._producer.flush(timeout_s)
                if not failures:
                    self._producer.commit_transaction(timeout_s)
            except (KafkaException, BufferError) as err:
                self._abort()
                if isinstance(err, KafkaException):
                    raise translate(err, f"a group of {len(records)} records") from err
                raise LogError(f"a group of {len(records)} records was not appended: {err}") from err
            if failures:
                self._abort()
                raise translate(failures[0], f"a group of {len(records)} records")
        return landed

    def _check(self, records: Sequence[OutgoingRecord]) -> None:
        for r in records:
            self._topics.get(r.topic)
            size = len(r.value or b"") + len(r.key or b"") + sum(len(n) + len(v) for n, v in r.headers)
            if size > self._settings.max_record_bytes:
                raise RecordTooLargeError(
                    f"record of {size} bytes for topic {r.topic!r} exceeds [log] max_record_bytes = "
                    f"{self._settings.max_record_bytes}"
                )

    def _abort(self) -> None:
        # With no transaction open, or the broker gone, the coordinator aborts it on its timeout.
        with contextlib.suppress(KafkaException):
            self._producer.abort_transaction(self._settings.request_timeout_ms / 1000)

    def close(self) -> None:
        self._producer.flush(self._settings.delivery_timeout_ms / 1000)

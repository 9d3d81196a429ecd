"""Producing to Kafka: an idempotent producer (acks=all), batches tuned for small records.

librdkafka runs delivery callbacks only inside `poll()`/`flush()`, so a thread polls for as long as
the producer lives; the caller's callbacks then run without the caller having to poll.
"""

import functools
import threading
import time
from typing import Any

from iotstream.log.base import BaseProducer
from iotstream.log.config import LogSettings
from iotstream.log.exceptions import (
    InvalidRecordError,
    LogClosedError,
    ProducerQueueFullError,
    RecordTooLargeError,
)
from iotstream.log.kafka._client import Availability, KafkaError, KafkaException, confluent_kafka, translate
from iotstream.log.kafka._topics import KafkaTopics
from iotstream.log.types import CleanupPolicy, DeliveryCallback, Headers, RecordMetadata

__all__ = ["KafkaProducer"]

_BYTES_OR_NONE = (bytes, type(None))  # a tuple: `bytes | None` builds a union at every call

_ANY_PARTITION = -1  # librdkafka's RD_KAFKA_PARTITION_UA: let the partitioner choose


class KafkaProducer(BaseProducer):
    def __init__(
        self, config: dict[str, Any], settings: LogSettings, topics: KafkaTopics, availability: Availability
    ) -> None:
        self._settings = settings
        self._topics = topics
        self._availability = availability
        self._producer = confluent_kafka.Producer(
            {
                "enable.idempotence": True,  # retries after a broker failure never duplicate
                "acks": "all",
                "linger.ms": settings.linger_ms,
                "batch.num.messages": 10_000,
                "queue.buffering.max.kbytes": max(settings.buffer_max_bytes // 1024, 1),
                "queue.buffering.max.messages": 2_000_000,
                "message.timeout.ms": settings.delivery_timeout_ms,
                "message.max.bytes": max(settings.max_record_bytes + 4096, 1_000_000),
                "partitioner": "murmur2_random",  # Java's partitioner, the same as the SQLite log
                **config,
            }
        )
        self._closed = False
        self._stop = threading.Event()
        self._poller = threading.Thread(
            target=self._serve_callbacks, name="iotstream-kafka-producer", daemon=True
        )
        self._poller.start()

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
        if self._closed:
            raise LogClosedError("produce on a closed producer")
        spec = self._topics.get(topic)
        self._check(topic, value, key, headers, partition, spec.partitions, spec.cleanup_policy)
        callback = None if on_delivery is None else functools.partial(self._delivered, on_delivery)
        deadline = time.monotonic() + self._settings.max_block_ms / 1000
        while True:
            try:
                self._producer.produce(
                    topic,
                    value,
                    key,
                    partition=_ANY_PARTITION if partition is None else partition,
                    on_delivery=callback,
                    timestamp=timestamp_ms or 0,
                    headers=list(headers) or None,
                )
            except BufferError:
                if time.monotonic() >= deadline:
                    raise ProducerQueueFullError(
                        f"producer queue full for {self._settings.max_block_ms} ms (Kafka cannot keep up)",
                        retry_after_s=0.1,
                    ) from None
                self._producer.poll(0.01)
            except KafkaException as err:
                raise translate(err, f"produce to {topic!r}") from err
            else:
                return

    def _check(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: Headers,
        partition: int | None,
        partitions: int,
        policy: CleanupPolicy,
    ) -> None:
        if not isinstance(value, _BYTES_OR_NONE) or not isinstance(key, _BYTES_OR_NONE):
            raise InvalidRecordError(f"record for topic {topic!r}: key and value must be bytes or None")
        size = len(value or b"") + len(key or b"") + sum(len(n) + len(v) for n, v in headers)
        if size > self._settings.max_record_bytes:
            raise RecordTooLargeError(
                f"record of {size} bytes for topic {topic!r} exceeds [log] max_record_bytes = "
                f"{self._settings.max_record_bytes}"
            )
        if key is None and policy is CleanupPolicy.COMPACT:
            raise InvalidRecordError(f"topic {topic!r} is compacted: every record needs a key")
        if partition is not None and not 0 <= partition < partitions:
            raise InvalidRecordError(f"topic {topic!r} has partitions 0..{partitions - 1}; got {partition}")

    def _delivered(
        self, on_delivery: DeliveryCallback, error: KafkaError | None, message: "confluent_kafka.Message"
    ) -> None:
        topic, partition, timestamp = message.topic() or "", message.partition() or 0, message.timestamp()[1]
        if error is None:
            self._availability.on_success()
            offset = message.offset()  # None when the broker's answer had no offset
            on_delivery(None, RecordMetadata(topic, partition, -1 if offset is None else offset, timestamp))
        else:
            on_delivery(
                translate(error, f"delivery to {topic!r}"), RecordMetadata(topic, partition, -1, timestamp)
            )

    def _serve_callbacks(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    def flush(self, timeout_s: float | None = None) -> int:
        return int(self._producer.flush(-1 if timeout_s is None else timeout_s))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._producer.flush(self._settings.delivery_timeout_ms / 1000)
        self._stop.set()
        self._poller.join()

"""The Kafka log: the same interface on any Kafka cluster (Apache Kafka, Redpanda, Confluent, MSK).

Select it with `[log] url = "kafka://host:port[,host:port]"`; TLS/SASL and any other librdkafka
setting go in `[log.kafka]`. Retention and compaction are the brokers' job: topics are created with
`retention.ms`, `retention.bytes` and `cleanup.policy`, and `run_maintenance()` has nothing to do.
"""

from collections.abc import Iterable

from confluent_kafka.admin import AdminClient, OffsetSpec

from iotstream.log.base import BaseAtomicProducer, BaseConsumer, BaseLog, BaseProducer
from iotstream.log.config import LogSettings
from iotstream.log.exceptions import LogClosedError, LogUnavailableError
from iotstream.log.kafka import _admin
from iotstream.log.kafka._client import Availability, KafkaException, bootstrap_servers, client_config
from iotstream.log.kafka._topics import KafkaTopics
from iotstream.log.kafka.atomic import KafkaAtomicProducer
from iotstream.log.kafka.consumer import KafkaConsumer
from iotstream.log.kafka.producer import KafkaProducer
from iotstream.log.types import (
    GroupLag,
    OffsetResetValue,
    PartitionInfo,
    TopicDescription,
    TopicPartition,
    TopicSpec,
)

__all__ = ["KafkaLog"]


class KafkaLog(BaseLog):
    """A Kafka cluster behind the log interface; fails fast when no broker answers."""

    def __init__(self, settings: LogSettings) -> None:
        self.settings = settings
        self._servers = bootstrap_servers(settings.url)
        self._timeout_s = settings.request_timeout_ms / 1000
        self._availability = Availability(self._servers)
        self._config = client_config(settings, self._availability)
        self._admin = AdminClient(self._config)
        self._topics = KafkaTopics(self._admin, settings)
        self._closed = False
        self._check_reachable()

    def _check_reachable(self) -> None:
        try:
            self._admin.list_topics(timeout=self._timeout_s)
        except KafkaException as err:
            raise LogUnavailableError(
                f"cannot reach Kafka at {self._servers} within {self._timeout_s:g} s ({err.args[0].str()}); "
                "check [log] url, [log.kafka] security settings, and that the brokers run"
            ) from err

    def create_topic(self, spec: TopicSpec, *, exist_ok: bool = False) -> None:
        self._check_open()
        self._topics.create(spec, exist_ok=exist_ok)

    def delete_topic(self, name: str) -> None:
        self._check_open()
        self._topics.delete(name)

    def list_topics(self) -> list[str]:
        self._check_open()
        return sorted(self._topics.names())

    def describe_topic(self, name: str) -> TopicDescription:
        self._check_open()
        spec = self._topics.describe(name)
        partitions = [TopicPartition(name, p) for p in range(spec.partitions)]
        starts = _admin.list_offsets(self._admin, partitions, OffsetSpec.earliest(), self._timeout_s)
        ends = _admin.list_offsets(self._admin, partitions, OffsetSpec.latest(), self._timeout_s)
        groups = [
            lag
            for group in _admin.group_ids(self._admin, self._timeout_s)
            for lag in self._group_lag(group, ends)
            if lag.topic == name
        ]
        infos = [PartitionInfo(tp.partition, starts[tp], ends[tp]) for tp in partitions]
        return TopicDescription(spec, infos, groups)

    def end_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        self._check_open()
        return _admin.list_offsets(self._admin, list(partitions), OffsetSpec.latest(), self._timeout_s)

    def group_lag(self, group: str) -> list[GroupLag]:
        self._check_open()
        return self._group_lag(group, None)

    def _group_lag(self, group: str, ends: dict[TopicPartition, int] | None) -> list[GroupLag]:
        committed = _admin.committed_offsets(self._admin, group, self._timeout_s)
        if ends is None or not set(committed) <= set(ends):
            ends = _admin.list_offsets(self._admin, list(committed), OffsetSpec.latest(), self._timeout_s)
        owned_by = _admin.owners(self._admin, group, self._timeout_s)
        return _admin.lag(group, committed, ends, owned_by)

    def producer(self) -> BaseProducer:
        self._check_open()
        return KafkaProducer(self._config, self.settings, self._topics, self._availability)

    def atomic_producer(self, transactional_id: str) -> BaseAtomicProducer:
        self._check_open()
        return KafkaAtomicProducer(self._config, self.settings, self._topics, transactional_id)

    def consumer(
        self, group_id: str | None = None, *, auto_offset_reset: OffsetResetValue = "earliest"
    ) -> BaseConsumer:
        self._check_open()
        return KafkaConsumer(self._config, self.settings, group_id, auto_offset_reset, self._availability)

    def _check_open(self) -> None:
        if self._closed:
            raise LogClosedError(f"the Kafka log at {self._servers} is closed")

    def close(self) -> None:
        self._closed = True

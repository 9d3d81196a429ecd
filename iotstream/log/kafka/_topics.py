"""Topic metadata from the cluster, cached, so `produce` can fail fast and clearly per record."""

import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from iotstream.log._validation import validate_spec
from iotstream.log.config import LogSettings
from iotstream.log.exceptions import LogUnavailableError, TopicExistsError, UnknownTopicError
from iotstream.log.kafka._client import KafkaException, translate
from iotstream.log.types import CleanupPolicy, TopicSpec

__all__ = ["KafkaTopics"]


class KafkaTopics:
    """Creates, deletes and describes topics; remembers the specs produce needs."""

    def __init__(self, admin: AdminClient, settings: LogSettings) -> None:
        self._admin = admin
        self._settings = settings
        self._timeout_s = settings.request_timeout_ms / 1000
        self._specs: dict[str, TopicSpec] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> TopicSpec:
        spec = self._specs.get(name)
        if spec is None:
            with self._lock:
                spec = self._load(name)
        return spec

    def _load(self, name: str) -> TopicSpec:
        if name not in self.names():
            if not self._settings.auto_create_topics:
                raise UnknownTopicError(
                    f"topic {name!r} does not exist; create it (`iotstream topics create {name}`) or "
                    "set [log] auto_create_topics = true"
                )
            self.create(TopicSpec(name, self._settings.default_partitions), exist_ok=True)
        spec = self._specs[name] = self.describe(name)
        return spec

    def names(self) -> set[str]:
        try:
            metadata = self._admin.list_topics(timeout=self._timeout_s)
        except KafkaException as err:
            raise translate(err, "list topics") from err
        return {name for name in metadata.topics if not name.startswith("__")}

    def create(self, spec: TopicSpec, *, exist_ok: bool) -> None:
        validate_spec(spec)
        config: dict[str, str] = {"cleanup.policy": spec.cleanup_policy.value}
        if spec.retention_ms is not None:
            config["retention.ms"] = str(spec.retention_ms)
        if spec.retention_bytes is not None:
            config["retention.bytes"] = str(spec.retention_bytes)
        topic = NewTopic(spec.name, num_partitions=spec.partitions, replication_factor=-1, config=config)
        future = self._admin.create_topics([topic], request_timeout=self._timeout_s)[spec.name]
        try:
            future.result(timeout=self._timeout_s)
        except KafkaException as err:
            error = translate(err, f"create topic {spec.name!r}")
            if isinstance(error, TopicExistsError):
                if exist_ok:
                    return
                raise TopicExistsError(f"topic {spec.name!r} already exists") from err
            raise error from err
        self._await(lambda names: spec.name in names, f"topic {spec.name!r} to appear")
        self._specs[spec.name] = spec

    def delete(self, name: str) -> None:
        future = self._admin.delete_topics([name], request_timeout=self._timeout_s)[name]
        try:
            future.result(timeout=self._timeout_s)
        except KafkaException as err:
            raise translate(err, f"delete topic {name!r}") from err
        self._specs.pop(name, None)
        self._await(lambda names: name not in names, f"topic {name!r} to disappear")

    def describe(self, name: str) -> TopicSpec:
        # The whole listing, not a request for this one name: that request may auto-create the topic.
        try:
            topic = self._admin.list_topics(timeout=self._timeout_s).topics.get(name)
        except KafkaException as err:
            raise translate(err, f"describe topic {name!r}") from err
        if topic is None or topic.error is not None or not topic.partitions:
            raise UnknownTopicError(f"topic {name!r} does not exist")
        configs = self._configs(name)
        return TopicSpec(
            name,
            partitions=len(topic.partitions),
            retention_ms=_limit(configs.get("retention.ms")),
            retention_bytes=_limit(configs.get("retention.bytes")),
            cleanup_policy=CleanupPolicy.COMPACT
            if "compact" in configs.get("cleanup.policy", "")
            else CleanupPolicy.DELETE,
        )

    def _configs(self, name: str) -> dict[str, str]:
        resource = ConfigResource(ConfigResource.Type.TOPIC, name)
        try:
            entries: dict[str, Any] = self._admin.describe_configs(
                [resource], request_timeout=self._timeout_s
            )[resource].result(timeout=self._timeout_s)
        except KafkaException as err:
            raise translate(err, f"describe configs of {name!r}") from err
        return {key: entry.value for key, entry in entries.items() if entry.value is not None}

    def _await(self, done: Callable[[set[str]], bool], what: str) -> None:
        """Kafka metadata is eventually consistent; wait (bounded) until the change is visible."""
        deadline = time.monotonic() + self._timeout_s
        while not done(self.names()):
            if time.monotonic() > deadline:
                raise LogUnavailableError(f"Kafka did not show the change in time: waited for {what}")
            time.sleep(0.05)


def _limit(value: str | None) -> int | None:
    """Kafka writes "unlimited" as -1."""
    if value is None or int(value) < 0:
        return None
    return int(value)

"""Shared plumbing for the Kafka clients: configuration, error translation, quiet client logs.

librdkafka retries by itself and reports every failed connection attempt, many per second. Its own
log lines go to DEBUG; we log a change of availability once ("unavailable", then "recovered").
"""

import logging
import threading
from typing import Any

from iotstream.log.config import LogSettings
from iotstream.log.exceptions import (
    CommitFailedError,
    InvalidTopicError,
    LogError,
    LogUnavailableError,
    TopicExistsError,
    UnknownTopicError,
)

try:
    import confluent_kafka
    from confluent_kafka import KafkaError, KafkaException
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "the Kafka log backend needs confluent-kafka: run pip install 'iotstream[kafka]' to fix it"
    ) from exc

__all__ = [
    "Availability",
    "KafkaError",
    "KafkaException",
    "bootstrap_servers",
    "client_config",
    "confluent_kafka",
    "translate",
]

_log = logging.getLogger("iotstream.log.kafka")
_client_log = logging.getLogger("iotstream.log.kafka.client")

_UNAVAILABLE = {
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._TRANSPORT,
    KafkaError._TIMED_OUT,
    KafkaError._MSG_TIMED_OUT,
    KafkaError.REQUEST_TIMED_OUT,
    KafkaError.NETWORK_EXCEPTION,
}
_FENCED = {
    KafkaError.REBALANCE_IN_PROGRESS,
    KafkaError.ILLEGAL_GENERATION,
    KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError._ASSIGNMENT_LOST,
}


def bootstrap_servers(url: str) -> str:
    """`kafka://h1:9092,h2:9092` → `h1:9092,h2:9092`."""
    return url.removeprefix("kafka://")


class _ClientLog:
    """What librdkafka's `logger` setting expects; its chatter stays at DEBUG."""

    def log(self, level: int, message: str, *args: Any) -> None:
        _client_log.debug(message, *args)


class Availability:
    """Logs the moment the cluster becomes unreachable and the moment it is back, nothing between."""

    def __init__(self, servers: str) -> None:
        self._servers = servers
        self._down = False
        self._lock = threading.Lock()

    def on_error(self, error: KafkaError) -> None:
        if error.code() in _UNAVAILABLE:
            with self._lock:
                if not self._down:
                    self._down = True
                    _log.warning("kafka at %s unavailable: %s", self._servers, error.str())
        else:
            _log.error("kafka client error: %s", error.str())

    def on_success(self) -> None:
        if self._down:
            with self._lock:
                if self._down:
                    self._down = False
                    _log.warning("kafka at %s recovered", self._servers)


def client_config(settings: LogSettings, availability: Availability) -> dict[str, Any]:
    """Settings every client shares; the user's `[log.kafka]` table is applied last and wins."""
    return {
        "bootstrap.servers": bootstrap_servers(settings.url),
        "client.id": "iotstream",
        "socket.connection.setup.timeout.ms": settings.request_timeout_ms,
        "logger": _ClientLog(),
        "error_cb": availability.on_error,
        **settings.kafka,
    }


def translate(err: KafkaException | KafkaError, what: str) -> LogError:
    """A Kafka error as the log error a caller can act on."""
    error = err.args[0] if isinstance(err, KafkaException) and err.args else err
    if not isinstance(error, KafkaError):
        return LogError(f"{what}: {err}")
    code, text = error.code(), error.str()
    if code in _UNAVAILABLE:
        return LogUnavailableError(f"{what}: Kafka is unreachable ({text})")
    if code == KafkaError.TOPIC_ALREADY_EXISTS:
        return TopicExistsError(f"{what}: {text}")
    if code in {KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError._UNKNOWN_PARTITION}:
        return UnknownTopicError(f"{what}: {text}")
    if code in {KafkaError.TOPIC_EXCEPTION, KafkaError.INVALID_PARTITIONS, KafkaError.INVALID_CONFIG}:
        return InvalidTopicError(f"{what}: {text}")
    if code in _FENCED:
        return CommitFailedError(
            f"{what}: the group rebalanced, this member no longer owns the partition ({text})"
        )
    failure = LogError(f"{what}: {text}")
    failure.retriable = bool(error.retriable())
    return failure

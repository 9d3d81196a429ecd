"""The log: the durable spine every component reads and writes.

`open_log` picks the backend from the URL scheme, so code never names a backend directly.
"""

from typing import Any

from iotstream.exceptions import ConfigError
from iotstream.log.base import BaseConsumer, BaseLog, BaseProducer
from iotstream.log.config import LogSettings
from iotstream.log.types import (
    CleanupPolicy,
    GroupLag,
    PartitionInfo,
    Record,
    RecordMetadata,
    TopicDescription,
    TopicPartition,
    TopicSpec,
)

__all__ = [
    "BaseConsumer",
    "BaseLog",
    "BaseProducer",
    "CleanupPolicy",
    "GroupLag",
    "LogSettings",
    "PartitionInfo",
    "Record",
    "RecordMetadata",
    "TopicDescription",
    "TopicPartition",
    "TopicSpec",
    "open_log",
]


def open_log(settings: LogSettings | str, **overrides: Any) -> BaseLog:
    """Open the log described by `settings` (or by a URL plus `LogSettings` field overrides).

    Example:
        >>> import tempfile
        >>> log = open_log(f"sqlite:///{tempfile.mkdtemp()}/log.db", linger_ms=0)
        >>> log.list_topics()
        []
        >>> log.close()
    """
    if isinstance(settings, str):
        try:
            settings = LogSettings(url=settings, **overrides)
        except ValueError as err:
            raise ConfigError(f"invalid log settings: {err}") from err
    scheme = settings.url.partition("://")[0]
    if scheme == "sqlite":
        from iotstream.log.sqlite import SqliteLog

        return SqliteLog(settings)
    if scheme == "kafka":
        from iotstream.log.kafka import KafkaLog

        return KafkaLog(settings)
    raise ConfigError(f"no log backend for {settings.url!r}")

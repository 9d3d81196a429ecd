"""Errors of the log layer, sorted by what the caller should do about them."""

from iotstream.exceptions import IotStreamError

__all__ = [
    "CommitFailedError",
    "InvalidRecordError",
    "InvalidTopicError",
    "LogClosedError",
    "LogCorruptError",
    "LogError",
    "LogLockedError",
    "LogUnavailableError",
    "ProducerQueueFullError",
    "RecordTooLargeError",
    "TopicExistsError",
    "UnknownTopicError",
]


class LogError(IotStreamError):
    """Something went wrong talking to the log."""


class UnknownTopicError(LogError):
    """The topic does not exist and auto-creation is off (or the topic was deleted meanwhile)."""


class TopicExistsError(LogError):
    """A topic with this name already exists."""


class InvalidTopicError(LogError):
    """A topic name or topic setting is not acceptable."""


class InvalidRecordError(LogError):
    """The record itself is unacceptable (wrong type, missing key on a compacted topic, bad partition)."""


class RecordTooLargeError(InvalidRecordError):
    """The record is larger than `[log] max_record_bytes`; it is rejected, nothing else is affected."""


class LogCorruptError(LogError):
    """The log file is damaged or is not an iotstream log; it needs a person (restore or move it)."""


class LogUnavailableError(LogError):
    """The log's server (a Kafka cluster) cannot be reached now; retry later."""

    retriable = True


class LogLockedError(LogError):
    """Another process held the log file locked for longer than `[log] busy_timeout_ms`."""

    retriable = True


class ProducerQueueFullError(LogError):
    """Backpressure: the producer buffer stayed full for `max_block_ms`; try again after `retry_after_s`."""

    retriable = True

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class CommitFailedError(LogError):
    """The partition is no longer owned by this consumer (a rebalance moved it); do not retry."""


class LogClosedError(LogError):
    """The log, producer or consumer was already closed."""

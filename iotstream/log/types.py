"""Value types shared by every log backend: records, positions, topic descriptions."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, NamedTuple

import msgspec

__all__ = [
    "BatchCallback",
    "CleanupPolicy",
    "DeliveryCallback",
    "GroupLag",
    "Headers",
    "MaintenanceReport",
    "OffsetReset",
    "OutgoingRecord",
    "PartitionInfo",
    "PartitionsCallback",
    "Record",
    "RecordMetadata",
    "TopicDescription",
    "TopicPartition",
    "TopicSpec",
]

Headers = Sequence[tuple[str, bytes]]


class CleanupPolicy(StrEnum):
    """What happens to old records: `delete` by retention, or `compact` to the latest value per key."""

    DELETE = "delete"
    COMPACT = "compact"


class OffsetReset(StrEnum):
    """Where a consumer starts in a partition that has no committed offset."""

    EARLIEST = "earliest"
    LATEST = "latest"


OffsetResetValue = Literal["earliest", "latest"]


class TopicPartition(NamedTuple):
    topic: str
    partition: int


class Record(msgspec.Struct, frozen=True, gc=False):
    """One record read from the log. `value=None` is a tombstone (deletes its key when compacted)."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()


class OutgoingRecord(NamedTuple):
    """One record of a group produced together (`BaseAtomicProducer.produce_all`)."""

    topic: str
    value: bytes | None
    key: bytes | None = None
    headers: Headers = ()
    timestamp_ms: int | None = None


class RecordMetadata(msgspec.Struct, frozen=True, gc=False):
    """Where an acknowledged record landed; `offset` is -1 when delivery failed or the answer had none."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int


DeliveryCallback = Callable[[Exception | None, RecordMetadata], None]
BatchCallback = Callable[[Exception | None], None]  # once for a whole `produce_many`
PartitionsCallback = Callable[[list[TopicPartition]], None]


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """How to create a topic. `None` retention keeps records forever.

    Example:
        >>> TopicSpec("observations", partitions=4, retention_ms=7 * 86_400_000)
        TopicSpec(name='observations', partitions=4, retention_ms=604800000, retention_bytes=None, cleanup_policy=<CleanupPolicy.DELETE: 'delete'>)
    """  # noqa: E501

    name: str
    partitions: int = 1
    retention_ms: int | None = None
    retention_bytes: int | None = None
    cleanup_policy: CleanupPolicy = CleanupPolicy.DELETE


@dataclass(frozen=True, slots=True)
class PartitionInfo:
    partition: int
    start_offset: int
    end_offset: int

    @property
    def records(self) -> int:
        """Upper bound on readable records (compaction may leave gaps)."""
        return self.end_offset - self.start_offset


@dataclass(frozen=True, slots=True)
class GroupLag:
    """A consumer group's position in one partition; `committed=None` means it never committed."""

    group: str
    topic: str
    partition: int
    committed: int | None
    end_offset: int
    owner: str | None = None

    @property
    def lag(self) -> int:
        return self.end_offset - (self.committed or 0)


@dataclass(frozen=True, slots=True)
class TopicDescription:
    spec: TopicSpec
    partitions: list[PartitionInfo]
    groups: list[GroupLag] = field(default_factory=list)


@dataclass
class MaintenanceReport:
    """What one round of retention and compaction removed."""

    batches_deleted: int = 0
    records_compacted: int = 0

"""What an edge site has not relayed yet, and what happens when that outgrows `[relay] max_backlog`.

The backlog is measured from the log itself — end offsets against the relay group's committed offsets —
so it is right after a restart too. Its size in bytes is estimated from the records relayed so far
(the log does not keep per-record sizes on every backend).
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass

from iotstream.log import BaseConsumer, BaseLog, TopicPartition
from iotstream.relay.config import RelaySettings

__all__ = ["Backlog", "BacklogMeter"]

_FIRST_GUESS_BYTES = 120  # per record, until records have been relayed


@dataclass(frozen=True)
class Backlog:
    records: int = 0
    bytes: int = 0
    oldest_unsent_age_s: float = 0.0

    def over(self, settings: RelaySettings) -> str | None:
        """Why the backlog is past `max_backlog`, or None."""
        limit_bytes, limit_age_ms = settings.backlog_bytes, settings.backlog_age_ms
        if limit_bytes is not None and self.bytes >= limit_bytes:
            return f"{self.bytes} bytes wait to be relayed ([relay] max_backlog = {settings.max_backlog})"
        if limit_age_ms is not None and self.records and self.oldest_unsent_age_s * 1000 >= limit_age_ms:
            return (
                f"the oldest unrelayed record is {self.oldest_unsent_age_s:.0f} s old "
                f"([relay] max_backlog = {settings.max_backlog})"
            )
        return None


class BacklogMeter:
    """Measures the backlog from the log, and keeps the estimate of a record's size."""

    def __init__(self, log: BaseLog, consumer: BaseConsumer) -> None:
        self._log = log
        self._consumer = consumer  # the relay's: its group's committed offsets are what was relayed
        self._record_bytes = float(_FIRST_GUESS_BYTES)

    def relayed(self, count: int, size: int) -> None:
        """Sizes of relayed records keep the estimate of a backlog record's size current."""
        if count:
            self._record_bytes = 0.8 * self._record_bytes + 0.2 * (size / count)

    def measure(self, partitions: Sequence[TopicPartition], oldest_pending_ms: int | None) -> Backlog:
        """`oldest_pending_ms`: the timestamp of the oldest record polled but not yet relayed."""
        unsent = self.unsent(partitions)
        records = sum(end - start for start, end in unsent.values())
        if not records:
            return Backlog()
        age_ms = 0 if oldest_pending_ms is None else time.time_ns() // 1_000_000 - oldest_pending_ms
        return Backlog(records, int(records * self._record_bytes), max(age_ms, 0) / 1000)

    def unsent(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, tuple[int, int]]:
        """Per partition, the first unrelayed offset and the end offset."""
        if not partitions:
            return {}
        ends = self._log.end_offsets(partitions)
        committed = self._consumer.committed(partitions)
        starts = {tp: self._start(tp) for tp in partitions if committed.get(tp) is None}
        return {tp: (committed.get(tp) or starts.get(tp, 0), ends[tp]) for tp in partitions}

    def _start(self, tp: TopicPartition) -> int:
        info = self._log.describe_topic(tp.topic).partitions
        return next((p.start_offset for p in info if p.partition == tp.partition), 0)

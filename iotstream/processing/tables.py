"""Tables for joins: a (compacted) topic read into a key → latest value dict, kept up to date."""

from typing import Any

import msgspec

from iotstream.log.base import BaseLog
from iotstream.log.types import TopicPartition

__all__ = ["TableReader"]

_decoder = msgspec.json.Decoder()


class TableReader:
    """Reads every partition of the table topics from the beginning; tombstones delete keys."""

    def __init__(self, log: BaseLog, topics: list[str], tables: dict[str, dict[str, Any]]) -> None:
        self._tables = tables
        self._consumer = log.consumer()
        partitions = [
            TopicPartition(t, p) for t in topics for p in range(log.describe_topic(t).spec.partitions)
        ]
        self._consumer.assign(partitions)
        self._consumer.seek_to_beginning()
        self._log = log
        self._partitions = partitions
        self.catch_up()

    def catch_up(self) -> int:
        """Read up to the end offsets seen now, so the job starts with the whole table (and a reader
        sees what other processes wrote); returns how many records that was. A poll that finds nothing
        ends it too: compaction may have removed the tail records."""
        partitions = self._partitions
        ends = self._log.end_offsets(partitions)
        read = 0
        while any(self._consumer.position(tp) < end for tp, end in ends.items()):
            found = self.refresh(timeout_s=0.5)
            if not found:
                break
            read += found
        return read

    def refresh(self, timeout_s: float = 0.0) -> int:
        records = self._consumer.poll(max_records=10_000, timeout_s=timeout_s)
        for record in records:
            table = self._tables.setdefault(record.topic, {})
            key = (record.key or b"").decode("utf-8", "replace")
            if record.value is None:
                table.pop(key, None)
                continue
            try:
                table[key] = _decoder.decode(record.value)
            except msgspec.DecodeError:
                table[key] = record.value.decode("utf-8", "replace")
        return len(records)

    def close(self) -> None:
        self._consumer.close()

"""The embedded log: one SQLite file in WAL mode, no server, safe for several processes at once.

Select it with `[log] url = "sqlite:///path/to/log.db"` (the default).
"""

import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from iotstream.log.base import BaseAtomicProducer, BaseConsumer, BaseLog
from iotstream.log.config import LogSettings
from iotstream.log.exceptions import LogClosedError, UnknownTopicError
from iotstream.log.sqlite import _catalog
from iotstream.log.sqlite._db import connect, sqlite_path, translate_errors
from iotstream.log.sqlite._maintenance import run_maintenance
from iotstream.log.sqlite._writer import GroupCommitWriter
from iotstream.log.sqlite.consumer import SqliteConsumer
from iotstream.log.sqlite.producer import SqliteAtomicProducer, SqliteProducer
from iotstream.log.types import (
    GroupLag,
    MaintenanceReport,
    OffsetResetValue,
    TopicDescription,
    TopicPartition,
    TopicSpec,
)

__all__ = ["SqliteLog"]

_log = logging.getLogger(__name__)


class SqliteLog(BaseLog):
    """The log in one file.

    Example:
        >>> import tempfile
        >>> with SqliteLog(LogSettings(url=f"sqlite:///{tempfile.mkdtemp()}/log.db")) as log:
        ...     with log.producer() as producer:
        ...         producer.produce("readings", b'{"v": 1}', key=b"sensor-1")
        ...     consumer = log.consumer()
        ...     consumer.assign([TopicPartition("readings", 0)])
        ...     [r.value for r in consumer.poll(timeout_s=1)]
        ...     consumer.close()
        [b'{"v": 1}']
    """

    def __init__(self, settings: LogSettings) -> None:
        self.settings = settings
        self.path = sqlite_path(settings.url)
        with translate_errors(self.path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = connect(self.path, busy_timeout_ms=settings.busy_timeout_ms, fsync=settings.fsync)
        self._lock = threading.RLock()
        self._topics = _catalog.TopicCache(
            self._conn,
            self.path,
            self._lock,
            auto_create=settings.auto_create_topics,
            default_partitions=settings.default_partitions,
        )
        self._writer: GroupCommitWriter | None = None
        self._compacted_at: dict[tuple[int, int], int] = {}
        self._stop = threading.Event()
        self._maintainer: threading.Thread | None = None
        self._closed = False
        if settings.maintenance_interval_ms > 0:
            self._maintainer = threading.Thread(
                target=self._maintain, name="iotstream-log-maintenance", daemon=True
            )
            self._maintainer.start()

    def create_topic(self, spec: TopicSpec, *, exist_ok: bool = False) -> None:
        with self._admin():
            _catalog.create_topic(self._conn, spec, exist_ok=exist_ok)

    def delete_topic(self, name: str) -> None:
        with self._admin():
            _catalog.delete_topic(self._conn, name)
        self._topics.forget(name)

    def list_topics(self) -> list[str]:
        with self._admin():
            return [row.spec.name for row in _catalog.list_topics(self._conn)]

    def describe_topic(self, name: str) -> TopicDescription:
        with self._admin():
            row = _catalog.get_topic(self._conn, name)
            if row is None:
                raise UnknownTopicError(f"topic {name!r} does not exist")
            partitions = _catalog.partition_offsets(self._conn, row.id)
            groups = [
                lag
                for (group,) in self._conn.execute(
                    "SELECT DISTINCT group_id FROM group_offsets WHERE topic = ? ORDER BY group_id",
                    (name,),
                )
                for lag in self._group_lag(group)
                if lag.topic == name
            ]
        return TopicDescription(row.spec, partitions, groups)

    def end_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        with self._admin():
            result = {}
            for tp in partitions:
                row = _catalog.get_topic(self._conn, tp.topic)
                offsets = (
                    {}
                    if row is None
                    else {p.partition: p.end_offset for p in _catalog.partition_offsets(self._conn, row.id)}
                )
                if tp.partition not in offsets:
                    raise UnknownTopicError(f"topic {tp.topic!r} has no partition {tp.partition}")
                result[tp] = offsets[tp.partition]
        return result

    def group_lag(self, group: str) -> list[GroupLag]:
        with self._admin():
            return self._group_lag(group)

    def _group_lag(self, group: str) -> list[GroupLag]:
        rows = self._conn.execute(
            "SELECT o.topic, o.partition, o.next_offset, p.next_offset, w.member_id"
            " FROM group_offsets o JOIN topics t ON t.name = o.topic"
            " JOIN partitions p ON p.topic_id = t.id AND p.partition = o.partition"
            " LEFT JOIN group_owners w ON w.group_id = o.group_id AND w.topic = o.topic"
            " AND w.partition = o.partition WHERE o.group_id = ? ORDER BY o.topic, o.partition",
            (group,),
        )
        return [GroupLag(group, t, p, committed, end, owner) for t, p, committed, end, owner in rows]

    def producer(self) -> SqliteProducer:
        with self._lock:
            self._check_open()
            if self._writer is None:
                self._writer = GroupCommitWriter(self.path, self.settings, self._topics)
            return SqliteProducer(self._writer, self._topics, self.settings)

    def atomic_producer(self, transactional_id: str) -> BaseAtomicProducer:
        """One SQLite transaction per group; the id is not needed (one writer per file and process)."""
        producer = self.producer()
        assert self._writer is not None  # noqa: S101 - producer() created it
        return SqliteAtomicProducer(producer, self._writer)

    def consumer(
        self, group_id: str | None = None, *, auto_offset_reset: OffsetResetValue = "earliest"
    ) -> BaseConsumer:
        self._check_open()
        return SqliteConsumer(self.path, self.settings, group_id, auto_offset_reset)

    def run_maintenance(self) -> MaintenanceReport:
        with self._admin():
            return run_maintenance(self._conn, self._compacted_at, self.settings.keep_unread_by)

    def _maintain(self) -> None:
        while not self._stop.wait(self.settings.maintenance_interval_ms / 1000):
            try:
                self.run_maintenance()
            except Exception:  # retention must never take the process down; it retries next round
                _log.exception(
                    "log maintenance failed; retrying in %d ms",
                    self.settings.maintenance_interval_ms,
                )

    @contextmanager
    def _admin(self) -> Iterator[None]:
        """The admin connection is shared with the topic cache; one user at a time."""
        self._check_open()
        with self._lock, translate_errors(self.path):
            yield

    def _check_open(self) -> None:
        if self._closed:
            raise LogClosedError(f"log {self.path} is closed")

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        if self._maintainer is not None:
            self._maintainer.join()
        if self._writer is not None:
            self._writer.close()
        self._conn.close()

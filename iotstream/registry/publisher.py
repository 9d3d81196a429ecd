"""Publishing the catalog to the compacted registry topics (see `records` for what they hold).

Every committed transaction republishes what it touched, read back fresh under one lock, so the last
record for a key always reflects the last commit even when requests race. At start, and after a
publish failed, the topics are reconciled with the whole catalog: what differs is produced, what the
catalog no longer has gets a tombstone — a crash between a commit and its publish heals there.
"""

import logging
import threading
from collections.abc import Iterable
from typing import Any

import msgspec

from iotstream.log import BaseLog
from iotstream.log.types import CleanupPolicy, RecordMetadata, TopicSpec
from iotstream.processing.tables import TableReader
from iotstream.registry.catalog import Catalog
from iotstream.registry.changes import Changes
from iotstream.registry.records import TOPICS, Record, all_records, changed_records

__all__ = ["RegistryPublisher", "registry_topics"]

_log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode


def registry_topics() -> list[TopicSpec]:
    return [TopicSpec(t, partitions=1, cleanup_policy=CleanupPolicy.COMPACT) for t in TOPICS.values()]


class RegistryPublisher:
    def __init__(self, catalog: Catalog, log: BaseLog) -> None:
        self._catalog = catalog
        self._log = log
        self._producer = log.producer()
        self._lock = threading.Lock()
        self._behind = True  # until the first reconcile

    def start(self) -> "RegistryPublisher":
        """Reconcile, then follow every commit."""
        self._catalog.on_commit.append(self.publish)
        self.reconcile()
        return self

    def publish(self, changes: Changes) -> None:
        """Never raises: the commit already happened; a failure leaves the topics to the next reconcile."""
        try:
            with self._lock:
                if self._behind:
                    self._reconcile()
                    return
                with self._catalog.session() as session:
                    self._send(changed_records(session, changes))
        except Exception:
            self._behind = True
            _log.exception("could not publish registry changes; the registry topics are reconciled next time")

    def reconcile(self) -> int:
        """Bring the topics in line with the catalog; returns how many records that took."""
        with self._lock:
            return self._reconcile()

    def _reconcile(self) -> int:
        published: dict[str, dict[str, Any]] = {}
        reader = TableReader(self._log, list(TOPICS.values()), published)
        reader.close()
        with self._catalog.session() as session:
            differing: list[Record] = []
            for topic, key, value in all_records(session):
                if published.get(topic, {}).pop(key, None) != value:
                    differing.append((topic, key, value))
        gone = [(topic, key, None) for topic, keys in published.items() for key in keys]
        self._send([*differing, *gone])
        self._behind = False
        return len(differing) + len(gone)

    def _send(self, records: Iterable[Record]) -> None:
        failures: list[Exception] = []

        def delivered(error: Exception | None, _metadata: RecordMetadata) -> None:
            if error is not None:
                failures.append(error)

        for topic, key, value in records:
            body = None if value is None else _encode(value)
            self._producer.produce(topic, body, key.encode(), on_delivery=delivered)
        if self._producer.flush(30.0) or failures:
            raise RuntimeError(f"registry records not acknowledged: {failures[:1] or 'flush timed out'}")

    def close(self) -> None:
        if self.publish in self._catalog.on_commit:
            self._catalog.on_commit.remove(self.publish)
        self._producer.close()

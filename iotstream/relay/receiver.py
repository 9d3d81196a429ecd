"""The central site's side of the relay: takes a batch from an edge site and appends what is new to the
central log exactly once.

Per (site, edge topic, edge partition) the central log holds the highest edge offset it has
(`relay.cursors`). A batch's records at or below it were stored before — a retry after a lost answer,
or an edge that restarted from an older committed position — and are dropped; the others are renamed
into the site's namespace (`plant-7/boiler/temp`) and appended together with the new cursor in one
atomic group, so a crash never keeps the records without the cursor or the other way round. Records of
one edge partition arrive in offset order, and each datastream lives in one partition at both ends,
so per-datastream order is kept.
"""

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.exc import DataError, IntegrityError

from iotstream.exceptions import IotStreamError
from iotstream.log import BaseLog
from iotstream.log.base import BaseAtomicProducer
from iotstream.log.types import OutgoingRecord, TopicSpec
from iotstream.registry.catalog import Catalog
from iotstream.registry.records import DATASTREAMS_TOPIC
from iotstream.relay.config import SitesSettings
from iotstream.relay.cursors import RelayState, SiteStatus
from iotstream.relay.site_registry import copy_datastream
from iotstream.relay.wire import Cursor, RelayAnswer, RelayBatch, RelayRecord

__all__ = ["RelayReceiver", "SiteMismatchError"]

_log = logging.getLogger(__name__)

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


class SiteMismatchError(IotStreamError):
    """A site's batch comes from another log than its earlier ones (HTTP 409)."""


class RelayReceiver:
    """One per API process; batches of one site are taken one at a time, across processes too."""

    def __init__(
        self,
        log: BaseLog,
        catalog: Catalog,
        settings: SitesSettings,
        register: Callable[[Iterable[str]], object],
        default_partitions: int,
    ) -> None:
        """`register` makes datastream keys known to ingestion (placeholders until the edge's registry
        record completes them)."""
        self._log = log
        self._catalog = catalog
        self._settings = settings
        self._register = register
        self._default_partitions = default_partitions
        self._state: RelayState | None = None
        self._atomic: BaseAtomicProducer | None = None  # a Kafka transactional producer: only if used
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self._known_topics: set[str] = set()

    @property
    def state(self) -> RelayState:
        """Opened on first use: a platform that is nobody's central site reads nothing for it."""
        with self._locks_lock:
            if self._state is None:
                self._state = RelayState(self._log)
            return self._state

    def _producer(self) -> BaseAtomicProducer:
        with self._locks_lock:
            if self._atomic is None:
                self._atomic = self._log.atomic_producer(
                    f"iotstream-relay-{socket.gethostname()}-{os.getpid()}"
                )
                self._known_topics = set(self._log.list_topics())
            return self._atomic

    def receive(self, site: str, batch: RelayBatch) -> RelayAnswer:
        """Raises `LogError` when the central log did not take the batch (the edge retries), and
        `SiteMismatchError` when the batch comes from another log than the site's earlier ones."""
        with self._exclusive(site):
            self.state.refresh()
            previous = self.state.site(site)
            if previous is not None and previous.origin and batch.origin and previous.origin != batch.origin:
                raise SiteMismatchError(
                    f"site {site!r} now relays from another log than before (was its data directory "
                    f"replaced?); its offsets would be taken for ones already stored. DELETE "
                    f"/api/v1/sites/{site} to take it afresh, or give the new edge another site name"
                )
            now_ms = time.time_ns() // 1_000_000
            records, cursors, new = [], [], 0
            for part in batch.partitions:
                cursor = self.state.cursor(site, part.topic, part.partition)
                fresh = [r for r in part.records if r.offset > cursor]
                if fresh:
                    records += self._translate(site, part.topic, fresh)
                    cursor = fresh[-1].offset
                    records.append(RelayState.cursor_record(site, part.topic, part.partition, cursor))
                    new += len(fresh)
                cursors.append(Cursor(part.topic, part.partition, cursor))
            status = SiteStatus(
                site,
                now_ms,
                max(batch.backlog_records - sum(len(part.records) for part in batch.partitions), 0),
                batch.oldest_unsent_age_s,
                batch.rate,
                (previous.relayed if previous else 0) + new,
                batch.origin or (previous.origin if previous else ""),
            )
            records.append(RelayState.status_record(status))
            self._producer().produce_all(records)
            self.state.remember(records)
            return RelayAnswer(cursors, new)

    def sites(self) -> list[SiteStatus]:
        self.state.refresh()
        return self.state.all_sites()

    def forget(self, site: str) -> bool:
        """Drop what is known of `site` (its cursors and status); False when nothing was."""
        with self._exclusive(site):
            self.state.refresh()
            if not self.state.knows(site):
                return False
            tombstones = self.state.tombstones(site)
            self._producer().produce_all(tombstones)
            self.state.remember(tombstones)
            return True

    @contextmanager
    def _exclusive(self, site: str) -> Iterator[None]:
        """One batch of a site at a time: a lock in this process and, across API processes sharing a
        PostgreSQL catalog, an advisory lock held for the batch. A retry that reaches another process
        while the first try is still being appended waits for it, then finds the cursor moved."""
        with self._locks_lock:
            lock = self._locks.setdefault(site, threading.Lock())
        with lock:
            if self._catalog.dialect != "postgresql":
                yield
                return
            with self._catalog.session() as session:
                key = {"key": f"iotstream.relay/{site}"}
                session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), key)
                yield

    def _translate(self, site: str, topic: str, records: list[RelayRecord]) -> list[OutgoingRecord]:
        """Records for the central log, named in the site's namespace; registry records update the
        catalog instead (idempotent, so a batch taken twice does no harm)."""
        if topic == DATASTREAMS_TOPIC:
            self._copy_registry(site, records)
            return []
        self._ensure_topic(topic)
        out, keys = [], set()
        for r in records:
            key, value = self._rename(site, r.key, r.value)
            if key is not None and topic == "observations":
                keys.add(key.decode())
            out.append(OutgoingRecord(topic, value, key, r.headers, r.timestamp_ms))
        if keys:
            self._register(sorted(keys))
        return out

    def _rename(self, site: str, key: bytes | None, value: bytes | None) -> tuple[bytes | None, bytes | None]:
        """Readings, window results and alerts name their datastream in the value and key the record by
        it; both move into the site's namespace."""
        prefix = self._settings.prefix.format(site=site)
        renamed_key = None if key is None else prefix.encode() + key
        if value is None:
            return renamed_key, None
        try:
            document: Any = _decode(value)
        except msgspec.DecodeError:
            return renamed_key, value
        if isinstance(document, dict) and isinstance(document.get("datastream"), str):
            document["datastream"] = prefix + document["datastream"]
            return document["datastream"].encode(), _encode(document)
        return renamed_key, value

    def _copy_registry(self, site: str, records: list[RelayRecord]) -> None:
        """One unusable record is skipped with a warning: it must not stop the site's relay for good
        (the edge would retry the batch forever). A catalog that does not answer fails the batch, which
        the edge retries."""
        prefix = self._settings.prefix.format(site=site)
        latest = {r.key: r.value for r in records if r.key is not None}  # compacted: the last counts
        copied = []
        for key, value in latest.items():
            if value is None:
                continue  # deleted at the edge: the central copy stays, with its history
            name = prefix + key.decode(errors="replace")
            try:
                with self._catalog.session(write=True) as session:
                    copy_datastream(session, site, name, _decode(value))
            except (
                msgspec.DecodeError,
                AttributeError,
                TypeError,
                ValueError,
                IntegrityError,
                DataError,
            ) as err:
                _log.warning("site %s: registry record %r not copied: %s", site, name, err)
                continue
            copied.append(name)
        self._register(copied)

    def _ensure_topic(self, topic: str) -> None:
        if topic not in self._known_topics:
            self._log.create_topic(TopicSpec(topic, partitions=self._default_partitions), exist_ok=True)
            self._known_topics.add(topic)

    def close(self) -> None:
        if self._atomic is not None:
            self._atomic.close()
        if self._state is not None:
            self._state.close()

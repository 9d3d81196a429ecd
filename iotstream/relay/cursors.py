"""The central site's memory of every edge site, kept in the log so it survives restarts and every API
process agrees: `relay.cursors` holds, per (site, edge topic, edge partition), the highest edge offset
stored here; `relay.sites` holds each site's last contact and what it reported of its backlog.

Both are compacted and are written in the same atomic group as the relayed records they describe:
after a crash either the records and their cursor are in the log, or neither is.
"""

import threading
import time
import uuid
from typing import Any

import msgspec

from iotstream._units import iso_ms
from iotstream.log import BaseLog, TopicPartition
from iotstream.log.types import CleanupPolicy, OutgoingRecord, TopicSpec

__all__ = ["CURSORS", "ORIGIN", "SITES", "RelayState", "SiteStatus", "log_origin", "relay_topics"]

CURSORS = "relay.cursors"
SITES = "relay.sites"
ORIGIN = "relay.origin"  # at an edge site: the identity of its log, made once


class SiteStatus(msgspec.Struct, frozen=True):
    site: str
    last_contact_ms: int
    backlog_records: int = 0
    oldest_unsent_age_s: float | None = None
    rate: float = 0.0
    relayed: int = 0  # records stored here since the site first relayed
    origin: str = ""  # the identity of the site's log: another one means its offsets started over

    def view(self, now_ms: int) -> dict[str, Any]:
        """As `GET /api/v1/sites` shows it. `lag_s`: how long ago the central site last had everything
        the site had accepted — its last contact, less the age of what the site had not sent then."""
        since_contact_s = max(now_ms - self.last_contact_ms, 0) / 1000
        behind_s = self.oldest_unsent_age_s if self.backlog_records and self.oldest_unsent_age_s else 0.0
        return {
            "site": self.site,
            "last_contact": iso_ms(self.last_contact_ms),
            "lag_records": self.backlog_records,
            "lag_s": round(since_contact_s + behind_s, 3),
            "rate": self.rate,
            "relayed": self.relayed,
        }


def relay_topics() -> list[TopicSpec]:
    """Compacted, one partition each: what a central site remembers of its sites, and an edge site's
    identity."""
    names = (CURSORS, SITES, ORIGIN)
    return [TopicSpec(name, partitions=1, cleanup_policy=CleanupPolicy.COMPACT) for name in names]


def log_origin(log: BaseLog) -> str:
    """This log's identity, made on first use: a central site tells by it a site's log from a new one
    under the same name (a replaced data directory, whose offsets start at 0 again)."""
    log.create_topic(relay_topics()[2], exist_ok=True)
    consumer = log.consumer()
    try:
        partition = TopicPartition(ORIGIN, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning()
        found = None
        while consumer.position(partition) < log.end_offsets([partition])[partition]:
            for record in consumer.poll(max_records=100, timeout_s=0.2):
                found = (record.value or b"").decode() or found
    finally:
        consumer.close()
    if found:
        return found
    made = uuid.uuid4().hex
    with log.producer() as producer:
        producer.produce(ORIGIN, made.encode(), b"origin")
    return made


_status_decoder = msgspec.json.Decoder(SiteStatus)
_encode = msgspec.json.Encoder().encode


class RelayState:
    """Cursors and site status as last written to the log, read up to its end on `refresh`."""

    def __init__(self, log: BaseLog) -> None:
        self._log = log
        self._consumer = log.consumer()
        self._partitions = [TopicPartition(CURSORS, 0), TopicPartition(SITES, 0)]
        self._consumer.assign(self._partitions)
        self._consumer.seek_to_beginning()
        self._lock = threading.Lock()
        self.cursors: dict[tuple[str, str, int], int] = {}
        self.sites: dict[str, SiteStatus] = {}

    def refresh(self) -> None:
        """Read what other processes (or an earlier life of this one) wrote, up to the end."""
        with self._lock:
            ends = self._log.end_offsets(self._partitions)
            deadline = time.monotonic() + 10
            while any(self._consumer.position(tp) < end for tp, end in ends.items()):
                for record in self._consumer.poll(max_records=5_000, timeout_s=0.05):
                    self._apply(record.topic, record.key or b"", record.value)
                if time.monotonic() > deadline:
                    raise TimeoutError("the relay cursors could not be read to their end in 10 s")

    def _apply(self, topic: str, key: bytes, value: bytes | None) -> None:
        if value is None:  # a tombstone: the site was forgotten
            if topic == CURSORS:
                site, edge_topic, partition = key.decode().rsplit("\0", 2)
                self.cursors.pop((site, edge_topic, int(partition)), None)
            else:
                self.sites.pop(key.decode(), None)
            return
        if topic == CURSORS:
            site, edge_topic, partition = key.decode().rsplit("\0", 2)
            self.cursors[(site, edge_topic, int(partition))] = int(value)
        else:
            status = _status_decoder.decode(value)
            self.sites[status.site] = status

    def cursor(self, site: str, topic: str, partition: int) -> int:
        """The highest edge offset stored here; -1 when none."""
        return self.cursors.get((site, topic, partition), -1)

    @staticmethod
    def cursor_record(site: str, topic: str, partition: int, offset: int) -> OutgoingRecord:
        return OutgoingRecord(CURSORS, str(offset).encode(), f"{site}\0{topic}\0{partition}".encode())

    @staticmethod
    def status_record(status: SiteStatus) -> OutgoingRecord:
        return OutgoingRecord(SITES, _encode(status), status.site.encode())

    def tombstones(self, site: str) -> list[OutgoingRecord]:
        """Records that forget `site`: its cursors and its status."""
        keys = [f"{s}\0{topic}\0{partition}".encode() for s, topic, partition in self.cursors if s == site]
        return [
            *(OutgoingRecord(CURSORS, None, key) for key in keys),
            OutgoingRecord(SITES, None, site.encode()),
        ]

    def remember(self, records: list[OutgoingRecord]) -> None:
        """What this process just wrote, so it need not read it back."""
        with self._lock:
            for r in records:
                if r.topic in (CURSORS, SITES):
                    self._apply(r.topic, r.key or b"", r.value)

    def close(self) -> None:
        self._consumer.close()

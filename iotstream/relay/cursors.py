"""The central site's memory of every edge site, kept in the log so it survives restarts and every API
process agrees: `relay.cursors` holds, per (site, edge topic, edge partition), the highest edge offset
stored here; `relay.sites` holds each site's last contact and what it reported of its backlog.

Both are compacted and are written in the same atomic group as the relayed records they describe:
after a crash either the records and their cursor are in the log, or neither is.
"""

import threading
import uuid
from typing import Any

import msgspec

from iotstream._units import iso_ms
from iotstream.log import BaseLog
from iotstream.log.types import CleanupPolicy, OutgoingRecord, TopicSpec
from iotstream.processing.tables import TableReader

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
    tables: dict[str, dict[str, Any]] = {}
    TableReader(log, [ORIGIN], tables).close()
    found = tables.get(ORIGIN, {}).get("origin")
    if found:
        return str(found)
    made = uuid.uuid4().hex
    with log.producer() as producer:
        producer.produce(ORIGIN, made.encode(), b"origin")
    return made


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


class RelayState:
    """Cursors and site status as last written to the log (compacted tables, see `TableReader`),
    read up to the end on `refresh`."""

    def __init__(self, log: BaseLog) -> None:
        self._tables: dict[str, dict[str, Any]] = {CURSORS: {}, SITES: {}}
        self._lock = threading.Lock()
        self._reader = TableReader(log, [CURSORS, SITES], self._tables)

    def refresh(self) -> None:
        """Read what other processes (or an earlier life of this one) wrote, up to the end."""
        with self._lock:
            self._reader.catch_up()

    def cursor(self, site: str, topic: str, partition: int) -> int:
        """The highest edge offset stored here; -1 when none."""
        return int(self._tables[CURSORS].get(_cursor_key(site, topic, partition), -1))

    def site(self, name: str) -> SiteStatus | None:
        document = self._tables[SITES].get(name)
        return None if document is None else msgspec.convert(document, SiteStatus)

    def all_sites(self) -> list[SiteStatus]:
        return [
            msgspec.convert(self._tables[SITES][name], SiteStatus) for name in sorted(self._tables[SITES])
        ]

    def knows(self, site: str) -> bool:
        return site in self._tables[SITES] or any(
            key.startswith(f"{site}\0") for key in self._tables[CURSORS]
        )

    @staticmethod
    def cursor_record(site: str, topic: str, partition: int, offset: int) -> OutgoingRecord:
        return OutgoingRecord(CURSORS, str(offset).encode(), _cursor_key(site, topic, partition).encode())

    @staticmethod
    def status_record(status: SiteStatus) -> OutgoingRecord:
        return OutgoingRecord(SITES, _encode(status), status.site.encode())

    def tombstones(self, site: str) -> list[OutgoingRecord]:
        """Records that forget `site`: its cursors and its status."""
        keys = [key for key in self._tables[CURSORS] if key.startswith(f"{site}\0")]
        return [
            *(OutgoingRecord(CURSORS, None, key.encode()) for key in keys),
            OutgoingRecord(SITES, None, site.encode()),
        ]

    def remember(self, records: list[OutgoingRecord]) -> None:
        """What this process just wrote, so it need not read it back."""
        with self._lock:
            for r in records:
                if (table := self._tables.get(r.topic)) is None:
                    continue
                key = (r.key or b"").decode()
                if r.value is None:
                    table.pop(key, None)
                else:
                    table[key] = _decode(r.value)

    def close(self) -> None:
        self._reader.close()


def _cursor_key(site: str, topic: str, partition: int) -> str:
    return f"{site}\0{topic}\0{partition}"

"""The edge site's side of the relay: reads the edge log from the relay group's committed position and
sends it to the central site, batch by batch, until the central site says it has every record.

Nothing is committed before the central site answered with its cursors, so a record is relayed at
least once whatever breaks — a refused or black-holed link, a restart of either site — and the central
site's cursors make it exactly once (see `receiver`). While the link is down, the polled batch waits
and the rest stays in the log, whose retention keeps what the group has not committed
(`[log] keep_unread_by`). Past `[relay] max_backlog` ingestion is refused, or the oldest records are
skipped and counted.
"""

import fnmatch
import logging
import threading
import time
from typing import Any

import httpx
import msgspec

from iotstream.log import BaseLog, Record, TopicPartition
from iotstream.registry.records import DATASTREAMS_TOPIC
from iotstream.relay.backlog import Backlog, BacklogMeter
from iotstream.relay.config import RelaySettings
from iotstream.relay.wire import (
    MEDIA_TYPE,
    RelayAnswer,
    RelayBatch,
    RelayPartition,
    RelayRecord,
    encode_batch,
)

__all__ = ["RELAY_GROUP", "Forwarder"]

_log = logging.getLogger(__name__)
RELAY_GROUP = "iotstream.relay"
_HEARTBEAT_S = 1.0  # an idle link still tells the central site it is alive, this often
_MEASURE_S = 0.5  # how often the backlog is measured
_answer_decoder = msgspec.json.Decoder(RelayAnswer)


class RelayFailedError(Exception):
    pass


class Forwarder:
    def __init__(self, log: BaseLog, site: str, settings: RelaySettings) -> None:
        self._log = log
        self._site = site
        self._settings = settings
        self._consumer = log.consumer(RELAY_GROUP)
        self._meter = BacklogMeter(log, self._consumer)
        headers = {"Content-Type": MEDIA_TYPE}
        if settings.compression == "gzip":
            headers["Content-Encoding"] = "gzip"
        if settings.token:
            headers["Authorization"] = f"Bearer {settings.token}"
        self._http = httpx.Client(
            base_url=settings.to or "", headers=headers, timeout=settings.timeout_ms / 1000
        )
        self.topics = self._topics()
        self.backlog = Backlog()
        self.full: str | None = None  # why ingestion is refused, while the backlog is over its bound
        self.connected = False
        self.last_error: str | None = None
        self.relayed = 0
        self.dropped = 0
        self.rate = 0.0
        self._rate_window = (time.monotonic(), 0)
        self._allowance = 0.0
        self._allowance_at = time.monotonic()

    def _topics(self) -> list[str]:
        existing = self._log.list_topics()
        wanted = [t for t in existing if any(fnmatch.fnmatchcase(t, p) for p in self._settings.topics)]
        return sorted({*wanted, DATASTREAMS_TOPIC})

    def run(self, stop: threading.Event) -> None:
        self._consumer.subscribe(self.topics, on_assign=self._commit_start)
        pending: list[Record] = []
        backoff_s, last_sent, last_measured = 0.05, 0.0, 0.0
        while not stop.is_set():
            if not pending:
                pending = self._consumer.poll(self._settings.batch_records, timeout_s=0.05)
            now = time.monotonic()
            if now - last_measured >= _MEASURE_S:
                last_measured = now
                if self._measure(pending):
                    pending = []
            if not pending and now - last_sent < _HEARTBEAT_S:
                continue
            self._throttle(len(pending), stop)
            try:
                answer = self._send(pending)
            except RelayFailedError as err:
                self._failed(str(err))
                stop.wait(backoff_s)
                backoff_s = min(backoff_s * 2, self._settings.retry_max_ms / 1000)
                continue
            backoff_s, last_sent = 0.05, time.monotonic()
            self._acknowledge(pending, answer)
            pending = []

    def _send(self, records: list[Record]) -> RelayAnswer:
        batch = RelayBatch(
            _partitions(records),
            self.backlog.records,
            self.backlog.oldest_unsent_age_s if self.backlog.records else None,
            self.rate,
        )
        body = encode_batch(batch, compress=self._settings.compression == "gzip")
        try:
            response = self._http.post(f"/api/v1/relay/{self._site}", content=body)
        except httpx.HTTPError as err:
            raise RelayFailedError(f"{type(err).__name__}: {err or 'no answer'}") from err
        if response.status_code != 200:
            raise RelayFailedError(f"the central site answered {response.status_code}: {response.text[:300]}")
        try:
            return _answer_decoder.decode(response.content)
        except msgspec.DecodeError as err:
            raise RelayFailedError(f"the central site's answer is not a relay answer: {err}") from err

    def _acknowledge(self, records: list[Record], answer: RelayAnswer) -> None:
        """Commit what the central site has; skip ahead where it has more than was sent (this site
        restarted from an older committed position)."""
        self.connected, self.last_error = True, None
        sent = {(r.topic, r.partition): r.offset for r in records}
        offsets = {
            TopicPartition(c.topic, c.partition): c.offset + 1 for c in answer.cursors if c.offset >= 0
        }
        if offsets:
            self._consumer.commit(offsets)
        for tp, offset in offsets.items():
            if (
                offset - 1 > sent.get((tp.topic, tp.partition), offset - 1)
                and tp in self._consumer.assignment()
            ):
                self._consumer.seek(tp, offset)
        self.relayed += len(records)
        self._meter.relayed(len(records), sum(len(r.value or b"") + len(r.key or b"") for r in records))
        self._count_rate(len(records))

    def _failed(self, error: str) -> None:
        if self.connected or self.last_error != error:
            _log.warning("relay to %s failed: %s; retrying", self._settings.to, error)
        self.connected, self.last_error = False, error

    def _measure(self, pending: list[Record]) -> bool:
        """Measure the backlog and apply its bound; True when the pending batch was dropped."""
        oldest = min((r.timestamp_ms for r in pending), default=None)
        self.backlog = self._meter.measure(sorted(self._consumer.assignment()), oldest)
        self._count_rate(0)
        over = self.backlog.over(self._settings)
        if over is None or self._settings.on_full == "refuse":
            self.full = over
            return False
        self._drop_oldest()
        return True

    def _drop_oldest(self) -> None:
        """Skip the oldest unsent records until the backlog is back to three quarters of its bound."""
        data = [tp for tp in self._consumer.assignment() if tp.topic != DATASTREAMS_TOPIC]  # metadata stays
        unsent = self._meter.unsent(sorted(data))
        total = sum(end - start for start, end in unsent.values())
        limit_bytes = self._settings.backlog_bytes
        keep_fraction = 0.75 * limit_bytes / max(self.backlog.bytes, 1) if limit_bytes else 0.5
        offsets = {}
        for tp, (start, end) in unsent.items():
            skip = int((end - start) * (1 - keep_fraction))
            if skip > 0:
                offsets[tp] = start + skip
                self.dropped += skip
        if offsets:
            self._consumer.commit(offsets)
        everything = self._meter.unsent(sorted(self._consumer.assignment()))
        for tp, (start, _) in everything.items():  # the pending batch, dropped, is read again from here
            self._consumer.seek(tp, offsets.get(tp, start))
        if offsets:
            _log.warning(
                "relay backlog over [relay] max_backlog: dropped the oldest %d of %d unsent records",
                sum(o - unsent[tp][0] for tp, o in offsets.items()),
                total,
            )

    def _throttle(self, count: int, stop: threading.Event) -> None:
        """Keep to `max_rate` records per second (a token bucket holding one second's worth)."""
        rate = self._settings.max_rate
        if not rate or not count:
            return
        now = time.monotonic()
        self._allowance = min(rate, self._allowance + (now - self._allowance_at) * rate)
        self._allowance_at = now
        if self._allowance < count:
            stop.wait((count - self._allowance) / rate)
            self._allowance, self._allowance_at = count, time.monotonic()  # the wait earned exactly these
        self._allowance -= count

    def _count_rate(self, count: int) -> None:
        started, counted = self._rate_window
        counted += count
        elapsed = time.monotonic() - started
        if elapsed >= 1.0:
            self.rate = counted / elapsed
            self._rate_window = (time.monotonic(), 0)
        else:
            self._rate_window = (started, counted)

    def _commit_start(self, partitions: list[TopicPartition]) -> None:
        """A partition the group never committed gets its start committed, so retention keeps it."""
        committed = self._consumer.committed(partitions)
        fresh = {tp: self._consumer.offset_bounds(tp)[0] for tp in partitions if committed.get(tp) is None}
        if fresh:
            self._consumer.commit(fresh)

    def status(self) -> dict[str, Any]:
        return {
            "to": self._settings.to,
            "site": self._site,
            "connected": self.connected,
            "backlog_records": self.backlog.records,
            "backlog_bytes": self.backlog.bytes,
            "oldest_unsent_age_s": round(self.backlog.oldest_unsent_age_s, 3),
            "rate": round(self.rate, 1),
            "last_error": self.last_error,
            "relayed": self.relayed,
            "dropped": self.dropped,
            "refusing": self.full,
        }

    def close(self) -> None:
        self._http.close()
        self._consumer.close()


def _partitions(records: list[Record]) -> list[RelayPartition]:
    grouped: dict[tuple[str, int], list[RelayRecord]] = {}
    for r in records:
        grouped.setdefault((r.topic, r.partition), []).append(
            RelayRecord(r.offset, r.timestamp_ms, r.key, r.value, list(r.headers))
        )
    return [RelayPartition(topic, partition, rs) for (topic, partition), rs in grouped.items()]

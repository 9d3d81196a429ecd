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

from iotstream.exceptions import IotStreamError
from iotstream.log import BaseLog, Record, TopicPartition
from iotstream.registry.records import DATASTREAMS_TOPIC
from iotstream.relay.backlog import Backlog, BacklogMeter
from iotstream.relay.config import RelaySettings
from iotstream.relay.cursors import log_origin
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
_FIRST_BACKOFF_S = 0.05
_answer_decoder = msgspec.json.Decoder(RelayAnswer)
_decode = msgspec.json.Decoder().decode


class RelayFailedError(IotStreamError):
    """The central site did not take a batch (unreachable, timed out, or refused it)."""


class Forwarder:
    """The relay loop of one edge site, on the relay role's thread; `status()` is its view of the link."""

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
            headers["Authorization"] = f"Bearer {settings.token.get_secret_value()}"
        self._http = httpx.Client(
            base_url=settings.to or "", headers=headers, timeout=settings.timeout_ms / 1000
        )
        self.topics = self._topics()
        self._origin = log_origin(log)
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
        self._pending: list[Record] = []  # polled, not yet confirmed by the central site
        self._backoff_s = _FIRST_BACKOFF_S
        self._sent_at = self._measured_at = 0.0

    def _topics(self) -> list[str]:
        existing = self._log.list_topics()
        wanted = [t for t in existing if any(fnmatch.fnmatchcase(t, p) for p in self._settings.topics)]
        return sorted({*wanted, DATASTREAMS_TOPIC})

    def run(self, stop: threading.Event) -> None:
        """Until `stop`; an error of the log or a bug in one turn is reported and retried, never the
        end of the relay."""
        self._consumer.subscribe(self.topics, on_assign=self._commit_start)
        while not stop.is_set():
            try:
                self._turn(stop)
            except Exception as err:
                _log.exception("relay turn failed; retrying")
                self._failed(f"{type(err).__name__}: {err}")
                self._back_off(stop)

    def _turn(self, stop: threading.Event) -> None:
        """Poll (unless a batch still waits), measure the backlog now and then, send, acknowledge."""
        if not self._pending:
            self._pending = self._consumer.poll(self._settings.batch_records, timeout_s=0.05)
        now = time.monotonic()
        if now - self._measured_at >= _MEASURE_S:
            self._measured_at = now
            if self._measure(self._pending):
                self._pending = []
        if not self._pending and now - self._sent_at < _HEARTBEAT_S:
            return
        self._throttle(len(self._pending), stop)
        try:
            answer = self._send(self._pending)
        except RelayFailedError as err:
            self._failed(str(err))
            self._back_off(stop)
            return
        self._backoff_s, self._sent_at = _FIRST_BACKOFF_S, time.monotonic()
        self._acknowledge(self._pending, answer)
        self._pending = []

    def _back_off(self, stop: threading.Event) -> None:
        stop.wait(self._backoff_s)
        self._backoff_s = min(self._backoff_s * 2, self._settings.retry_max_ms / 1000)

    def _send(self, records: list[Record]) -> RelayAnswer:
        batch = RelayBatch(
            _partitions(records),
            self.backlog.records,
            self.backlog.oldest_unsent_age_s if self.backlog.records else None,
            self.rate,
            self._origin,
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
        oldest = _oldest_accepted_ms(pending)
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


def _oldest_accepted_ms(records: list[Record]) -> int | None:
    """When the oldest of `records` was accepted: a reading's `resultTime` (its ingestion), else the
    record's timestamp. A reading's own time may be days old (backfill, a device's clock) and says
    nothing about how long it has waited here."""
    first: dict[tuple[str, int], Record] = {}
    for r in records:
        first.setdefault((r.topic, r.partition), r)  # each partition's oldest, in offset order
    oldest = None
    for r in first.values():
        accepted = r.timestamp_ms
        try:
            document = _decode(r.value or b"")
        except msgspec.DecodeError:
            document = None
        if isinstance(document, dict) and isinstance(document.get("resultTime"), int):
            accepted = document["resultTime"]
        oldest = accepted if oldest is None else min(oldest, accepted)
    return oldest

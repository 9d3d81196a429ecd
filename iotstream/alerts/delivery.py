"""Delivers alert events to one sink: its own consumer group on the `alerts` topic, so the log is the
outbox. A receiver that is down holds back only its own sink: that sink's position stays on the
undelivered event and is retried with exponential backoff (interrupted at once by a stop), while other
sinks, the jobs and the storage carry on. After the receiver returns, everything it missed follows in
order. An event still undeliverable after `give_up_after`, or refused for good (a 4xx, an unknown
recipient), goes to the dead-letter topic with the reason; so does an event that is not an alert.
A sink configured for the first time starts with the alerts raised from then on.

Delivery is at least once: a crash between sending and committing repeats that one message.
"""

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Literal

import msgspec

from iotstream.alerts.config import NotifySettings
from iotstream.alerts.message import DEFAULT_TEMPLATE, context, render
from iotstream.alerts.sinks import BaseSink, DeliveryError, Notice
from iotstream.log.base import BaseLog
from iotstream.log.topics import ALERTS, DEADLETTER, REGISTRY_DATASTREAMS
from iotstream.log.types import Record, TopicPartition
from iotstream.processing.recompute import RECOMPUTED
from iotstream.processing.tables import TableReader
from iotstream.registry.access.principal import DEFAULT_TENANT, owner_of

__all__ = ["Delivery", "notice_id"]

_log = logging.getLogger(__name__)
_decoder = msgspec.json.Decoder()
_REMEMBERED = 10_000  # open/close events already sent, so a job replaying after a crash is not repeated
_NEEDED = ("rule", "datastream", "event", "state", "start", "last")
Outcome = Literal["done", "retry"]


class Delivery:
    def __init__(
        self,
        sink: BaseSink,
        log: BaseLog,
        settings: NotifySettings,
        clock: Callable[[], float] = time.time,
        *,
        tenant: str = DEFAULT_TENANT,
    ) -> None:
        """`tenant`: the sink delivers that tenant's alerts, naming datastreams as the tenant does."""
        self.sink = sink
        self._tenant = tenant
        self.group = f"iotstream.notify.{sink.name}"
        self.counts = {"sent": 0, "retried": 0, "dead_lettered": 0, "skipped": 0}
        self._settings = settings
        self._clock = clock
        self._delay_s = settings.retry_initial / 1000
        self._failing_since: dict[tuple[str, int, int], float] = {}  # record → first failed attempt
        self._sent: OrderedDict[tuple[Any, ...], None] = OrderedDict()
        self._tables: dict[str, dict[str, Any]] = {}
        self._registry = TableReader(log, [REGISTRY_DATASTREAMS], self._tables)
        self._producer = log.producer()
        self._consumer = log.consumer(self.group, auto_offset_reset="earliest")
        self._start_new_sink_at_the_end(log)
        self._consumer.subscribe([ALERTS])

    def _start_new_sink_at_the_end(self, log: BaseLog) -> None:
        """A sink seen for the first time hears of alerts raised from now on, not of the topic's
        history; one that ran before resumes where it left off, so nothing raised while it (or the
        platform) was down is lost."""
        partitions = [TopicPartition(ALERTS, p) for p in range(log.describe_topic(ALERTS).spec.partitions)]
        if all(offset is None for offset in self._consumer.committed(partitions).values()):
            self._consumer.commit(log.end_offsets(partitions))

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                self.step(stop)
        finally:
            self.close()

    def step(self, stop: threading.Event) -> None:
        """Deliver what one poll returned, in order per partition; on a failure, wait and retry."""
        records = self._consumer.poll(max_records=100, timeout_s=0.2)
        self._registry.refresh()  # after the poll: a Thing registered before its alert is known
        done: dict[TopicPartition, int] = {}
        blocked: set[TopicPartition] = set()
        for record in records:
            where = TopicPartition(record.topic, record.partition)
            if where in blocked:
                continue
            if self._deliver(record) == "retry":
                self._consumer.seek(where, record.offset)
                blocked.add(where)
            else:
                done[where] = record.offset + 1
        if done:
            self._consumer.commit(done)
        if blocked:
            stop.wait(self._delay_s)
            self._delay_s = min(self._delay_s * 2, self._settings.retry_max / 1000)
        elif records:
            self._delay_s = self._settings.retry_initial / 1000

    def _deliver(self, record: Record) -> Outcome:
        alert = _alert(record)
        if isinstance(alert, str):
            return self._dead_letter(record, alert)
        tenant, name = owner_of(alert["datastream"])
        if (
            tenant != self._tenant
            or alert["event"] not in self._settings.events
            or self._repeated(alert)
            or RECOMPUTED in record.headers  # history derived again: stored, not news to anyone
        ):
            self.counts["skipped"] += 1
            return "done"
        try:
            registered = self._tables.get(REGISTRY_DATASTREAMS, {}).get(alert["datastream"])
            named = alert | {"datastream": name}  # as its tenant knows it
            fields = context(named, registered)
            text = render(self._settings.template, fields, DEFAULT_TEMPLATE)
            notice = Notice(text, fields, named, notice_id(alert))
        except (KeyError, TypeError, ValueError) as err:
            return self._dead_letter(record, f"cannot render the notification: {type(err).__name__} {err}")
        try:
            self.sink.send(notice)
        except DeliveryError as err:
            return self._failed(record, str(err), err.permanent)
        except Exception as err:  # a sink's bug must not stop the others; retried like an outage
            _log.exception("notify sink %s failed unexpectedly", self.sink.name)
            return self._failed(record, f"{type(err).__name__}: {err}", False)
        self.counts["sent"] += 1
        self._failing_since.pop((record.topic, record.partition, record.offset), None)
        self._remember(alert)
        return "done"

    def _failed(self, record: Record, reason: str, permanent: bool) -> Outcome:
        """Records carry event time, not when they were written: the wait counts from the first try."""
        where = (record.topic, record.partition, record.offset)
        first = self._failing_since.setdefault(where, self._clock())
        if permanent:
            return self._dead_letter(record, f"sink {self.sink.name} refused it: {reason}")
        if (self._clock() - first) * 1000 > self._settings.give_up_after:
            return self._dead_letter(record, f"sink {self.sink.name} still failing, gave up: {reason}")
        self.counts["retried"] += 1
        _log.warning("notify sink %s: %s; retrying in %.1f s", self.sink.name, reason, self._delay_s)
        return "retry"

    def _dead_letter(self, record: Record, reason: str) -> Outcome:
        self.counts["dead_lettered"] += 1
        self._failing_since.pop((record.topic, record.partition, record.offset), None)
        source = f"{record.topic}/{record.partition}/{record.offset}".encode()
        headers = [("reason", reason.encode()), ("role", b"notify"), ("source", source)]
        self._producer.produce(DEADLETTER, record.value, record.key, headers=headers)
        _log.warning("notify sink %s dead-lettered %s: %s", self.sink.name, source.decode(), reason)
        return "done"

    def _repeated(self, alert: dict[str, Any]) -> bool:
        return alert["event"] != "update" and _identity(alert) in self._sent

    def _remember(self, alert: dict[str, Any]) -> None:
        self._sent[_identity(alert)] = None
        if len(self._sent) > _REMEMBERED:
            self._sent.popitem(last=False)

    def close(self) -> None:
        self._consumer.close()
        self._registry.close()
        self._producer.close()
        self.sink.close()


def _identity(alert: dict[str, Any]) -> tuple[Any, ...]:
    return alert["rule"], alert["datastream"], alert["start"], alert["event"]


def notice_id(alert: dict[str, Any]) -> str:
    """An event's id: delivery is at least once (a crash between sending and committing sends again),
    and receivers drop what they have seen by it. An update is news each time, so its last reading
    is part of its id."""
    identity = (*_identity(alert), alert["last"] if alert["event"] == "update" else None)
    return hashlib.blake2b(msgspec.json.encode(identity), digest_size=12).hexdigest()


def _alert(record: Record) -> dict[str, Any] | str:
    """The alert episode in a record (as `Job.to` writes it: the episode is the event's value)."""
    try:
        document = _decoder.decode(record.value or b"")
    except msgspec.DecodeError as err:
        return f"not JSON: {err}"
    if isinstance(document, dict) and "rule" not in document and isinstance(document.get("value"), dict):
        document = document["value"]
    if not isinstance(document, dict):
        return "an alert event must be a JSON object"
    if missing := [field for field in _NEEDED if document.get(field) is None]:
        return f"not an alert event: no {', '.join(missing)}"
    if not all(type(document[t]) is int for t in ("start", "last")):
        return "alert start and last must be epoch milliseconds"
    return document

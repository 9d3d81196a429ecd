"""The storage sink role: log topics → the time-series store, in batches, committed after each write.

Offsets are committed only once the store has the batch, so a crash repeats a batch at worst, and the
idempotent upserts store it once. While the store is unavailable the sink retries the same batch with
growing backoff instead of reading further; a record it cannot understand goes to the dead-letter
topic with the reason, and the rest of the batch is stored.
"""

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from iotstream._units import parse_time_ms
from iotstream.log.base import BaseLog
from iotstream.log.topics import ALERTS, DEADLETTER, LATE, OBSERVATIONS
from iotstream.log.types import Record
from iotstream.models import Alert, LateObservation, Observation, WindowAggregate
from iotstream.storage.base import BaseStorage, Rejected
from iotstream.storage.exceptions import StorageError

__all__ = [
    "SinkTopics",
    "StorageSink",
    "decode_aggregate",
    "decode_alert",
    "decode_late",
    "decode_observation",
]

_log = logging.getLogger(__name__)
_decoder = msgspec.json.Decoder()


@dataclass(frozen=True)
class SinkTopics:
    observations: Sequence[str] = (OBSERVATIONS,)
    aggregates: Sequence[str] = ()
    late: Sequence[str] = (LATE,)
    alerts: Sequence[str] = (ALERTS,)
    deadletter: str = DEADLETTER


class StorageSink:
    """Run with `run(stop)`; `step()` does one poll-write-commit cycle (for tests)."""

    def __init__(
        self,
        log: BaseLog,
        storage: BaseStorage,
        topics: SinkTopics | None = None,
        *,
        group_id: str = "iotstream.storage",
        max_batch: int = 20_000,
        max_backoff_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        is_known: Callable[[str], bool] | None = None,
    ) -> None:
        """`is_known` says whether a datastream is registered; without it every datastream is accepted."""
        self._storage = storage
        self._topics = topics or SinkTopics()
        self._kinds = {t: "observations" for t in self._topics.observations}
        self._kinds |= {t: "aggregates" for t in self._topics.aggregates}
        self._kinds |= {t: "late" for t in self._topics.late}
        self._kinds |= {t: "alerts" for t in self._topics.alerts}
        self._is_known = is_known
        self._max_batch = max_batch
        self._max_backoff_s = max_backoff_s
        self._sleep = sleep
        self._producer = log.producer()
        self._consumer = log.consumer(group_id, auto_offset_reset="earliest")
        self._consumer.subscribe(list(self._kinds))
        self._stop = threading.Event()
        self.stored = 0
        self.rejected = 0

    def run(self, stop: threading.Event) -> None:
        self._stop = stop
        try:
            while not stop.is_set():
                self.step()
        finally:
            self.close()

    def step(self, timeout_s: float = 0.5) -> int:
        records = self._consumer.poll(self._max_batch, timeout_s)
        if records and self._write_until_stored(records):
            self._consumer.commit()
        return len(records)

    def _write_until_stored(self, records: list[Record]) -> bool:
        """True once stored; False if asked to stop first (uncommitted, so the batch is read again)."""
        backoff_s = 0.1
        while not self._stop.is_set():
            try:
                self._write(records)
            except StorageError as err:
                if not err.retriable:
                    raise
                _log.warning(
                    "store unavailable, retrying %d records in %.1f s: %s", len(records), backoff_s, err
                )
                self._sleep(backoff_s)
                backoff_s = min(backoff_s * 2, self._max_backoff_s)
            else:
                return True
        return False

    def _write(self, records: list[Record]) -> None:
        by_kind: dict[str, list[tuple[Record, Any]]] = {kind: [] for kind in _DECODERS}
        bad: list[tuple[Record, str]] = []
        for record in records:
            kind = self._kinds[record.topic]
            decoded = _DECODERS[kind](record)
            reason = decoded if isinstance(decoded, str) else self._unknown(decoded)
            if reason is None:
                by_kind[kind].append((record, decoded))
            else:
                bad.append((record, reason))
        writers: dict[str, Callable[[Any], list[Rejected]]] = {
            "observations": self._storage.write_observations,
            "aggregates": self._storage.write_aggregates,
            "late": self._storage.write_late,
            "alerts": self._storage.write_alerts,
        }
        for kind, items in by_kind.items():
            if items:
                refused = writers[kind]([value for _, value in items])
                bad += [(items[r.position][0], r.reason) for r in refused]
        self.stored += len(records) - len(bad)
        self._dead_letter(bad)

    def _unknown(self, decoded: Observation | WindowAggregate | LateObservation | Alert) -> str | None:
        if self._is_known is None:
            return None
        datastream = (
            decoded.observation.datastream if isinstance(decoded, LateObservation) else decoded.datastream
        )
        if self._is_known(datastream):
            return None
        return f"unknown datastream {datastream!r}: register it before sending data"

    def _dead_letter(self, bad: list[tuple[Record, str]]) -> None:
        for record, reason in bad:
            source = f"{record.topic}/{record.partition}/{record.offset}".encode()
            headers = [("reason", reason.encode()), ("role", b"storage"), ("source", source)]
            self._producer.produce(self._topics.deadletter, record.value, record.key, headers=headers)
        if bad:
            self.rejected += len(bad)
            self._producer.flush(30)  # the dead letters are durable before the offsets move on

    def close(self) -> None:
        self._consumer.close()
        self._producer.close()


def decode_observation(record: Record) -> Observation | str:
    """`{"datastream", "time", "value", "id"?, "resultTime"?}` (the key may name the datastream)."""
    document = _object(record)
    return document if isinstance(document, str) else _observation(document, record)


def _observation(document: dict[str, Any], record: Record) -> Observation | str:
    datastream = document.get("datastream") or (record.key or b"").decode("utf-8", "replace")
    if not datastream:
        return "no datastream: neither a 'datastream' field nor a record key"
    when = parse_time_ms(document.get("time", document.get("phenomenonTime")), record.timestamp_ms)
    if isinstance(when, str):
        return when
    value = document.get("value", document.get("result"))
    result_time = parse_time_ms(document.get("resultTime"), record.timestamp_ms)
    message_id = document.get("id") or _message_id(datastream, when, value)
    return Observation(
        datastream, when, value, result_time if isinstance(result_time, int) else when, str(message_id)
    )


def decode_aggregate(record: Record) -> WindowAggregate | str:
    """A window result as the stream engine writes it."""
    document = _object(record)
    if isinstance(document, str):
        return document
    try:
        return WindowAggregate(
            document["key"],
            document["window"],
            int(document["start"]),
            int(document["end"]),
            int(document["count"]),
            document.get("sum"),
            document.get("min"),
            document.get("max"),
            document.get("avg"),
            document.get("first"),
            document.get("last"),
            int(document.get("revision", 0)),
            record.timestamp_ms,
        )
    except (KeyError, TypeError, ValueError) as err:
        return f"not a window result: {type(err).__name__} {err}"


def decode_late(record: Record) -> LateObservation | str:
    """A late reading as the stream engine writes it."""
    document = _object(record)
    if isinstance(document, str):
        return document
    observation = _observation({"datastream": document.get("key"), **document}, record)
    if isinstance(observation, str):
        return observation
    return LateObservation(observation, int(document.get("late_by_ms", 0)), str(document.get("job", "")))


def decode_alert(record: Record) -> Alert | str:
    """An alert event as the alert jobs write it (times in epoch ms or ISO-8601)."""
    document = _object(record)
    if isinstance(document, str):
        return document
    start, last = _alert_time(document, "start"), _alert_time(document, "last")
    closed = None if document.get("closed_at") is None else _alert_time(document, "closed_at")
    for when in (start, last, closed):
        if isinstance(when, str):
            return when
    try:
        return Alert(
            str(document["rule"]),
            str(document["datastream"]),
            start,  # type: ignore[arg-type]  # narrowed by the loop above
            last,  # type: ignore[arg-type]
            _number(document.get("max")),
            _number(document.get("avg")),
            _number(document.get("threshold")),
            str(document["state"]),
            closed,  # type: ignore[arg-type]
            record.timestamp_ms,
        )
    except (KeyError, TypeError, ValueError) as err:
        return f"not an alert: {type(err).__name__} {err}"


def _alert_time(document: dict[str, Any], field: str) -> int | str:
    if document.get(field) is None:
        return f"not an alert: no {field!r} time"
    return parse_time_ms(document[field], 0)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


_DECODERS: dict[str, Callable[[Record], Any]] = {
    "observations": decode_observation,
    "aggregates": decode_aggregate,
    "late": decode_late,
    "alerts": decode_alert,
}


def _object(record: Record) -> dict[str, Any] | str:
    try:
        document = _decoder.decode(record.value or b"")
    except msgspec.DecodeError as err:
        return f"value is not JSON: {err}"
    return (
        document
        if isinstance(document, dict)
        else f"value must be a JSON object, got {type(document).__name__}"
    )


def _message_id(datastream: str, time_ms: int, value: Any) -> str:
    """The platform's stable id for a reading that came without one."""
    return hashlib.blake2b(msgspec.json.encode([datastream, time_ms, value]), digest_size=12).hexdigest()

"""The one path every reading takes into the platform, whatever transport brought it.

`submit` parses a payload, refuses what is malformed, unknown or unstorable (older than a configured raw
retention tier) with the reason, and produces the rest to `observations` keyed by stream key: a reading
is refused here, at once, or stored — never accepted and dropped later. `done` is called once the log
has acknowledged every produced reading, so a transport answers "accepted" only for readings that
survive a crash. When more readings wait for the log than `[ingest] max_pending`, `submit` raises
`IngestBusyError` before taking any: clients are told to retry instead of the process buffering
without bound.
"""

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

import msgspec

from iotstream._latency import LatencyHistogram
from iotstream.exceptions import IotStreamError
from iotstream.ingest import columns
from iotstream.ingest.avro import AvroFrameError, AvroReadings, is_framed
from iotstream.ingest.config import IngestSettings
from iotstream.ingest.readings import InvalidPayloadError, ItemError, parse_items, parse_readings
from iotstream.log.base import BaseLog
from iotstream.log.exceptions import LogError
from iotstream.log.topics import DEADLETTER, OBSERVATIONS
from iotstream.models import Observation
from iotstream.registry.access.principal import Scope, owner_of

__all__ = ["Done", "IngestBusyError", "IngestResult", "Ingestor", "RegistrationNeededError", "problem_of"]

Done = Callable[[Exception | None], None]
# The readings storage would refuse, by their index in the list, with the reason (e.g. too old to keep).
Unstorable = Callable[[Sequence[Observation]], dict[int, str]]
Parsed = tuple[list[Observation], list[ItemError]]  # a payload's readings and its rejected items
_encoder = msgspec.json.Encoder()
_log = logging.getLogger(__name__)


class IngestBusyError(IotStreamError):
    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RegistrationNeededError(IotStreamError):
    """Raised by `submit(..., may_register=False)` before it takes anything: the payload names a
    datastream that `auto_register` would register first, which waits for the catalog and the log."""


@dataclass
class IngestResult:
    accepted: int
    rejected: list[ItemError] = field(default_factory=list)


def problem_of(result: "IngestResult | str") -> str:
    """Why a message of `submit_messages` goes to the dead-letter topic ("" when it does not)."""
    if isinstance(result, str):
        return result
    return "; ".join(f"item {e.position}: {e.error}" for e in result.rejected)


@dataclass
class IngestCounts:
    accepted: int = 0
    rejected: int = 0
    dead_lettered: int = 0


class Ingestor:
    def __init__(
        self,
        log: BaseLog,
        settings: IngestSettings,
        known: Callable[[str], bool] | None = None,
        register: Callable[[Iterable[str]], object] | None = None,
        clock: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        unstorable: Unstorable | None = None,
        observed: Callable[[Sequence[Observation]], None] | None = None,
        refusal: Callable[[], str | None] | None = None,
        over_quota: Callable[[set[str]], dict[str, str]] | None = None,
        avro: AvroReadings | None = None,
    ) -> None:
        """`known(key)` says whether a datastream is registered; `register` is told of new ones and
        `observed` of the readings taken; `refusal` says why no readings are taken for now, if so (an
        edge site whose relay backlog is full); `over_quota` which of the new keys may not be registered,
        and why (a tenant's datastream quota); `avro` decodes Confluent-framed Avro payloads."""
        self._settings = settings
        self._known = known or (lambda key: True)
        self._register = register or (lambda keys: None)
        self._unstorable = unstorable or (lambda readings: {})
        self._observed = observed or (lambda readings: None)
        self._refusal = refusal or (lambda: None)
        self._over_quota = over_quota or (lambda keys: {})
        self._clock = clock
        self._avro = avro
        self._producer = log.producer()
        self._pending = 0
        self._lock = threading.Lock()
        self.counts = IngestCounts()
        self.log_latency = LatencyHistogram()  # from acceptance to the log's acknowledgement

    @property
    def pending(self) -> int:
        return self._pending

    def submit(
        self,
        body: bytes,
        done: Done,
        *,
        datastream: str | None = None,
        whole: bool = False,
        registered: bool = False,
        may_register: bool = True,
        scope: Scope | None = None,
        avro: bool = False,
    ) -> IngestResult:
        """Take a payload; raises `InvalidPayloadError` when none of it is usable. With `whole`, one
        refused reading refuses them all (a SensorThings request writes everything or nothing).
        `registered`: the sender vouches that every key is in the catalog (a SensorThings request,
        whose Datastreams are in its own transaction, not yet visible to a registration). Without
        `may_register`, a payload that needs a registration raises `RegistrationNeededError` instead:
        an event loop submits there and registers on a worker thread, not stalling other requests.
        `scope`: the sender's, whose names become its tenant's stream keys. With `avro`, the body is
        Confluent-framed Avro records back to back instead of JSON."""
        self._check_room()
        received_ms = self._clock()
        parsed = self._parse(body, received_ms, datastream, scope, self._decoder() if avro else None)
        [readings] = self._judge([parsed], registered=registered, may_register=may_register)
        rejected = parsed[1]
        if whole and rejected:
            readings = []
        self._take(readings, len(rejected), done, received_ms)
        return IngestResult(len(readings), rejected)

    def submit_messages(
        self,
        messages: Sequence[tuple[bytes, str | None, Scope | None]],
        done: Done,
        avro: AvroReadings | None = None,
        times: Sequence[int] | None = None,
    ) -> list[IngestResult | str]:
        """Many payloads (one MQTT read's messages, each `(payload, datastream, sender's scope)`) taken
        together: each is judged alone — an unusable one gets its reason in place of a result — and
        their readings go to the log as one, with `done` called once the log has them all. One call per
        message costs more than a reading's whole way to storage. A payload beginning with a zero byte
        is Avro: MQTT 3.1.1 has no content type, and JSON never begins so. With `avro` (a source's
        decoder, with its field mapping) every payload is Avro. `times`: each payload's time for readings
        without one (a log record's timestamp, the same when it is read again), else when received."""
        self._check_room()
        received_ms = self._clock()
        outcomes: list[Parsed | str] = []
        for (body, datastream, scope), default_ms in zip(messages, times or repeat(None), strict=False):
            try:
                decoder = avro or (self._decoder() if is_framed(body) else None)
                outcomes.append(self._parse(body, received_ms, datastream, scope, decoder, default_ms))
            except InvalidPayloadError as err:
                outcomes.append(str(err))
        parsed = [outcome for outcome in outcomes if not isinstance(outcome, str)]
        judged = self._judge(parsed)
        kept = iter(judged)
        results = [o if isinstance(o, str) else IngestResult(len(next(kept)), o[1]) for o in outcomes]
        taken = [reading for readings in judged for reading in readings]
        self._take(taken, sum(len(rejected) for _, rejected in parsed), done, received_ms)
        return results

    def submit_items(self, items: list[Any], done: Done) -> IngestResult:
        """Readings already decoded (an import's rows), judged and taken as `submit` takes a body's."""
        self._check_room()
        received_ms = self._clock()
        parsed = parse_items(items, received_ms)
        [readings] = self._judge([parsed])
        self._take(readings, len(parsed[1]), done, received_ms)
        return IngestResult(len(readings), parsed[1])

    def submit_columns(
        self, datastreams: list[str], times: list[int], values: list[Any], done: Done
    ) -> IngestResult:
        """Readings as columns (a typed Parquet batch of an import): what `submit_items` gives for their
        rows, several times faster. Columns a check a column at a time cannot vouch for, datastreams
        to register or refuse, and readings older than the store keeps take the row-by-row way."""
        self._check_room()
        encoded = columns.encoded(datastreams, times, values, self._clock())
        return self.submit_encoded(datastreams, times, values, encoded, done)

    def submit_encoded(
        self,
        datastreams: list[str],
        times: list[int],
        values: list[Any],
        encoded: columns.Encoded | None,
        done: Done,
    ) -> IngestResult:
        """`submit_columns` of columns already encoded by `columns.encoded` (maybe in another process)."""
        if encoded is None:
            return self.submit_items(columns.rows(datastreams, times, values), done)
        self._check_room()
        if self._unstorable(encoded.extremes) or not all(map(self._known, set(datastreams))):
            return self.submit_items(columns.rows(datastreams, times, values), done)
        self.counts.accepted += len(encoded.records)
        self._produce_encoded(encoded.records, datastreams, times, done, encoded.received_ms)
        self._observed(encoded.extremes)
        return IngestResult(len(encoded.records))

    def _decoder(self) -> AvroReadings:
        if self._avro is None:
            raise InvalidPayloadError("this process takes no Avro readings (it has no schema registry)")
        return self._avro

    def _parse(
        self,
        body: bytes,
        received_ms: int,
        datastream: str | None,
        scope: Scope | None,
        avro: AvroReadings | None,
        default_ms: int | None = None,
    ) -> Parsed:
        """A JSON payload's readings, or with `avro` an Avro one's."""
        if avro is None:
            return parse_readings(
                body, received_ms, datastream=datastream, scope=scope, default_ms=default_ms
            )
        if not body:
            raise InvalidPayloadError("the body holds no Avro record")
        items = avro.readings(body)
        if len(items) == 1 and type(items[0]) is AvroFrameError:  # like a body that is not JSON
            raise InvalidPayloadError(f"no Avro record could be read: {items[0]}")
        return parse_items(list(items), received_ms, datastream, scope, default_ms)

    def _judge(
        self, parsed: list[Parsed], *, registered: bool = False, may_register: bool = True
    ) -> list[list[Observation]]:
        """The readings of each payload that may be taken; the others join its `rejected`. The store
        and the catalog are asked once for all the payloads."""
        everything = [reading for readings, _ in parsed for reading in readings]
        refused = self._unstorable(everything)
        storable = [r for i, r in enumerate(everything) if i not in refused] if refused else everything
        unknown = {} if registered else self._unknown(storable, may_register)  # none for a refusal
        kept, offset = [], 0
        for readings, rejected in parsed:
            mine = {i - offset: refused[i] for i in range(offset, offset + len(readings)) if i in refused}
            offset += len(readings)
            kept.append(_refuse_unknown(_drop(readings, rejected, mine), rejected, unknown))
        return kept

    def _take(self, readings: list[Observation], rejected: int, done: Done, received_ms: int) -> None:
        self.counts.accepted += len(readings)
        self.counts.rejected += rejected
        if not readings:
            done(None)
            return
        self._produce(readings, done, received_ms)
        self._observed(readings)

    def _check_room(self) -> None:
        if (reason := self._refusal()) is not None:
            raise IngestBusyError(f"readings are refused for now: {reason}", self._settings.retry_after_s)
        if self._pending >= self._settings.max_pending:
            raise IngestBusyError(
                f"{self._pending} readings are waiting for the log ([ingest] max_pending = "
                f"{self._settings.max_pending}); retry in {self._settings.retry_after_s} s",
                self._settings.retry_after_s,
            )

    def _unknown(self, readings: list[Observation], may_register: bool) -> dict[str, str]:
        """Keys the catalog does not know, with why their readings are refused: registered here with
        `auto_register` (then only those over their tenant's quota are left)."""
        unknown = {key for key in {r.datastream for r in readings} if not self._known(key)}
        if not unknown:
            return {}
        if not self._settings.auto_register:
            return {key: f"unknown datastream {owner_of(key)[1]!r}; register it first" for key in unknown}
        if not may_register:
            raise RegistrationNeededError(f"{len(unknown)} datastreams to register")
        refused = self._over_quota(unknown)
        wanted = unknown - refused.keys()
        if wanted:
            self._register(sorted(wanted))
        return refused

    def _produce(self, readings: list[Observation], done: Done, received_ms: int) -> None:
        encode, record = _encoder.encode, columns.ReadingRecord
        values = [
            encode(record(r.datastream, r.phenomenon_time_ms, r.result, r.id, r.result_time_ms))
            for r in readings
        ]
        self._produce_encoded(
            values,
            [r.datastream for r in readings],
            [r.phenomenon_time_ms for r in readings],
            done,
            received_ms,
        )

    def _produce_encoded(
        self, values: list[bytes], datastreams: list[str], times: list[int], done: Done, received_ms: int
    ) -> None:
        keys = {key: key.encode() for key in set(datastreams)}
        count = len(values)
        with self._lock:  # once they are encoded: an error before leaves nothing pending
            self._pending += count

        def acknowledged(error: Exception | None) -> None:
            self._release(count)
            self.log_latency.add_same(time.time_ns() // 1_000_000, received_ms, count)
            done(error)

        # `acknowledged` runs once, even on an error
        self._producer.produce_many(
            OBSERVATIONS, values, list(map(keys.__getitem__, datastreams)), times, acknowledged
        )

    def _release(self, count: int) -> None:
        with self._lock:
            self._pending -= count

    def offer(self, readings: list[dict[str, Any]], source: str) -> int:
        """Readings a device adapter polled or was notified of (Modbus, LwM2M), taken as an import's
        rows; each refused one is dead-lettered with its reason under `source`. When the log is busy
        or away they are dropped with a warning, not retried: the next poll or notification brings
        newer values, and the adapter must go on. Returns how many were taken."""

        def done(error: Exception | None) -> None:
            if error is not None:
                _log.error("%s: the log did not take %d readings: %s", source, len(readings), error)

        try:
            result = self.submit_items(readings, done)
        except (IngestBusyError, LogError) as err:
            _log.warning("%s: %d readings dropped: %s", source, len(readings), err)
            return 0
        for rejected in result.rejected:
            self.dead_letter(_encoder.encode(readings[rejected.position]), rejected.error, source)
        return result.accepted

    def dead_letter(self, payload: bytes, reason: str, source: str) -> None:
        """Keep a payload nobody could use, with why, on the dead-letter topic (never retried)."""
        headers = [("reason", reason.encode()), ("source", source.encode())]
        self._producer.produce(DEADLETTER, payload, None, headers=headers)
        self.counts.dead_lettered += 1

    def flush(self, timeout_s: float = 30.0) -> int:
        return self._producer.flush(timeout_s)

    def close(self) -> None:
        self._producer.close()


def _refuse_unknown(
    readings: list[Observation], rejected: list[ItemError], unknown: dict[str, str]
) -> list[Observation]:
    if not unknown:
        return readings
    refused = {i: unknown[r.datastream] for i, r in enumerate(readings) if r.datastream in unknown}
    return _drop(readings, rejected, refused)


def _drop(
    readings: list[Observation], rejected: list[ItemError], refused: dict[int, str]
) -> list[Observation]:
    """`refused` goes by index in `readings`; `rejected` by position in the payload, where the readings
    accepted so far kept their order and the items rejected earlier fill the gaps."""
    if not refused:
        return readings
    failed = {error.position for error in rejected}
    positions = (position for position in itertools.count() if position not in failed)
    kept = []
    for (index, reading), position in zip(enumerate(readings), positions, strict=False):
        if index in refused:
            rejected.append(ItemError(position, refused[index]))
        else:
            kept.append(reading)
    rejected.sort()
    return kept

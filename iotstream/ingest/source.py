"""Readings from a log topic that gateways produce into directly (`[[sources]]`), Avro or JSON.

Gateways on Kafka often write Confluent-framed Avro straight into a topic instead of calling an API.
A source reads that topic in its own consumer group and gives each record to the ingestor like an MQTT
message: the same checks, message ids, registration and quotas. A record that gives no reading is
dead-lettered with its reason and where it came from; offsets are committed only once the log has the
readings and the dead letters, so a crash reads a batch again and never skips one. A reading without a
time takes its record's timestamp, so one read again has the same message id and is stored once.
"""

import logging
import threading
from collections.abc import Callable

from iotstream.ingest.avro import AvroReadings, FieldMapping
from iotstream.ingest.config import SourceSettings
from iotstream.ingest.ingestor import IngestBusyError, Ingestor, IngestResult, problem_of
from iotstream.log.base import BaseConsumer, BaseLog
from iotstream.log.exceptions import LogError
from iotstream.log.types import Record

__all__ = ["TopicSource"]

_log = logging.getLogger(__name__)
_RETRY_S = 0.5


class TopicSource:
    def __init__(
        self, settings: SourceSettings, log: BaseLog, ingestor: Ingestor, schema_of: Callable[[int], str]
    ) -> None:
        self.settings = settings
        self._log = log
        self._ingestor = ingestor
        mapping = FieldMapping(settings.datastream, settings.time, settings.value)
        self._avro = AvroReadings(schema_of, mapping) if settings.format == "avro" else None
        self.counts = {"records": 0, "dead_lettered": 0}

    def run(self, stop: threading.Event) -> None:
        with self._log.consumer(self.settings.group_id, auto_offset_reset="earliest") as consumer:
            consumer.subscribe([self.settings.topic])
            while not stop.is_set():
                try:
                    self._turn(consumer, stop)
                except Exception:  # one bad turn (a rebalance, a registry reply) must not end the source
                    _log.exception("source %s: a batch failed; it is read again", self.settings.topic)
                    stop.wait(_RETRY_S)

    def _turn(self, consumer: BaseConsumer, stop: threading.Event) -> None:
        records = consumer.poll(500, 0.2)
        if not records:
            return
        try:
            taken = self._take(records, stop)
        except BaseException:
            consumer.rewind(records)
            raise
        if taken:
            consumer.commit()
            self.counts["records"] += len(records)
        else:
            consumer.rewind(records)
            stop.wait(_RETRY_S)

    def _take(self, records: list[Record], stop: threading.Event) -> bool:
        """Whether the log has the batch's readings and then its dead letters (False: not taken, or
        stopping). Dead letters follow the readings, so a batch read again does not repeat them."""
        acknowledged = threading.Event()
        failure: list[Exception] = []

        def done(error: Exception | None) -> None:
            failure.extend([error] if error else [])
            acknowledged.set()

        messages = [(r.value or b"", _name(r.key), None) for r in records]
        times = [r.timestamp_ms for r in records]  # so a record read again has the same message id
        while True:
            try:
                results = self._ingestor.submit_messages(messages, done, self._avro, times)
                break
            except IngestBusyError:
                if stop.wait(_RETRY_S):
                    return False
            except LogError as err:
                _log.warning("source %s: readings not taken, read again: %s", self.settings.topic, err)
                return False
        while not acknowledged.wait(0.1):
            if stop.is_set():
                return False
        if failure:
            return False
        return self._dead_letter(records, results) == 0 or self._ingestor.flush() == 0

    def _dead_letter(self, records: list[Record], results: list[IngestResult | str]) -> int:
        letters = 0
        for record, result in zip(records, results, strict=True):
            reason = problem_of(result)
            if reason:
                where = f"topic:{record.topic}/{record.partition}@{record.offset}"
                self._ingestor.dead_letter(record.value or b"", reason, where)
                letters += 1
        self.counts["dead_lettered"] += letters
        return letters


def _name(key: bytes | None) -> str | None:
    """The record key as a datastream name: text, not a serialized key (an Avro frame)."""
    return key.decode("utf-8", "replace") if key and key[:1] != b"\x00" else None

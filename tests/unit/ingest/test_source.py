"""A `[[sources]]` topic source on a real SQLite log: what it takes, what it dead-letters, and that a
batch the log did not take is read again — with the same message ids, never skipped, and its dead
letters written once."""

import io
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import fastavro
import msgspec
import pytest

from iotstream.ingest.avro import AvroReadings
from iotstream.ingest.config import IngestSettings, SourceSettings
from iotstream.ingest.ingestor import Done, Ingestor, IngestResult
from iotstream.ingest.source import TopicSource
from iotstream.log import BaseLog
from iotstream.log.exceptions import LogError
from iotstream.log.topics import DEADLETTER, OBSERVATIONS
from iotstream.log.types import TopicSpec
from iotstream.registry.access.principal import Scope

SCHEMA = {
    "type": "record",
    "name": "G",
    "fields": [{"name": "sensor", "type": "string"}, {"name": "reading", "type": "double"}],
}
GATEWAY = "gateway"


def frame(sensor: str, reading: float) -> bytes:
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(SCHEMA), {"sensor": sensor, "reading": reading})
    return b"\x00\x00\x00\x00\x01" + body.getvalue()


class _Failing(Ingestor):
    """Refuses the first `failures` batches as a log that is down would."""

    failures = 0

    def submit_messages(
        self,
        messages: Sequence[tuple[bytes, str | None, Scope | None]],
        done: Done,
        avro: AvroReadings | None = None,
        times: Sequence[int] | None = None,
    ) -> list[IngestResult | str]:
        if self.failures:
            self.failures -= 1
            raise LogError("the log is down")
        return super().submit_messages(messages, done, avro, times)


@pytest.fixture
def running(log: BaseLog) -> Iterator[Callable[[Ingestor], TopicSource]]:
    stop, threads = threading.Event(), []
    log.create_topic(TopicSpec(GATEWAY), exist_ok=True)
    log.create_topic(TopicSpec(OBSERVATIONS), exist_ok=True)
    log.create_topic(TopicSpec(DEADLETTER), exist_ok=True)

    def start(ingestor: Ingestor) -> TopicSource:
        settings = SourceSettings(topic=GATEWAY, datastream="sensor", value="reading")
        source = TopicSource(settings, log, ingestor, {1: json.dumps(SCHEMA)}.__getitem__)
        threads.append(threading.Thread(target=source.run, args=(stop,)))
        threads[-1].start()
        return source

    yield start
    stop.set()
    for thread in threads:
        thread.join()


def read(log: BaseLog, topic: str, count: int) -> list[Any]:
    got: list[Any] = []
    deadline = time.monotonic() + 20
    with log.consumer(f"check-{topic}", auto_offset_reset="earliest") as consumer:
        consumer.subscribe([topic])
        while len(got) < count and time.monotonic() < deadline:
            got += consumer.poll(100, 0.2)
        got += consumer.poll(100, 0.5)  # and nothing more arrives
    return got


def test_readings_take_their_records_time_and_a_batch_the_log_refused_is_read_again_once(
    log: BaseLog, running: Callable[[Ingestor], TopicSource]
) -> None:
    with log.producer() as gateway:
        gateway.produce(GATEWAY, frame("pump", 1.5), b"ignored", timestamp_ms=1_700_000_000_000)
        gateway.produce(GATEWAY, b"\x00\x00\x00\x00\x09\x02", timestamp_ms=1_700_000_000_001)  # unknown id
        gateway.produce(GATEWAY, frame("pump", 2.5), timestamp_ms=1_700_000_000_002)
    ingestor = _Failing(log, IngestSettings(), clock=lambda: 42)
    ingestor.failures = 2
    source = running(ingestor)
    stored = [msgspec.json.decode(r.value) for r in read(log, OBSERVATIONS, 2)]
    assert [(r["datastream"], r["time"], r["value"]) for r in stored] == [
        ("pump", 1_700_000_000_000, 1.5),  # the record's timestamp, not when it was read (42)
        ("pump", 1_700_000_000_002, 2.5),
    ]
    letters = read(log, DEADLETTER, 1)
    assert [dict(letter.headers)["reason"] for letter in letters] == [
        b"no Avro record could be read: unknown schema id 9"
    ]
    assert dict(letters[0].headers)["source"] == f"topic:{GATEWAY}/0@1".encode()
    assert source.counts == {"records": 3, "dead_lettered": 1}
    assert ingestor.failures == 0
    ingestor.close()


def test_a_batch_that_fails_in_an_unexpected_way_is_read_again_and_the_source_goes_on(
    log: BaseLog, running: Callable[[Ingestor], TopicSource], monkeypatch: pytest.MonkeyPatch
) -> None:
    with log.producer() as gateway:
        gateway.produce(GATEWAY, b"\x01not a frame", timestamp_ms=1)
        gateway.produce(GATEWAY, frame("valve", 7.0), timestamp_ms=2)
    ingestor = Ingestor(log, IngestSettings())
    real = ingestor.dead_letter
    calls = []

    def dead_letter_failing_once(payload: bytes, reason: str, source: str) -> None:
        calls.append(reason)
        if len(calls) == 1:
            raise RuntimeError("the dead-letter topic went away")
        real(payload, reason, source)

    monkeypatch.setattr(ingestor, "dead_letter", dead_letter_failing_once)
    monkeypatch.setattr("iotstream.ingest.source._RETRY_S", 0.05)
    running(ingestor)
    again = [msgspec.json.decode(r.value) for r in read(log, OBSERVATIONS, 2)]
    assert [r["value"] for r in again] == [7.0, 7.0]  # the batch was taken, then read again
    assert again[0]["id"] == again[1]["id"]  # the same message id: the store keeps it once
    letters = read(log, DEADLETTER, 1)
    assert len(letters) == 1
    assert dict(letters[0].headers)["reason"].startswith(b"no Avro record could be read: magic byte 1")
    assert len(calls) == 2  # failed once, then written once
    ingestor.close()

"""The ingestor on a real SQLite log: which readings it takes, and whom it asks about their keys."""

import threading
from collections.abc import Sequence

import msgspec
import pytest

from iotstream.ingest.config import IngestSettings
from iotstream.ingest.ingestor import Ingestor, IngestResult, RegistrationNeededError
from iotstream.ingest.readings import ItemError
from iotstream.log import BaseLog
from iotstream.log.topics import OBSERVATIONS
from iotstream.log.types import TopicPartition
from iotstream.models import Observation

PAYLOAD = b'[{"datastream": "a", "value": 1}, "junk", {"datastream": "a", "value": 2}, {"datastream": "a"'
PAYLOAD += b', "value": 3}]'


def test_readings_a_sensorthings_request_vouches_for_are_not_registered_again(log: BaseLog) -> None:
    """A SensorThings request holds the catalog's write lock while it sends: asking the catalog to
    register its keys would wait for that lock forever."""
    registered: list[list[str]] = []
    ingestor = Ingestor(log, IngestSettings(), known=lambda key: False, register=registered.append)
    acknowledged = threading.Event()
    body = b'[{"datastream": "oven", "value": 1}]'
    result = ingestor.submit(body, lambda error: acknowledged.set(), registered=True)
    assert (result.accepted, registered) == (1, [])
    ingestor.submit(body, lambda error: None)
    assert registered == [["oven"]]  # other paths still register a key the catalog does not know
    assert acknowledged.wait(10)
    ingestor.flush()
    ingestor.close()


def test_a_refusal_by_the_store_comes_back_at_once_with_its_place_in_the_payload(log: BaseLog) -> None:
    too_old = {1: "older than the raw tier"}  # by index among the parsed readings
    ingestor = Ingestor(log, IngestSettings(), unstorable=lambda readings: too_old)
    result = ingestor.submit(PAYLOAD, lambda error: None)
    assert result.accepted == 2
    assert [(r.position, r.error) for r in result.rejected] == [
        (1, "a reading must be a JSON object, got str"),
        (2, "older than the raw tier"),
    ]
    whole = ingestor.submit(PAYLOAD, lambda error: None, whole=True)
    assert (whole.accepted, [r.position for r in whole.rejected]) == (0, [1, 2])
    ingestor.flush()
    ingestor.close()


def test_messages_taken_together_are_judged_alone_and_acknowledged_once_the_log_has_them_all(
    log: BaseLog,
) -> None:
    ingestor = Ingestor(log, IngestSettings(), unstorable=lambda readings: {})
    acknowledged: list[Exception | None] = []
    messages = [
        (b'{"time": 1000, "value": 1}', "from-topic", None),
        (b"{oops", "from-topic", None),
        (PAYLOAD, None, None),
        (b'{"datastream": "own", "time": 2000, "value": 2}', "from-topic", None),
    ]
    results = ingestor.submit_messages(messages, acknowledged.append)
    assert ingestor.flush() == 0
    assert acknowledged == [None]  # once, for all of them
    assert results[0] == IngestResult(1, [])
    assert isinstance(results[1], str)
    assert results[1].startswith("body is not JSON")
    assert results[2] == IngestResult(3, [ItemError(1, "a reading must be a JSON object, got str")])
    assert results[3] == IngestResult(1, [])
    consumer = log.consumer()
    consumer.assign([TopicPartition(OBSERVATIONS, 0)])
    consumer.seek_to_beginning()
    stored = [msgspec.json.decode(r.value or b"") for r in consumer.poll(100, 5)]
    consumer.close()
    assert [(r["datastream"], r["value"]) for r in stored] == [
        ("from-topic", 1),
        ("a", 1),
        ("a", 2),
        ("a", 3),
        ("own", 2),
    ]
    assert (ingestor.counts.accepted, ingestor.counts.rejected) == (5, 1)
    ingestor.close()


def test_the_store_and_the_catalog_are_asked_once_per_read_and_answer_each_message_in_its_place(
    log: BaseLog,
) -> None:
    asked: list[int] = []
    registered: list[list[str]] = []

    def too_old(readings: Sequence[Observation]) -> dict[int, str]:
        asked.append(len(readings))
        return {i: "older than the raw tier" for i, r in enumerate(readings) if r.result == 0}

    ingestor = Ingestor(
        log, IngestSettings(), known=lambda key: False, register=registered.append, unstorable=too_old
    )
    messages = [
        (
            b'[{"datastream": "a", "time": 1, "value": 1}, {"datastream": "a", "time": 2, "value": 0}]',
            None,
            None,
        ),
        (b'{"datastream": "old-only", "time": 3, "value": 0}', None, None),
        (
            b'[{"datastream": "b", "time": 4, "value": 0}, {"datastream": "b", "time": 5, "value": 5}]',
            None,
            None,
        ),
    ]
    results = ingestor.submit_messages(messages, lambda error: None)
    assert asked == [5]
    assert registered == [["a", "b"]]  # once, and not for a datastream whose readings were all refused
    assert results == [
        IngestResult(1, [ItemError(1, "older than the raw tier")]),
        IngestResult(0, [ItemError(0, "older than the raw tier")]),
        IngestResult(1, [ItemError(0, "older than the raw tier")]),
    ]
    assert ingestor.flush() == 0
    ingestor.close()


def test_without_may_register_a_payload_that_needs_a_registration_is_refused_before_anything_is_taken(
    log: BaseLog,
) -> None:
    registered: list[list[str]] = []
    ingestor = Ingestor(log, IngestSettings(), known={"a"}.__contains__, register=registered.append)
    with pytest.raises(RegistrationNeededError):
        ingestor.submit(
            b'[{"datastream": "a", "value": 1}, {"datastream": "b", "value": 2}]',
            lambda error: None,
            may_register=False,
        )
    assert (ingestor.counts.accepted, ingestor.pending, registered) == (0, 0, [])
    result = ingestor.submit(b'{"datastream": "a", "value": 1}', lambda error: None, may_register=False)
    assert result.accepted == 1  # known keys need nothing
    ingestor.flush()
    consumer = log.consumer()
    consumer.assign([TopicPartition(OBSERVATIONS, 0)])
    assert [msgspec.json.decode(r.value or b"")["datastream"] for r in consumer.poll(timeout_s=1)] == ["a"]
    consumer.close()
    ingestor.close()

"""The ingestor on a real SQLite log: which readings it takes, and whom it asks about their keys."""

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from iotstream.ingest.config import IngestSettings
from iotstream.ingest.ingestor import Ingestor
from iotstream.log import BaseLog, open_log
from iotstream.log.topics import platform_topics

PAYLOAD = b'[{"datastream": "a", "value": 1}, "junk", {"datastream": "a", "value": 2}, {"datastream": "a"'
PAYLOAD += b', "value": 3}]'


@pytest.fixture
def log(tmp_path: Path) -> Iterator[BaseLog]:
    with open_log(f"sqlite:///{tmp_path}/log.db", maintenance_interval_ms=0) as opened:
        for spec in platform_topics(1):
            opened.create_topic(spec, exist_ok=True)
        yield opened


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

"""Readings as columns (an import's typed Parquet batches): the same records, ids and refusals as the
row-by-row way, whatever the columns hold."""

import math
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iotstream.ingest import columns
from iotstream.ingest.config import IngestSettings
from iotstream.ingest.ingestor import Ingestor
from iotstream.log import BaseLog, open_log
from iotstream.log.topics import OBSERVATIONS, platform_topics
from iotstream.log.types import TopicPartition
from iotstream.models import Observation, message_id

NAMES = st.text(min_size=1, max_size=12).filter(str.strip)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1), st.floats(allow_nan=False, allow_infinity=False)
)
TIMES = st.integers(min_value=0, max_value=253_402_300_799_999)


@given(st.lists(st.tuples(NAMES, TIMES, NUMBERS), min_size=1, max_size=30))
def test_message_ids_of_columns_are_the_ids_of_each_reading(readings: list[tuple[str, int, Any]]) -> None:
    names, times, values = (list(column) for column in zip(*readings, strict=True))
    assert columns.message_ids(names, times, values) == [message_id(*reading) for reading in readings]


@pytest.mark.parametrize(
    ("names", "times", "values"),
    [
        (["a", " "], [1, 2], [1.0, 2.0]),  # a blank name
        (["a", 7], [1, 2], [1.0, 2.0]),  # a name that is not text
        (["a", "b"], [1, -2], [1.0, 2.0]),  # before 1970
        (["a", "b"], [1, 2.5], [1.0, 2.0]),  # not whole milliseconds
        (["a", "b"], [1, 2], [1.0, math.nan]),
        (["a", "b"], [1, 2], [1.0, math.inf]),
        (["a", "b"], [1, 2], [1.0, 10**400]),  # beyond a float
        (
            ["a", "b"],
            [1, 2],
            [1, int(sys.float_info.max) + 2**960],
        ),  # as is this, though math.isfinite passes it
        (["a", "b"], [1, 2], [1.0, True]),  # booleans, text and objects go row by row
        (["a", "b"], [1, 2], [1.0, "2"]),
        (["a", "b"], [1, 2], [1.0]),  # columns of different lengths
        ([], [], []),
    ],
)
def test_columns_a_check_cannot_vouch_for_are_not_regular(
    names: list[Any], times: list[Any], values: list[Any]
) -> None:
    assert not columns.regular(names, times, values)


def test_regular_columns_pass() -> None:
    assert columns.regular(["a", "b", "a"], [0, 5, 253_402_300_799_999], [1, 2.5, -3])


def _taken(ingestor: Ingestor, submit: str, *args: Any) -> Any:
    acknowledged = threading.Event()
    result = getattr(ingestor, submit)(*args, lambda error: acknowledged.set())
    assert acknowledged.wait(10)
    return result


def _records(log: BaseLog) -> list[tuple[int, int, bytes | None, bytes | None, int]]:
    consumer = log.consumer()
    consumer.assign([TopicPartition(OBSERVATIONS, p) for p in range(4)])
    records = []
    while batch := consumer.poll(max_records=10_000, timeout_s=0.5):
        records += [(r.partition, r.offset, r.key, r.value, r.timestamp_ms) for r in batch]
    consumer.close()
    return sorted(records)


def _ingestor(log: BaseLog, **kwargs: Any) -> Ingestor:
    return Ingestor(log, IngestSettings(), clock=lambda: 1_700_000_000_000, **kwargs)


def test_columns_give_the_records_the_rows_give(tmp_path: Path) -> None:
    """Byte for byte, in the same partitions (four here) and order."""
    names = [f"meter-{i % 7}" for i in range(2_000)]
    times = [1_000 * (i // 7) for i in range(2_000)]
    values: list[Any] = [i * 0.25 if i % 3 else i for i in range(2_000)]
    stored = []
    for way, args in (
        ("submit_columns", (names, times, values)),
        ("submit_items", (columns.rows(names, times, values),)),
    ):
        with open_log(f"sqlite:///{tmp_path}/{way}.db", maintenance_interval_ms=0) as log:
            for spec in platform_topics(4):
                log.create_topic(spec, exist_ok=True)
            ingestor = _ingestor(log)
            result = _taken(ingestor, way, *args)
            assert (result.accepted, result.rejected) == (2_000, [])
            ingestor.close()
            stored.append(_records(log))
    assert stored[0] == stored[1]
    assert len(stored[0]) == 2_000


def test_columns_that_are_not_regular_are_judged_row_by_row_with_each_reason(log: BaseLog) -> None:
    ingestor = _ingestor(log)
    result = _taken(ingestor, "submit_columns", ["a", " ", "a"], [1, 2, -3], [1.0, 2.0, 3.0])
    assert result.accepted == 1
    assert [(r.position, r.error) for r in result.rejected] == [
        (1, "'datastream' must be a non-empty string"),
        (2, "'time' -3 is before 1970"),
    ]
    ingestor.close()


def test_columns_with_a_reading_the_store_refuses_are_judged_row_by_row(log: BaseLog) -> None:
    """The store refuses by time (older than raw retention): asked of each datastream's earliest and
    latest reading, and the whole batch goes row by row when it refuses one."""
    asked: list[list[tuple[str, int]]] = []

    def unstorable(readings: Sequence[Observation]) -> dict[int, str]:
        asked.append([(r.datastream, r.phenomenon_time_ms) for r in readings])
        return {i: "too old" for i, r in enumerate(readings) if r.phenomenon_time_ms < 100}

    ingestor = _ingestor(log, unstorable=unstorable)
    result = _taken(ingestor, "submit_columns", ["a", "b", "a", "b"], [500, 50, 100, 900], [1, 2, 3, 4])
    assert asked[0] == [("a", 100), ("a", 500), ("b", 50), ("b", 900)]
    assert (result.accepted, [(r.position, r.error) for r in result.rejected]) == (3, [(1, "too old")])
    ingestor.close()


def test_columns_naming_an_unknown_datastream_are_registered_as_rows_are(log: BaseLog) -> None:
    registered: list[list[str]] = []
    known = {"a"}
    ingestor = _ingestor(log, known=known.__contains__, register=registered.append)
    result = _taken(ingestor, "submit_columns", ["a", "new"], [1, 2], [1, 2])
    assert (result.accepted, registered) == (2, [["new"]])
    ingestor.close()


def test_time_spans_come_from_each_datastreams_extremes(log: BaseLog) -> None:
    seen: list[Observation] = []
    ingestor = _ingestor(log, observed=seen.extend)
    _taken(ingestor, "submit_columns", ["a", "b", "a", "a"], [30, 5, 10, 20], [1, 2, 3, 4])
    assert {(o.datastream, o.phenomenon_time_ms) for o in seen} == {("a", 10), ("a", 30), ("b", 5)}
    assert {o.result_time_ms for o in seen} == {1_700_000_000_000}
    ingestor.close()

"""The importer's resume point moves only over batches that were taken, in file order."""

import json
import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from iotstream.cli import importing
from iotstream.cli._bulk import BulkIngestError, Taken
from iotstream.cli.importing import ImportFailedError, _Batches
from iotstream.client.sending import SendError
from iotstream.ingest.columns import Encoded, encoded


class FlakySender:
    """Refuses its second batch; takes the others."""

    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []

    def send(self, readings: list[dict[str, Any]]) -> list[tuple[int, str]]:
        self.batches.append(readings)
        if len(self.batches) == 2:
            raise SendError("the platform went away")
        return []


def test_a_batch_after_one_that_was_not_taken_does_not_move_the_resume_point(tmp_path: Path) -> None:
    """The worker may already hold the next batch when one fails: it must not send it, nor record it."""
    file, progress = tmp_path / "history.csv", tmp_path / "history.csv.import-state"
    file.write_text("datastream,time,value\n")
    sender = FlakySender()
    batch = [{"datastream": "s", "time": 0, "value": 1}]
    batches = _Batches(sender, file, progress)  # type: ignore[arg-type]
    try:
        assert batches._deliver(batch, [10], 10)() == 1
        with pytest.raises(SendError):
            batches._deliver(batch, [20], 20)
        with pytest.raises(ImportFailedError):
            batches._deliver(batch, [30], 30)
    finally:
        batches.__exit__(None, None, None)
    assert json.loads(progress.read_text())["rows"] == 10  # resumed after row 10, batch 2 comes again
    assert len(sender.batches) == 2  # nothing was sent after the refused batch


class FlakyLog:
    """Queues every batch at once, as `BulkIngest.submit_columns` does; the log fails the second."""

    def __init__(self) -> None:
        self.submitted: list[list[str]] = []

    def submit_columns(self, datastreams: list[str], times: list[int], values: list[Any]) -> Taken:
        self.submitted.append(datastreams)
        failed = len(self.submitted) == 2

        def taken() -> list[tuple[int, str]]:
            if failed:
                raise BulkIngestError("the log did not take the readings: disk full")
            return [(1, "too old")]

        return taken


def test_columns_are_queued_before_the_last_batch_is_taken_and_only_taken_ones_move_the_resume_point(
    tmp_path: Path,
) -> None:
    """The next batch is queued while the log writes the last; a batch the log failed stops the import
    at the resume point before it, even though one after it was already queued."""
    file, progress = tmp_path / "history.parquet", tmp_path / "history.parquet.import-state"
    file.write_bytes(b"PAR1")
    log = FlakyLog()
    columns = (["s", "s"], [0, 1], [1.0, 2.0])
    batches = _Batches(log, file, progress)  # type: ignore[arg-type]
    try:
        first = batches._submit_columns(columns, 2)
        second = batches._submit_columns(columns, 4)
        assert len(log.submitted) == 2  # both queued before either was awaited
        assert first() == 1  # one of its two readings refused
        with pytest.raises(BulkIngestError):
            second()
        with pytest.raises(ImportFailedError):
            batches._submit_columns(columns, 6)
    finally:
        batches.__exit__(None, None, None)
    assert json.loads(progress.read_text())["rows"] == 2
    assert len(log.submitted) == 2


class EncodedLog:
    """Takes only batches a worker encoded."""

    def __init__(self) -> None:
        self.taken: list[tuple[list[str], Encoded | None]] = []

    def submit_encoded(
        self, datastreams: list[str], times: list[int], values: list[Any], encoded: Encoded | None
    ) -> Taken:
        self.taken.append((datastreams, encoded))
        return lambda: []

    def submit_columns(self, datastreams: list[str], times: list[int], values: list[Any]) -> Taken:
        raise AssertionError("a batch was encoded in this process")


def test_with_encoders_a_worker_process_encodes_each_batch_and_they_are_taken_in_file_order(
    tmp_path: Path,
) -> None:
    file, progress = tmp_path / "history.parquet", tmp_path / "history.parquet.import-state"
    file.write_bytes(b"PAR1")
    log = EncodedLog()
    sent = [([f"s{n}"] * 3, [0, 1, 2], [n, 1.5, math.nan if n == 4 else 2.0]) for n in range(8)]
    encoders = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
    with encoders, _Batches(log, file, progress, encoders, ahead=3) as batches:  # type: ignore[arg-type]
        for n, columns in enumerate(sent):
            batches.send_columns(columns, 3 * n + 3)
    assert [datastreams for datastreams, _ in log.taken] == [columns[0] for columns in sent]
    for (_, encoded_there), columns in zip(log.taken, sent, strict=True):
        if columns[2][2] != columns[2][2]:  # NaN: left for the row-by-row way
            assert encoded_there is None
            continue
        assert encoded_there == encoded(*columns, encoded_there.received_ms)  # type: ignore[union-attr]
    assert json.loads(progress.read_text())["rows"] == 24
    assert batches.sent == 24


class LogThatTakesRows(FlakyLog):
    def send(self, readings: list[dict[str, Any]]) -> list[tuple[int, str]]:
        return []


def test_rows_taken_while_earlier_columns_are_on_their_way_do_not_move_the_resume_point(
    tmp_path: Path,
) -> None:
    """Rows sent after a queued column batch are taken at once; the resume point moves past them only
    when the main thread finishes the batches in file order, and so never past the column batch the
    log then fails."""
    file, progress = tmp_path / "history.parquet", tmp_path / "history.parquet.import-state"
    file.write_bytes(b"PAR1")
    log = LogThatTakesRows()
    batches = _Batches(log, file, progress)  # type: ignore[arg-type]
    try:
        columns = batches._submit_columns((["s"], [0], [1.0]), 1)
        failing = batches._submit_columns((["s"], [1], [1.0]), 2)
        batches._deliver([{"datastream": "s", "time": 2, "value": 1}], [3], 3)
        assert not progress.exists()  # taken, not yet recorded
        assert columns() == 0  # its one reading refused as "too old"
        assert json.loads(progress.read_text())["rows"] == 1
        with pytest.raises(BulkIngestError):
            failing()
    finally:
        batches.__exit__(None, None, None)
    assert json.loads(progress.read_text())["rows"] == 1


def test_the_resume_point_is_written_at_most_once_a_while_and_when_the_import_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importing, "_SAVE_EVERY_S", 3600.0)
    file, progress = tmp_path / "history.csv", tmp_path / "history.csv.import-state"
    file.write_text("datastream,time,value\n")
    batch = [{"datastream": "s", "time": 0, "value": 1}]
    with _Batches(LogThatTakesRows(), file, progress) as batches:  # type: ignore[arg-type]
        for row in (10, 20, 30):
            batches._deliver(batch, [row], row)()
            assert json.loads(progress.read_text())["rows"] == 10  # the first, at once; then not for an hour
    assert json.loads(progress.read_text())["rows"] == 30


@pytest.mark.parametrize(("cpus", "workers"), [(1, 0), (2, 0), (4, 1), (8, 3), (64, 4)])
def test_by_default_workers_leave_half_the_cpus_to_the_platform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpus: int, workers: int
) -> None:
    monkeypatch.setattr(importing.os, "cpu_count", lambda: cpus)
    long, short = tmp_path / "long.parquet", tmp_path / "short.parquet"
    pq.write_table(pa.table({"time": list(range(importing.CHUNK_ROWS + 1))}), long)
    pq.write_table(pa.table({"time": list(range(importing.CHUNK_ROWS))}), short)
    assert importing._workers(long, None) == workers
    assert importing._workers(long, 2) == 2  # as asked
    assert importing._workers(short, None) == importing._workers(short, 2) == 0  # one batch: no overlap

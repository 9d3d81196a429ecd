"""The importer's resume point moves only over batches that were taken, in file order."""

import json
from pathlib import Path
from typing import Any

import pytest

from iotstream.cli._bulk import BulkIngestError, Taken
from iotstream.cli.importing import ImportFailedError, _Batches
from iotstream.client.sending import SendError


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

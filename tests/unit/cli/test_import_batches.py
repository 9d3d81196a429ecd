"""The importer's resume point moves only over batches that were taken, in file order."""

import json
from pathlib import Path
from typing import Any

import pytest

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
        assert batches._deliver(batch, [10], 10) == 1
        with pytest.raises(SendError):
            batches._deliver(batch, [20], 20)
        with pytest.raises(ImportFailedError):
            batches._deliver(batch, [30], 30)
    finally:
        batches.__exit__(None, None, None)
    assert json.loads(progress.read_text())["rows"] == 10  # resumed after row 10, batch 2 comes again
    assert len(sender.batches) == 2  # nothing was sent after the refused batch

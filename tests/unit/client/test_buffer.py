"""The disk buffer: oldest first, forgotten only once acknowledged, kept across a restart, and bounded
(by readings and by bytes) with the chosen policy when full."""

import logging
from pathlib import Path

import pytest

from iotstream.client.buffer import DEFAULT_FILE_NAME, DiskBuffer
from iotstream.client.exceptions import BufferFullError


def bodies(*values: int) -> list[bytes]:
    return [b'{"datastream":"s","time":%d,"value":%d}' % (value, value) for value in values]


def test_readings_come_back_oldest_first_and_go_only_when_acknowledged(tmp_path: Path) -> None:
    buffer = DiskBuffer(tmp_path / "b.sqlite3")
    buffer.append(bodies(1, 2))
    buffer.append(bodies(3))
    first = buffer.oldest(2)
    assert [r.body for r in first] == bodies(1, 2)
    assert [r.body for r in buffer.oldest(10)] == bodies(1, 2, 3)  # nothing taken until acknowledged
    buffer.ack(first[-1].seq)
    assert [r.body for r in buffer.oldest(10)] == bodies(3)
    assert (len(buffer), buffer.size_bytes) == (1, len(bodies(3)[0]))
    buffer.close()


def test_what_was_not_acknowledged_is_there_after_a_restart(tmp_path: Path) -> None:
    buffer = DiskBuffer(tmp_path / "device")  # a directory: the file goes inside
    buffer.append(bodies(1, 2, 3))
    buffer.ack(buffer.oldest(1)[0].seq)
    buffer.close()
    assert (tmp_path / "device" / DEFAULT_FILE_NAME).is_file()
    again = DiskBuffer(tmp_path / "device")
    assert [r.body for r in again.oldest(10)] == bodies(2, 3)
    assert len(again) == 2
    again.append(bodies(4))
    assert [r.body for r in again.oldest(10)] == bodies(2, 3, 4)  # new ones after the old
    again.close()


def test_a_full_buffer_drops_the_oldest_counts_them_and_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    buffer = DiskBuffer(tmp_path / "b.sqlite3", max_readings=3)
    with caplog.at_level(logging.WARNING, logger="iotstream.client.buffer"):
        buffer.append(bodies(1, 2))
        buffer.append(bodies(3, 4))
        buffer.append(bodies(5))
        buffer.append(bodies(6, 7, 8, 9))  # more than fits at all: the newest of them stay
    assert [r.body for r in buffer.oldest(10)] == bodies(7, 8, 9)
    assert buffer.dropped == 6
    assert len(buffer) == 3
    assert len(caplog.records) == 1
    assert "dropped the oldest 1 readings" in caplog.records[0].getMessage()
    buffer.close()


def test_the_bound_in_bytes_counts_too(tmp_path: Path) -> None:
    size = len(bodies(1)[0])
    buffer = DiskBuffer(tmp_path / "b.sqlite3", max_bytes=2 * size)
    buffer.append(bodies(1, 2, 3))
    assert [r.body for r in buffer.oldest(10)] == bodies(2, 3)
    assert (buffer.dropped, buffer.size_bytes) == (1, 2 * size)
    buffer.close()


def test_a_full_buffer_told_to_refuse_keeps_what_it_has(tmp_path: Path) -> None:
    buffer = DiskBuffer(tmp_path / "b.sqlite3", max_readings=2, on_full="error")
    buffer.append(bodies(1))
    with pytest.raises(BufferFullError, match=r"full \(1 readings.*2 readings refused"):
        buffer.append(bodies(2, 3))
    assert [r.body for r in buffer.oldest(10)] == bodies(1)  # none of the batch went in
    assert buffer.dropped == 0
    buffer.close()

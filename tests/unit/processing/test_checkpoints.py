"""Task checkpoints in the log, on a real SQLite log: what one process saves another restores, whole."""

import os
from pathlib import Path
from typing import Any

import msgspec
import pytest

from iotstream.log import BaseLog, open_log
from iotstream.log.exceptions import LogError
from iotstream.log.types import TopicPartition
from iotstream.processing.checkpoints import LogCheckpoints, checkpoints_topic
from iotstream.processing.exceptions import ProcessingError
from iotstream.processing.state import CheckpointStore


def _state(marker: int, size: int = 10) -> dict[str, Any]:
    return {"positions": {"observations/0": marker}, "operators": [{"blob": os.urandom(size), "n": marker}]}


def test_what_one_process_saves_another_restores(log: BaseLog) -> None:
    first = LogCheckpoints(log, "job")
    saved = {0: _state(1), 1: _state(2)}
    first.save(saved)
    first.close()
    other = LogCheckpoints(log, "job")  # another process, another machine: only the log is shared
    assert other.load([0, 1, 2]) == saved  # task 2 never had one
    other.close()


def test_a_state_larger_than_a_record_is_saved_in_chunks_and_the_latest_wins(log: BaseLog) -> None:
    checkpoints = LogCheckpoints(log, "job")
    big = _state(1, size=1_300_000)  # three chunks
    checkpoints.save({0: big})
    assert LogCheckpoints(log, "job").load([0]) == {0: big}
    small = _state(2)
    checkpoints.save({0: small})  # the other slot; the big one's chunks stay behind, unused
    assert LogCheckpoints(log, "job").load([0]) == {0: small}
    checkpoints.close()


def test_a_checkpoint_cut_short_by_a_crash_leaves_the_previous_one_whole(log: BaseLog) -> None:
    checkpoints = LogCheckpoints(log, "job")
    before = _state(1)
    checkpoints.save({0: before})
    with log.producer() as producer:  # the next checkpoint's chunk, and then the process died
        chunk = {"id": "cut-short", "data": msgspec.msgpack.encode(_state(2))}
        producer.produce(checkpoints_topic("job"), msgspec.msgpack.encode(chunk), b"0/1/0")
    assert LogCheckpoints(log, "job").load([0]) == {0: before}
    checkpoints.close()


def test_a_task_without_a_checkpoint_in_the_log_restores_the_file_of_earlier_versions(
    log: BaseLog, tmp_path: Path
) -> None:
    earlier = CheckpointStore(tmp_path / "job.db")
    old = _state(7)
    earlier.save({3: old})
    checkpoints = LogCheckpoints(log, "job", fallback=earlier)
    assert checkpoints.load([3]) == {3: old}
    newer = _state(8)
    checkpoints.save({3: newer})
    assert checkpoints.load([3]) == {3: newer}  # the log's, once it has one
    checkpoints.close()


def test_a_save_the_log_refuses_raises_and_leaves_the_last_checkpoint_to_restore(tmp_path: Path) -> None:
    with open_log(f"sqlite:///{tmp_path}/log.db", maintenance_interval_ms=0, max_record_bytes=2_000) as log:
        checkpoints = LogCheckpoints(log, "job")
        good = _state(1)
        checkpoints.save({0: good})
        with pytest.raises(LogError):
            checkpoints.save({0: _state(2, size=5_000)})  # a chunk larger than the log takes
        assert LogCheckpoints(log, "job").load([0]) == {0: good}
        newer = _state(3)
        checkpoints.save({0: newer})  # into the slot the failed one did not finish
        assert LogCheckpoints(log, "job").load([0]) == {0: newer}
        checkpoints.close()


def _part_keys(log: BaseLog) -> list[bytes]:
    """The part records in the topic, in the order written, tombstones included."""
    with log.consumer() as consumer:
        consumer.assign([TopicPartition(checkpoints_topic("job"), 0)])
        consumer.seek_to_beginning()
        records = consumer.poll(max_records=10_000, timeout_s=1)
    return [r.key for r in records if r.key and b"/part/" in r.key and r.value is not None]


def _with_parts(marker: int, write: dict[str, bytes], keep: list[str]) -> dict[str, Any]:
    return _state(marker) | {"parts": {"write": write, "keep": keep}}


def test_parts_are_written_once_kept_by_later_checkpoints_and_deleted_once_none_keeps_them(
    log: BaseLog,
) -> None:
    checkpoints = LogCheckpoints(log, "job")
    big = os.urandom(1_300_000)  # three chunks
    checkpoints.save({0: _with_parts(1, {"a": big}, ["a"])})
    checkpoints.save({0: _with_parts(2, {"b": b"bee"}, ["a", "b"])})
    restored = LogCheckpoints(log, "job").load([0])[0]
    assert restored["parts"] == {"data": {"a": big, "b": b"bee"}}
    assert restored["positions"] == {"observations/0": 2}  # and the state of the second checkpoint
    assert _part_keys(log).count(b"0/part/a/0") == 1  # not written again by the second checkpoint
    checkpoints.save({0: _with_parts(3, {}, ["b"])})
    checkpoints.save({0: _with_parts(4, {}, ["b"])})  # flushes the tombstones of "a"
    assert LogCheckpoints(log, "job").load([0])[0]["parts"] == {"data": {"b": b"bee"}}
    with log.consumer() as consumer:
        consumer.assign([TopicPartition(checkpoints_topic("job"), 0)])
        consumer.seek_to_beginning()
        tombstones = [r.key for r in consumer.poll(max_records=10_000, timeout_s=1) if r.value is None]
    assert sorted(tombstones) == [b"0/part/a/0", b"0/part/a/1", b"0/part/a/2"]
    checkpoints.close()


def test_a_state_keeping_a_part_never_written_is_refused(log: BaseLog) -> None:
    checkpoints = LogCheckpoints(log, "job")
    with pytest.raises(ProcessingError, match="never written"):
        checkpoints.save({0: _with_parts(1, {}, ["ghost"])})
    checkpoints.close()

"""SQLite-specific behaviour: failure of members, fencing, damaged or locked files, restarts."""

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from iotstream.log import TopicPartition, TopicSpec, open_log
from iotstream.log.exceptions import (
    CommitFailedError,
    InvalidRecordError,
    LogClosedError,
    LogCorruptError,
    LogError,
    LogLockedError,
    ProducerQueueFullError,
)
from iotstream.log.sqlite import SqliteLog, _write
from tests.contract.conftest import FAST
from tests.contract.helpers import consume, produce_acked


def _open(path: Path, **overrides: object) -> SqliteLog:
    log = open_log(f"sqlite:///{path}", **{"maintenance_interval_ms": 0, **FAST, **overrides})
    assert isinstance(log, SqliteLog)
    return log


def test_acknowledged_records_survive_a_restart(tmp_path: Path) -> None:
    with _open(tmp_path / "log.db") as log, log.producer() as producer:
        produce_acked(producer, "t", [b"a", b"b"])
    with _open(tmp_path / "log.db") as log:
        consumer = log.consumer()
        consumer.assign([TopicPartition("t", 0)])
        assert [r.value for r in consume(consumer, 2)] == [b"a", b"b"]
        consumer.close()


def test_a_member_that_stops_polling_loses_its_partitions_after_the_session_timeout(tmp_path: Path) -> None:
    with _open(tmp_path / "log.db", session_timeout_ms=300) as log:
        log.create_topic(TopicSpec("t", partitions=2))
        silent, survivor = log.consumer("g"), log.consumer("g")
        silent.subscribe(["t"])
        survivor.subscribe(["t"])
        deadline = time.monotonic() + 5
        while len(silent.assignment()) + len(survivor.assignment()) < 2 or len(survivor.assignment()) != 1:
            assert time.monotonic() < deadline
            silent.poll(timeout_s=0.01)
            survivor.poll(timeout_s=0.01)
        silent_partition = next(iter(silent.assignment()))
        silent.commit()
        while len(survivor.assignment()) < 2:  # `silent` never polls again: like a crashed process
            assert time.monotonic() < deadline, "the silent member was never expired"
            survivor.poll(timeout_s=0.05)
        with pytest.raises(CommitFailedError, match="reassigned"):
            silent.commit({silent_partition: 99})
        assert survivor.committed([silent_partition]) == {silent_partition: 0}
        silent.close()
        survivor.close()


def test_a_file_that_is_not_a_database_is_reported_as_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    path.write_bytes(b"this is not sqlite" * 1_000)
    with pytest.raises(LogCorruptError, match=r"log\.db is corrupt or not a database"):
        _open(path)


def test_another_apps_sqlite_database_is_not_taken_for_a_log(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as other:
        other.execute("CREATE TABLE users (id INTEGER)")
    other.close()
    with pytest.raises(LogCorruptError, match="not an iotstream log"):
        _open(path)


def test_a_log_locked_by_another_process_fails_clearly_after_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    with _open(path, busy_timeout_ms=200) as log:
        locker = sqlite3.connect(path, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        started = time.monotonic()
        with pytest.raises(LogLockedError, match="locked by another process"):
            log.create_topic(TopicSpec("blocked"))
        assert time.monotonic() - started < 2
        locker.execute("ROLLBACK")
        locker.close()
        log.create_topic(TopicSpec("blocked"))


def test_a_briefly_locked_log_delays_delivery_but_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    with _open(path, busy_timeout_ms=50, delivery_timeout_ms=5_000) as log:
        log.create_topic(TopicSpec("t"))
        locker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        locker.execute("BEGIN EXCLUSIVE")
        unlock = threading.Timer(0.3, lambda: locker.execute("ROLLBACK"))
        unlock.start()
        with log.producer() as producer:
            acks = produce_acked(producer, "t", [b"1", b"2", b"3"])
        unlock.join()
        locker.close()
    assert [a.offset for a in acks] == [0, 1, 2]


def test_a_log_locked_past_the_delivery_timeout_reports_the_error_to_each_record(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    with _open(path, busy_timeout_ms=20, delivery_timeout_ms=200) as log:
        log.create_topic(TopicSpec("t"))
        locker = sqlite3.connect(path, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        errors: list[Exception | None] = []
        with log.producer() as producer:
            for value in (b"1", b"2"):
                producer.produce("t", value, on_delivery=lambda err, _md: errors.append(err))
            producer.flush(5)
        locker.execute("ROLLBACK")
        locker.close()
        assert len(errors) == 2
        assert all(isinstance(e, LogLockedError) for e in errors)
        assert log.end_offsets([TopicPartition("t", 0)]) == {TopicPartition("t", 0): 0}


def test_a_full_producer_buffer_pushes_back_with_retry_after(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    with _open(path, buffer_max_bytes=1_000, max_block_ms=50, busy_timeout_ms=2_000) as log:
        log.create_topic(TopicSpec("t"))
        locker = sqlite3.connect(path, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")  # the writer stalls, so the buffer fills up
        with log.producer() as producer:

            def overfill() -> None:
                for _ in range(100):
                    producer.produce("t", b"x" * 100)

            with pytest.raises(ProducerQueueFullError, match="buffer full") as caught:
                overfill()
            assert caught.value.retry_after_s > 0
            locker.execute("ROLLBACK")
            locker.close()
            assert producer.flush(10) == 0


def test_producing_after_the_log_closed_is_refused(tmp_path: Path) -> None:
    log = _open(tmp_path / "log.db")
    producer = log.producer()
    log.close()
    with pytest.raises(LogClosedError):
        producer.produce("t", b"late")


def test_retention_keeps_what_a_protected_group_has_not_committed(tmp_path: Path) -> None:
    """An edge site's relay group: retention deletes what it relayed, never what it did not."""
    with _open(tmp_path / "log.db", keep_unread_by=["relay"], max_batch_bytes=64) as log:
        log.create_topic(TopicSpec("t", partitions=2, retention_ms=1))
        with log.producer() as producer:
            for partition in (0, 1):
                for i in range(6):
                    producer.produce("t", b"x" * 40, partition=partition, timestamp_ms=1_000 + i)
                    producer.flush()
        relay = log.consumer("relay")
        relay.assign([TopicPartition("t", 0)])
        relay.commit({TopicPartition("t", 0): 4})  # partition 1: read the topic, never committed it
        log.run_maintenance()
        bounds = log.describe_topic("t").partitions
        assert [(p.start_offset, p.end_offset) for p in bounds] == [(4, 6), (0, 6)]
        relay.close()
    with _open(tmp_path / "log.db") as log:  # unprotected: the same retention deletes everything
        log.run_maintenance()
        assert [p.start_offset for p in log.describe_topic("t").partitions] == [6, 6]


def test_one_commit_of_many_entries_splits_a_partition_into_rows_of_at_most_max_batch_bytes(
    tmp_path: Path,
) -> None:
    """Entries that fit are joined, an entry that does not is split record by record, and a record
    larger than the limit gets a row of its own; offsets follow the order everything was queued in."""
    with _open(tmp_path / "log.db", max_batch_bytes=100, linger_ms=300) as log:
        log.create_topic(TopicSpec("t", partitions=1))
        done: list[Exception | None] = []
        with log.producer() as producer:
            sent = [b"a%02d" % i + b"." * 27 for i in range(5)]  # five entries of 30 bytes
            for value in sent:
                producer.produce("t", value)
            many = [b"b%02d" % i + b"." * 27 for i in range(10)]  # one entry of 300 bytes
            producer.produce_many("t", many, [None] * 10, [1] * 10, done.append)
            big = b"c" * 250
            producer.produce("t", big)
            producer.produce("t", b"d" * 10)
            assert producer.flush(10) == 0
        assert done == [None]
        rows = sqlite3.connect(tmp_path / "log.db").execute(
            "SELECT base_offset, record_count, payload FROM batches ORDER BY base_offset"
        )
        counts = [count for _, count, _ in rows]
        assert counts == [3, 2, 3, 3, 3, 1, 1, 1]  # 90 + 60 | 90, 90, 90, 30 | 250 | 10
        consumer = log.consumer()
        consumer.assign([TopicPartition("t", 0)])
        records = consume(consumer, 17)
        consumer.close()
        assert [r.value for r in records] == [*sent, *many, big, b"d" * 10]
        assert [r.offset for r in records] == list(range(17))


def test_a_batch_with_a_timestamp_that_is_not_whole_ms_is_refused_and_answered(tmp_path: Path) -> None:
    with _open(tmp_path / "log.db") as log:
        log.create_topic(TopicSpec("t", partitions=1))
        answers: list[Exception | None] = []
        with log.producer() as producer:
            with pytest.raises(InvalidRecordError, match="timestamps must be whole ms"):
                producer.produce_many("t", [b"a"], [None], [1.5], answers.append)  # type: ignore[list-item]
            with pytest.raises(InvalidRecordError, match="the timestamp must be whole ms"):
                producer.produce("t", b"a", timestamp_ms=1.5)  # type: ignore[arg-type]
        assert [type(answer) for answer in answers] == [InvalidRecordError]


def test_a_write_that_fails_on_a_bug_answers_its_batch_with_an_error_and_the_writer_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unanswered, a batch would hold its producer (and an ingestor's pending count) forever."""

    def broken(records: object) -> bytes:
        raise TypeError("a bug")

    with _open(tmp_path / "log.db") as log:
        log.create_topic(TopicSpec("t", partitions=1))
        answers: list[Exception | None] = []
        with log.producer() as producer:
            monkeypatch.setattr(_write, "encode_batch", broken)
            producer.produce_many("t", [b"lost"], [None], [1], answers.append)
            assert producer.flush(10) == 0
            monkeypatch.undo()
            producer.produce_many("t", [b"kept"], [None], [2], answers.append)
            assert producer.flush(10) == 0
        assert [type(answer) for answer in answers] == [LogError, type(None)]
        consumer = log.consumer()
        consumer.assign([TopicPartition("t", 0)])
        assert [r.value for r in consume(consumer, 1)] == [b"kept"]
        consumer.close()

"""The storage sink role on a real log and real stores: batches, dead letters, a database restart."""

import threading
import time
from pathlib import Path

import msgspec
import pytest

from iotstream.log import BaseLog, TopicPartition, TopicSpec, open_log
from iotstream.models import Alert
from iotstream.storage import RetentionPolicy, RetentionSettings, open_storage
from iotstream.storage.postgres import PostgresStorage
from iotstream.storage.sink import SinkTopics, StorageSink
from iotstream.testing import FakeClock
from tests.servers import start_postgres

pytestmark = pytest.mark.slow
TOPICS = SinkTopics(aggregates=("aggregates.1m",))
EPOCH = RetentionPolicy(RetentionSettings(), FakeClock(0))  # the tests' 1970 times are within retention
MAY_2_2024 = FakeClock(1_714_608_000.0)  # storage's "now": the raw tier (7 days) starts on 2024-04-25


def _send(log: BaseLog, topic: str, documents: list[object], key: bytes = b"s1") -> None:
    with log.producer() as producer:
        for document in documents:
            body = document if isinstance(document, bytes) else msgspec.json.encode(document)
            producer.produce(topic, body, key)


def _drain(sink: StorageSink, expected: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while sink.stored + sink.rejected < expected:
        assert time.monotonic() < deadline, f"sink handled {sink.stored + sink.rejected} of {expected}"
        sink.step(timeout_s=0.2)


def test_the_sink_stores_every_kind_dead_letters_bad_records_and_replays_idempotently(tmp_path: Path) -> None:
    with open_log(f"sqlite:///{tmp_path}/log.db", maintenance_interval_ms=0) as log:
        for topic in ("observations", "aggregates.1m", "observations.late", "alerts"):
            log.create_topic(TopicSpec(topic))
        _send(
            log,
            "observations",
            [
                {"datastream": "s1", "time": "2024-05-01T10:00:00Z", "value": 21.5, "id": "m-1"},
                {"time": 1_714_557_660_000, "value": "open"},  # datastream from the key, id derived
                {"datastream": "s1", "time": "yesterday", "value": 1},
                b"{broken",
                {"datastream": "s1", "time": "2024-04-01T00:00:00Z", "value": 2.0},  # older than raw tier
            ],
        )
        _send(
            log,
            "aggregates.1m",
            [
                {
                    "key": "s1",
                    "window": "1m",
                    "start": 0,
                    "end": 60_000,
                    "revision": 1,
                    "count": 2,
                    "sum": 3.0,
                    "min": 1.0,
                    "max": 2.0,
                    "avg": 1.5,
                    "first": 1.0,
                    "last": 2.0,
                },
                {"key": "s1", "window": "1m"},
            ],
        )
        _send(
            log,
            "observations.late",
            [{"key": "s1", "time": 5_000, "value": 9.0, "late_by_ms": 70_000, "job": "j"}],
        )
        episode = {
            "rule": "hot",
            "datastream": "s1",
            "start": "2024-05-01T10:00:00Z",
            "last": 1_714_557_660_000,
        }
        _send(
            log,
            "alerts",
            [
                {**episode, "state": "open", "max": 30.0, "avg": 29.0, "threshold": 28.0},
                {
                    **episode,
                    "state": "closed",
                    "max": 31.0,
                    "avg": 29.5,
                    "threshold": 28.0,
                    "closed_at": 1_714_557_720_000,
                },
                {**episode, "state": "maybe"},
            ],
        )
        week = {"raw": "7d"}  # a raw tier configured: the reading of April is refused
        store = open_storage(f"duckdb:///{tmp_path}/store.duckdb", clock=MAY_2_2024, retention=week)
        sink = StorageSink(log, store, TOPICS)
        _drain(sink, expected=11)
        sink.close()
        assert (sink.stored, sink.rejected) == (6, 5)
        readings = store.raw("s1", 0, 2**62)
        assert [(o.result, o.id) for o in readings] == [(21.5, "m-1"), ("open", readings[1].id)]
        assert len(readings[1].id) == 24  # derived from datastream, time and value
        assert [(a.start_ms, a.avg, a.revision) for a in store.aggregates("s1", "1m", 0, 10**6)] == [
            (0, 1.5, 1)
        ]
        assert [(late.late_by_ms, late.job) for late in store.late("s1", 0, 10**6)] == [(70_000, "j")]
        reasons = _dead_letter_reasons(log)
        assert any("'yesterday' is not ISO-8601" in r for r in reasons)
        assert any(r.startswith("value is not JSON") for r in reasons)
        assert any(r.startswith("not a window result: KeyError") for r in reasons)
        assert any("before the raw retention horizon 2024-04-25T00:00:00.000Z" in r for r in reasons)
        assert "alert state must be 'open', 'closed' or 'retracted', got 'maybe'" in reasons
        assert store.alerts("s1") == [
            Alert(
                "hot",
                "s1",
                1_714_557_600_000,
                1_714_557_660_000,
                31.0,
                29.5,
                28.0,
                "closed",
                1_714_557_720_000,
                store.alerts()[0].updated_ms,
            )
        ]
        assert all(lag.lag == 0 for lag in log.group_lag("iotstream.storage"))

        replay = StorageSink(log, store, TOPICS, group_id="replay")
        _drain(replay, expected=11)
        replay.close()
        assert len(store.raw("s1", 0, 2**62)) == 2  # the same batch again stored nothing new
        store.close()


def test_readings_of_unknown_datastreams_are_dead_lettered_and_the_known_ones_stored(tmp_path: Path) -> None:
    with open_log(f"sqlite:///{tmp_path}/log.db", maintenance_interval_ms=0) as log:
        log.create_topic(TopicSpec("observations"))
        _send(
            log,
            "observations",
            [{"datastream": name, "time": 1_000, "value": 1.0} for name in ("s1", "ghost")],
        )
        store = open_storage(f"duckdb:///{tmp_path}/store.duckdb", clock=FakeClock(0))
        sink = StorageSink(log, store, TOPICS, is_known={"s1"}.__contains__)
        _drain(sink, expected=2)
        sink.close()
        assert list(store.latest()) == ["s1"]
        assert _dead_letter_reasons(log) == ["unknown datastream 'ghost': register it before sending data"]
        store.close()


def test_small_batches_linger_to_grow_and_full_ones_are_written_at_once(tmp_path: Path) -> None:
    """One reading per request made writes of a few readings, each costing a whole write's CPU."""
    with open_log(f"sqlite:///{tmp_path}/log.db", maintenance_interval_ms=0, linger_ms=0) as log:
        log.create_topic(TopicSpec("observations"))
        store = open_storage(f"duckdb:///{tmp_path}/store.duckdb", clock=FakeClock(0))
        sink = StorageSink(log, store, TOPICS, linger_ms=400)
        stop = threading.Event()
        runner = threading.Thread(target=sink.run, args=(stop,))
        runner.start()
        try:
            for i in range(20):  # one at a time for 200 ms
                _send(log, "observations", [{"datastream": "s1", "time": i, "value": 1.0}])
                time.sleep(0.01)
            _wait_stored(sink, 20)
            assert _writes(sink) <= 3  # the first reading alone, then what gathered (a write each)
            writes = _writes(sink)
            _send(
                log, "observations", [{"datastream": "s1", "time": 100 + i, "value": 1.0} for i in range(100)]
            )
            _wait_stored(sink, 120)
            sent = time.monotonic()
            _send(
                log, "observations", [{"datastream": "s1", "time": 200 + i, "value": 1.0} for i in range(100)]
            )
            _wait_stored(sink, 220)
            assert time.monotonic() - sent < 0.3  # polled right after a full batch, not 400 ms later
            assert _writes(sink) - writes == 2
        finally:
            stop.set()
            runner.join()
            store.close()


def _wait_stored(sink: StorageSink, count: int) -> None:
    deadline = time.monotonic() + 10
    while sink.stored < count:
        assert time.monotonic() < deadline, f"{sink.stored} of {count} stored"
        time.sleep(0.002)


def _writes(sink: StorageSink) -> int:
    return sum(sink.write_time.snapshot()["counts"])


def _dead_letter_reasons(log: BaseLog) -> list[str]:
    consumer = log.consumer()
    consumer.assign([TopicPartition("observations.deadletter", 0)])
    records = consumer.poll(max_records=100, timeout_s=1)
    consumer.close()
    return [dict(r.headers)["reason"].decode() for r in records]


@pytest.mark.crash
def test_the_sink_rides_out_a_database_restart_and_loses_nothing(tmp_path: Path) -> None:
    server, url = start_postgres()
    try:
        with open_log(f"sqlite:///{tmp_path}/log.db", maintenance_interval_ms=0) as log:
            log.create_topic(TopicSpec("observations", partitions=2))
            store = PostgresStorage(url, EPOCH, connect_timeout_s=1)
            sink = StorageSink(log, store, TOPICS, max_batch=200, max_backoff_s=0.5)
            stop = threading.Event()
            worker = threading.Thread(target=sink.run, args=(stop,))
            worker.start()
            for chunk in range(10):
                _send(
                    log,
                    "observations",
                    [
                        {"datastream": f"s{i % 5}", "time": chunk * 1_000 + i, "value": float(i)}
                        for i in range(500)
                    ],
                )
                if chunk == 4:
                    server.stop()  # the database goes away mid-stream ...
                    time.sleep(1.5)
                    server.start()  # ... and comes back
            deadline = time.monotonic() + 60
            while sink.stored < 5_000 and time.monotonic() < deadline:
                time.sleep(0.1)
            stop.set()
            worker.join(timeout=30)
            stored = sum(len(store.raw(f"s{k}", 0, 2**62, limit=10_000)) for k in range(5))
            store.close()
        assert sink.stored == 5_000
        assert stored == 5_000
    finally:
        server.cleanup()


@pytest.mark.crash
def test_the_sink_can_be_stopped_while_the_database_is_down_and_commits_nothing(tmp_path: Path) -> None:
    server, url = start_postgres()
    try:
        with open_log(f"sqlite:///{tmp_path}/log.db", maintenance_interval_ms=0) as log:
            log.create_topic(TopicSpec("observations"))
            store = PostgresStorage(url, EPOCH, connect_timeout_s=1)
            sink = StorageSink(log, store, TOPICS, max_backoff_s=0.2)
            server.stop()
            _send(log, "observations", [{"datastream": "s1", "time": 1_000, "value": 1.0}])
            stop = threading.Event()
            worker = threading.Thread(target=sink.run, args=(stop,))
            worker.start()
            time.sleep(1.5)  # retrying against the stopped database
            stop.set()
            worker.join(timeout=10)
            assert not worker.is_alive(), "the sink ignored the stop request during the outage"
            assert sink.stored == 0
            assert [lag.committed for lag in log.group_lag("iotstream.storage")] in ([], [None], [0])
    finally:
        server.cleanup()

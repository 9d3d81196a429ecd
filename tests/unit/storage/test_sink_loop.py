"""`StorageSink.run`: without a backlog it writes in its own thread at most every `linger_ms`; with one
it decodes the next batch while the writer thread stores the last. Either way every reading is stored
once and the offsets committed at the end are the log's end."""

import threading
import time
from pathlib import Path

import msgspec

from iotstream._latency import quantile_ms
from iotstream.log import BaseLog, TopicSpec, open_log
from iotstream.storage import open_storage
from iotstream.storage.sink import SinkTopics, StorageSink
from tests.contract.storage_reference import assert_store_holds

T0 = 1_767_225_600_000  # 2026-01-01
KEEP = {"raw": "36500d", "1m": "36500d", "1h": "36500d"}
TOPICS = SinkTopics(late=(), alerts=())


def _document(t: int) -> bytes:
    return msgspec.json.encode({"datastream": "s", "time": T0 + t, "value": float(t % 13), "id": f"r{t}"})


def _send(log: BaseLog, times: range, pause_s: float = 0.0) -> None:
    with log.producer() as producer:
        for t in times:
            producer.produce("observations", _document(t), b"s")
            if pause_s:
                producer.flush()
                time.sleep(pause_s)


def _run_until_stored(sink: StorageSink, count: int, timeout_s: float = 30) -> None:
    stop = threading.Event()
    worker = threading.Thread(target=sink.run, args=(stop,))
    worker.start()
    deadline = time.monotonic() + timeout_s
    while sink.stored < count and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    worker.join(timeout=30)
    assert not worker.is_alive()


def _check(log: BaseLog, store_path: Path, count: int) -> None:
    [lag] = log.group_lag("iotstream.storage")
    assert lag.committed == lag.end_offset == count
    store = open_storage(f"duckdb:///{store_path}", retention=KEEP)
    try:
        readings = store.raw("s", T0, T0 + count)
        expected = {("s", o.phenomenon_time_ms): o for o in readings}
        assert [o.phenomenon_time_ms - T0 for o in readings] == list(range(count))
        assert_store_holds(store, expected, ["s"], T0, T0 + count)
    finally:
        store.close()


def test_a_trickle_is_written_at_most_every_linger(tmp_path: Path) -> None:
    with open_log(f"sqlite:///{tmp_path}/log.db", maintenance_interval_ms=0) as log:
        log.create_topic(TopicSpec("observations"))
        store = open_storage(f"duckdb:///{tmp_path}/store.duckdb", retention=KEEP)
        sink = StorageSink(log, store, TOPICS, linger_ms=150)
        sender = threading.Thread(target=_send, args=(log, range(60), 0.01))
        started = time.monotonic()
        sender.start()
        _run_until_stored(sink, 60)
        sender.join()
        elapsed_s = time.monotonic() - started
        store.close()
        writes = sum(sink.write_time.snapshot()["counts"])
        assert 1 <= writes <= elapsed_s / 0.15 + 1
        assert sum(sink.latency.snapshot()["counts"]) == sink.stored == 60
        _check(log, tmp_path / "store.duckdb", 60)


def test_a_backlog_is_decoded_while_the_last_batch_is_written(tmp_path: Path) -> None:
    with open_log(f"sqlite:///{tmp_path}/log.db", maintenance_interval_ms=0) as log:
        log.create_topic(TopicSpec("observations"))
        _send(log, range(2_000))
        store = open_storage(f"duckdb:///{tmp_path}/store.duckdb", retention=KEEP)
        sink = StorageSink(log, store, TOPICS, max_batch=150)
        _run_until_stored(sink, 2_000)
        store.close()
        assert sum(sink.write_time.snapshot()["counts"]) == 14  # 13 full batches and the rest
        _check(log, tmp_path / "store.duckdb", 2_000)


def test_batches_of_a_busy_stream_do_not_linger(tmp_path: Path) -> None:
    """A write costs about the same for 1 reading as for 100: only small batches wait to grow."""

    errors: list[Exception | None] = []

    def send_in_bursts() -> None:
        # Each burst queued at once, so the log commits it whole: produced one by one, a loaded machine
        # may commit a burst in pieces, and a piece under 64 readings rightly lingers.
        with log.producer() as producer:
            for burst in range(10):
                times = range(burst * 100, burst * 100 + 100)
                values = [_document(t) for t in times]
                now_ms = [int(time.time() * 1000)] * 100  # accepted now: the latency is measured from here
                producer.produce_many("observations", values, [b"s"] * 100, now_ms, errors.append)
                producer.flush()
                time.sleep(0.05)

    with open_log(f"sqlite:///{tmp_path}/log.db", maintenance_interval_ms=0) as log:
        log.create_topic(TopicSpec("observations"))
        store = open_storage(f"duckdb:///{tmp_path}/store.duckdb", retention=KEEP)
        sink = StorageSink(log, store, TOPICS, linger_ms=2_000)
        sender = threading.Thread(target=send_in_bursts)
        sender.start()
        _run_until_stored(sink, 1_000)
        sender.join()
        store.close()
        assert errors == [None] * 10, errors
        assert quantile_ms(sink.latency.snapshot()["counts"], 0.99) < 1_000  # a linger would be 2,000
        _check(log, tmp_path / "store.duckdb", 1_000)

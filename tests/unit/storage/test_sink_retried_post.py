"""The reported bug's own path: a client posts the same readings twice (a retry after a lost answer),
the log holds both copies, and the storage sink's batches cut the second copy in two."""

from pathlib import Path

import msgspec

from iotstream.log import TopicSpec, open_log
from iotstream.storage import open_storage
from iotstream.storage.sink import SinkTopics, StorageSink
from iotstream.testing import FakeClock

T0 = 1_767_225_600_000  # 2026-01-01
POST = [{"datastream": "TH1", "time": T0 + i * 900_000, "value": float(i % 9)} for i in range(40)]


def test_a_post_sent_twice_is_stored_once_however_the_sink_batches_it(tmp_path: Path) -> None:
    with open_log(f"sqlite:///{tmp_path}/log.db", maintenance_interval_ms=0) as log:
        log.create_topic(TopicSpec("observations"))
        with log.producer() as producer:
            for document in POST + POST:  # the post, then the client's retry of it
                producer.produce("observations", msgspec.json.encode(document), b"TH1")
        store = open_storage(f"duckdb:///{tmp_path}/store.duckdb", clock=FakeClock(T0 / 1000))
        # 50 per batch: the post and 10 repeats (not unique), then the other 30 repeats
        sink = StorageSink(log, store, SinkTopics(late=(), alerts=()), max_batch=50)
        try:
            assert [sink.step(timeout_s=1.0) for _ in range(2)] == [50, 30]
            readings = store.raw("TH1", 0, 2**62)
            assert [o.phenomenon_time_ms for o in readings] == [d["time"] for d in POST]
            (day,) = store.buckets("1d", T0, T0 + 86_400_000)["TH1"]
            assert (day.count, day.sum) == (40, sum(i % 9 for i in range(40)))
        finally:
            sink.close()
            store.close()

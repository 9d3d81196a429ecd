"""Jobs on the real log: end to end, dead letters, SIGKILL recovery, and two processes sharing work."""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from iotstream.log import BaseLog, TopicPartition, TopicSpec, open_log
from iotstream.processing.checkpoints import LogCheckpoints
from iotstream.processing.job import Job
from iotstream.processing.runner import JobRunner
from iotstream.processing.task import Task
from iotstream.processing.windows import Tumbling
from iotstream.testing import run_job

CHILD = [sys.executable, str(Path(__file__).with_name("_job_child.py"))]
MIN = 60_000
pytestmark = pytest.mark.slow


def _readings(count: int, seed: int) -> list[tuple[str, float, int]]:
    """Sensor readings over ~2 hours, disordered by at most 4 s (the jobs allow 5 s)."""
    rng = random.Random(seed)
    base = 1_700_000_000_000 - 1_700_000_000_000 % MIN
    readings = [(f"sensor-{i % 40}", float(rng.randint(0, 100)), base + i * 400) for i in range(count)]
    return sorted(readings, key=lambda r: r[2] + rng.randint(0, 4_000))


def _produce(log: BaseLog, readings: list[tuple[str, float, int]], topic: str = "readings") -> None:
    with log.producer() as producer:
        for key, value, time_ms in readings:
            body = msgspec.json.encode({"datastream": key, "time": time_ms, "value": value})
            producer.produce(topic, body, key.encode(), timestamp_ms=time_ms)
        assert producer.flush(60) == 0


def _stored(log: BaseLog, topic: str) -> dict[str, dict[str, Any]]:
    """What an idempotent sink keeps: the latest value per output id."""
    partitions = log.describe_topic(topic).spec.partitions
    consumer = log.consumer()
    consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
    stored: dict[str, dict[str, Any]] = {}
    while records := consumer.poll(max_records=10_000, timeout_s=0.5):
        for record in records:
            stored[dict(record.headers)["id"].decode()] = msgspec.json.decode(record.value or b"")
    consumer.close()
    return stored


def _expected(job: Job, readings: list[tuple[str, float, int]]) -> dict[str, dict[str, Any]]:
    sink = run_job(job, readings, partitions=4, batch_size=500, finish=False)
    return {f"{job.name}/1m/{k}/{s}": doc for (k, s), doc in sink.latest("agg").items()}


def test_a_job_reads_the_log_and_writes_results_late_readings_and_dead_letters(tmp_path: Path) -> None:
    with open_log(f"sqlite:///{tmp_path}/log.db", maintenance_interval_ms=0) as log:
        log.create_topic(TopicSpec("readings", partitions=2))
        _produce(
            log,
            [
                ("s1", 1.0, 0),
                ("s1", 3.0, 30_000),
                ("s2", 5.0, 10_000),
                ("s1", 9.0, 3 * MIN),
                ("s2", 1.0, 3 * MIN),
            ],
        )
        job = Job("e2e", sources=["readings"]).window(Tumbling(MIN)).to("agg")
        runner = JobRunner(job, log, tmp_path / "state", checkpoint_interval_ms=50)
        _step_until(runner, events_in=5)
        with log.producer() as producer:  # after the watermark reached 3 min: window [0, 1 min) is final
            producer.produce("readings", b"{oops", b"s1", partition=0)
            producer.produce(
                "readings", msgspec.json.encode({"time": 1_000, "value": 7}), b"s1", timestamp_ms=1_000
            )
        _step_until(runner, events_in=7)
        stats = runner.stats()
        runner.close()
        results = {(d["key"], d["start"]): d for d in _stored(log, "agg").values()}
        assert (results[("s1", 0)]["avg"], results[("s2", 0)]["sum"]) == (2.0, 5.0)
        assert (stats["late"], stats["rejected"]) == (1, 1)
        assert stats["watermark_ms"] == 3 * MIN
        assert all(lag == 0 for lag in stats["lag"].values())
        late = _stored_raw(log, "observations.late")
        assert [(msgspec.json.decode(r.value)["value"], dict(r.headers)["job"]) for r in late] == [
            (7, b"e2e")
        ]
        (dead,) = _stored_raw(log, "observations.deadletter")
        assert dead.value == b"{oops"
        assert dict(dead.headers)["reason"].startswith(b"value is not JSON")


def _step_until(runner: JobRunner, events_in: int) -> None:
    deadline = time.monotonic() + 20
    while runner.events_in < events_in:
        assert time.monotonic() < deadline, "the job did not read its input"
        runner.step()


def _stored_raw(log: BaseLog, topic: str) -> list[Any]:
    consumer = log.consumer()
    consumer.assign([TopicPartition(topic, p) for p in range(log.describe_topic(topic).spec.partitions)])
    records = consumer.poll(max_records=1_000, timeout_s=1)
    consumer.close()
    return records


@pytest.mark.crash
def test_a_job_killed_at_random_moments_ends_with_the_uninterrupted_results(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/log.db"
    readings = _readings(24_000, seed=7)
    with open_log(url, maintenance_interval_ms=0) as log:
        log.create_topic(TopicSpec("readings", partitions=4))
        log.create_topic(TopicSpec("agg", partitions=4))
    feeder = threading.Thread(target=_feed, args=(url, readings))  # live input, ~2,000 readings/s
    feeder.start()
    rng, kills = random.Random(), 0
    while feeder.is_alive() or kills < 5:  # each process on a "machine" of its own: state in the log
        child = subprocess.Popen([*CHILD, url, str(tmp_path / f"state-{kills}"), "30", "200"])
        time.sleep(rng.uniform(0.6, 1.8))
        os.kill(child.pid, signal.SIGKILL)  # mid-stream: input is still arriving
        child.wait()
        kills += 1
    feeder.join()
    # Idle longer than the 3 s session timeout: the last killed member must expire before its partitions move.
    last = [*CHILD, url, str(tmp_path / "state-last"), "6", "200"]
    finished = subprocess.run(last, timeout=300, check=False)
    assert finished.returncode == 0
    with open_log(url, maintenance_interval_ms=0) as log:
        stored = _stored(log, "agg")
    expected = _expected(_child_job(), readings)
    assert len(expected) > 1_000
    assert stored == expected, f"after {kills} kills the results differ from an uninterrupted run"


def _feed(url: str, readings: list[tuple[str, float, int]]) -> None:
    with open_log(url, maintenance_interval_ms=0) as log:
        for start in range(0, len(readings), 200):
            _produce(log, readings[start : start + 200])
            time.sleep(0.1)


def test_two_job_processes_split_the_partitions_and_match_a_single_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/log.db"
    readings = _readings(8_000, seed=11)
    with open_log(url, maintenance_interval_ms=0) as log:
        log.create_topic(TopicSpec("readings", partitions=4))
        log.create_topic(TopicSpec("agg", partitions=4))
    workers = [subprocess.Popen([*CHILD, url, str(tmp_path / f"state-{n}"), "4", "500"]) for n in range(2)]
    try:
        _wait_for_two_owners(tmp_path / "log.db")
        with open_log(url, maintenance_interval_ms=0) as log:
            _produce(log, readings)
        for worker in workers:
            assert worker.wait(timeout=120) == 0
    finally:
        for worker in workers:  # never leave a worker behind, even when the test fails
            worker.kill()
            worker.wait()
    with open_log(url, maintenance_interval_ms=0) as log:
        stored = _stored(log, "agg")
    assert stored == _expected(_child_job(), readings)


def _child_job() -> Job:
    sys.path.insert(0, str(Path(__file__).parent))
    from _job_child import JOB  # type: ignore[import-not-found]

    return JOB  # type: ignore[no-any-return]


def _wait_for_two_owners(path: Path) -> None:
    deadline = time.monotonic() + 60
    query = "SELECT count(DISTINCT member_id) FROM group_owners WHERE group_id = 'iotstream.job.minutes'"
    while True:
        with sqlite3.connect(path) as db:
            owners = db.execute(query).fetchone()[0] if _has_groups(db) else 0
        db.close()
        if owners == 2:
            return
        assert time.monotonic() < deadline, "the two job processes never shared the partitions"
        time.sleep(0.05)


def _has_groups(db: sqlite3.Connection) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE name = 'group_owners'").fetchone() is not None


def test_a_job_joins_readings_with_a_compacted_registry_topic(tmp_path: Path) -> None:
    from iotstream.log import CleanupPolicy

    with open_log(f"sqlite:///{tmp_path}/log.db", maintenance_interval_ms=0) as log:
        log.create_topic(TopicSpec("registry.things", cleanup_policy=CleanupPolicy.COMPACT))
        log.create_topic(TopicSpec("readings"))
        with log.producer() as producer:
            producer.produce("registry.things", b'{"room": "cellar"}', b"boiler")
            producer.produce("registry.things", b'{"room": "kitchen"}', b"boiler")  # the latest row wins
        job = Job("rooms", sources=["readings"]).join_table(
            "registry.things", lambda v, row: {"v": v, **(row or {})}
        )
        runner = JobRunner(job.to("enriched"), log, tmp_path / "state", checkpoint_interval_ms=50)
        _produce(log, [("boiler", 71.5, 0), ("pump", 3.0, 1)])
        _step_until(runner, events_in=2)
        with log.producer() as producer:  # a registry change reaches the running job
            producer.produce("registry.things", b'{"room": "attic"}', b"boiler")
        _produce(log, [("boiler", 72.0, 2)])
        _step_until(runner, events_in=3)
        runner.close()
        rows = sorted((d["time"], d["key"], d["value"]) for d in _stored(log, "enriched").values())
    assert rows == [
        (0, "boiler", {"v": 71.5, "room": "kitchen"}),
        (1, "pump", {"v": 3.0}),
        (2, "boiler", {"v": 72.0, "room": "attic"}),
    ]


def test_a_task_restored_in_another_process_has_the_state_at_its_committed_offsets(tmp_path: Path) -> None:
    """The state hand-over alone: one process runs the job and stops; this process, with a state
    directory of its own, restores each task from the log, and finds exactly the state that folding
    in the records below the committed offsets gives."""
    url = f"sqlite:///{tmp_path}/log.db"
    with open_log(url, maintenance_interval_ms=0) as log:
        log.create_topic(TopicSpec("readings", partitions=2))
        log.create_topic(TopicSpec("agg", partitions=2))
        _produce(log, _readings(3_000, seed=5))
    ran = subprocess.run([*CHILD, url, str(tmp_path / "state-a"), "2", "200"], timeout=120, check=False)
    assert ran.returncode == 0
    job = _child_job()
    with open_log(url, maintenance_interval_ms=0) as log:
        consumer = log.consumer("iotstream.job.minutes")
        partitions = [TopicPartition("readings", p) for p in range(2)]
        committed = consumer.committed(partitions)
        consumer.close()
        restored = LogCheckpoints(log, job.name).load([0, 1])
        for tp in partitions:
            offset = committed[tp]
            assert offset is not None
            assert offset > 0
            reference = Task(job, tp.partition, {}, clock=time.monotonic)
            reference.process(_records_below(log, tp, offset))
            task = Task(job, tp.partition, {}, clock=time.monotonic)
            task.restore(restored[tp.partition])  # a checkpoint holds counted readings in parts
            assert _whole(task) == _whole(reference)


def _whole(task: Task) -> Any:
    return msgspec.msgpack.decode(msgspec.msgpack.encode(task.snapshot()))


def _records_below(log: BaseLog, partition: TopicPartition, offset: int) -> list[Any]:
    consumer = log.consumer()
    consumer.assign([partition])
    records: list[Any] = []
    while len(records) < offset and (batch := consumer.poll(max_records=10_000, timeout_s=1)):
        records += batch
    consumer.close()
    return [record for record in records if record.offset < offset]

"""The embedded log under real process crashes and real concurrent processes."""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from iotstream.log import TopicPartition, TopicSpec, open_log

CHILD = [sys.executable, str(Path(__file__).with_name("_log_child.py"))]
pytestmark = [pytest.mark.slow, pytest.mark.crash]


def _read_all(url: str) -> dict[tuple[int, int], bytes]:
    with open_log(url, maintenance_interval_ms=0) as log:
        partitions = log.describe_topic("shared").spec.partitions
        consumer = log.consumer()
        consumer.assign([TopicPartition("shared", p) for p in range(partitions)])
        stored: dict[tuple[int, int], bytes] = {}
        while records := consumer.poll(max_records=10_000, timeout_s=0.2):
            stored.update({(r.partition, r.offset): r.value or b"" for r in records})
        consumer.close()
    return stored


def test_every_acknowledged_record_survives_sigkill(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/log.db"
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    acknowledged: dict[tuple[int, int], bytes] = {}
    for run in range(6):
        ack_file = tmp_path / f"acks-{run}.txt"
        child = subprocess.Popen([*CHILD, "produce-forever", url, str(run * 10**8), str(ack_file)])
        deadline = time.monotonic() + 30
        while not (ack_file.exists() and ack_file.stat().st_size > 0):
            assert time.monotonic() < deadline, "the producer never acknowledged anything"
            time.sleep(0.01)
        time.sleep(rng.uniform(0.05, 1.0))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        lines = ack_file.read_text().split("\n")[:-1]  # a torn last line was never fully reported
        acknowledged.update({(int(p), int(o)): s.encode() for p, o, s in (line.split() for line in lines)})

        with sqlite3.connect(tmp_path / "log.db") as check:
            assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",), f"corrupt (seed {seed})"
        check.close()
        stored = _read_all(url)
        missing = {k: v for k, v in acknowledged.items() if stored.get(k) != v}
        assert not missing, f"run {run}: {len(missing)} acknowledged records lost (seed {seed})"
        values = list(stored.values())
        assert len(values) == len(set(values)), f"run {run}: duplicated records (seed {seed})"
    assert len(acknowledged) > 10_000, "too few records to mean anything"


def test_processes_share_one_log_file_without_loss_or_duplicates(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/log.db"
    with open_log(url, maintenance_interval_ms=0) as log:
        log.create_topic(TopicSpec("shared", partitions=4))
    consumers = [
        subprocess.Popen([*CHILD, "consume", url, "group", str(tmp_path / f"seen-{i}.txt"), "3"])
        for i in range(2)
    ]
    _wait_until_both_members_own_partitions(tmp_path / "log.db")
    producers = [subprocess.Popen([*CHILD, "produce", url, str(i * 10**6), "20000"]) for i in range(2)]
    try:
        for process in producers + consumers:
            assert process.wait(timeout=120) == 0
    finally:
        for process in producers + consumers:  # never leave a child behind, even when the test fails
            process.kill()
            process.wait()
    seen = [line for i in range(2) for line in (tmp_path / f"seen-{i}.txt").read_text().split()]
    expected = {str(i * 10**6 + n) for i in range(2) for n in range(20_000)}
    assert len(seen) == len(set(seen)), "a record was consumed twice"
    assert set(seen) == expected
    assert all((tmp_path / f"seen-{i}.txt").stat().st_size > 0 for i in range(2)), "the group did not share"
    with open_log(url, maintenance_interval_ms=0) as log:
        assert sum(lag.lag for lag in log.group_lag("group")) == 0


def _wait_until_both_members_own_partitions(path: Path) -> None:
    deadline = time.monotonic() + 60
    query = "SELECT count(DISTINCT member_id) FROM group_owners WHERE group_id = 'group'"
    while True:
        with sqlite3.connect(path) as db:
            owners = db.execute(query).fetchone()[0]
        db.close()
        if owners == 2:
            return
        assert time.monotonic() < deadline, "the two consumer processes never shared the partitions"
        time.sleep(0.05)

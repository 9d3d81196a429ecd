"""Contract: consumer groups share partitions, hand them over on rebalance and resume from commits."""

import time
from collections.abc import Callable

import pytest

from iotstream.log import BaseConsumer, BaseLog, Record, TopicPartition
from iotstream.log.exceptions import LogError
from tests.contract.helpers import consume


def _fill(log: BaseLog, topic: str, per_partition: int, partitions: int) -> None:
    with log.producer() as producer:
        for p in range(partitions):
            for i in range(per_partition):
                producer.produce(topic, f"{p}:{i}".encode(), partition=p)
        assert producer.flush(10) == 0


def _poll_until(
    consumers: list[BaseConsumer], done: Callable[[], bool], timeout_s: float = 60
) -> list[Record]:
    """Drive several members (as their own threads would) until `done()`; return what they read."""
    seen: list[Record] = []
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, "group did not settle in time"
        for consumer in consumers:
            seen.extend(consumer.poll(max_records=50, timeout_s=0.01))
    return seen


def test_commit_then_a_new_member_resumes_where_the_group_left_off(
    log: BaseLog, new_topic: Callable[..., str]
) -> None:
    topic = new_topic()
    _fill(log, topic, 10, 1)
    first = log.consumer("resume")
    first.subscribe([topic])
    assert [r.offset for r in consume(first, 4)] == [0, 1, 2, 3]
    first.commit()
    first.close()
    second = log.consumer("resume")
    second.subscribe([topic])
    assert [r.offset for r in consume(second, 6)] == [4, 5, 6, 7, 8, 9]
    assert second.committed([TopicPartition(topic, 0)]) == {TopicPartition(topic, 0): 4}
    second.close()


def test_two_members_split_four_partitions_and_the_survivor_takes_over(
    log: BaseLog, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=4)
    _fill(log, topic, 100, 4)
    a, b = log.consumer("split"), log.consumer("split")
    a.subscribe([topic])
    b.subscribe([topic])
    _poll_until([a, b], lambda: len(a.assignment()) == 2 and len(b.assignment()) == 2)
    assert a.assignment().isdisjoint(b.assignment())
    a.seek_to_beginning()
    b.seek_to_beginning()
    read_by_b = consume(b, 60)  # b reads part of its partitions, commits, then stops
    b.commit()
    committed_by_b = b.committed(b.assignment())
    b.close()
    rest = _poll_until([a], lambda: a.assignment() == {TopicPartition(topic, p) for p in range(4)})
    rest += consume(a, 400 - 60 - len(rest))
    seen = [(r.partition, r.offset) for r in read_by_b + rest]
    assert sorted(seen) == [(p, o) for p in range(4) for o in range(100)], "lost or duplicated records"
    for tp, committed in committed_by_b.items():
        first_read_by_a = min(r.offset for r in rest if r.partition == tp.partition)
        assert first_read_by_a == committed, f"{tp} resumed at {first_read_by_a}, committed {committed}"
    a.close()


def test_revoke_callback_commits_before_the_partition_moves(
    log: BaseLog, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=2)
    _fill(log, topic, 20, 2)
    a = log.consumer("handover")
    revoked: list[TopicPartition] = []

    def on_revoke(partitions: list[TopicPartition]) -> None:
        revoked.extend(partitions)
        a.commit({tp: a.position(tp) for tp in partitions})

    a.subscribe([topic], on_revoke=on_revoke)
    consume(a, 40)
    b = log.consumer("handover")
    b.subscribe([topic])
    _poll_until([a, b], lambda: len(b.assignment()) == 1)
    assert len(revoked) == 1
    assert b.committed(list(b.assignment())) == {revoked[0]: 20}
    assert b.poll(timeout_s=0.1) == []  # nothing read twice after the handover
    a.close()
    b.close()


def test_commit_without_a_group_is_refused(log: BaseLog, new_topic: Callable[..., str]) -> None:
    consumer = log.consumer()
    consumer.assign([TopicPartition(new_topic(), 0)])
    with pytest.raises(LogError, match="group_id"):
        consumer.commit()
    consumer.close()

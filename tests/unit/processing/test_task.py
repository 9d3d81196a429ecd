"""A task's shortcuts say what the general path says: readings decoded inline equal `codec.decode`, and
a window fed the decoded columns equals a window fed event tuples by a step before it. And a task skips
what the log redelivers after a restore, however the topics of a union interleave."""

from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from iotstream.log.types import Record
from iotstream.processing.aggregations import Stats
from iotstream.processing.codec import decode
from iotstream.processing.job import Job
from iotstream.processing.task import Task
from iotstream.processing.windows import Tumbling
from iotstream.testing import reading_record

MIN = 60_000
T0 = 1_700_000_000_000

_times = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from(["2024-01-01T00:00:00Z", "2024-01-01T00:00:00", "yesterday", 1.5, True, [1]]),
    st.none(),
)
_values = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["warm", True, None, [1], {"v": 1}]),
)
_documents = st.fixed_dictionaries(
    {},
    optional={
        "datastream": st.one_of(st.sampled_from(["a", "b", None]), st.integers(0, 9)),
        "time": _times,
        "phenomenonTime": st.sampled_from(["2024-01-01T00:00:00+02:00", "x", 5, None]),
        "value": _values,
        "unit": st.just("°C"),
    },
).map(msgspec.json.encode)
_bodies = st.one_of(_documents, st.sampled_from([None, b"", b"{not json", b"[]", b"1", b'{"value": 1}]']))
_record_parts = st.tuples(st.sampled_from([b"a", b"b", b"\xff", None]), _bodies, st.integers(0, 10**13))


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(_record_parts, max_size=30))
def test_readings_decoded_inline_equal_the_general_decoder(
    parts: list[tuple[bytes | None, bytes | None, int]],
) -> None:
    records = [
        Record("observations", 0, offset, timestamp_ms, key, body)
        for offset, (key, body, timestamp_ms) in enumerate(parts)
    ]
    task = Task(Job("j", sources=["observations"]).map(lambda v: v).to("out"), 0, {}, clock=lambda: 0.0)
    out, rejected = task.process(records)
    decoded = [(record, decode(record)) for record in records]
    assert [event for _, event in out.to_topics] == [e for _, e in decoded if not isinstance(e, str)]
    assert rejected == [(record, e) for record, e in decoded if isinstance(e, str)]


class _ReferenceStats(Stats):
    """Stats through the general path: only `Stats` itself is inlined, never a subclass."""


_readings = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.one_of(st.integers(-9, 9), st.floats(allow_nan=False, allow_infinity=False), st.just("warm")),
        st.integers(0, 40).map(lambda n: T0 + n * 15_000),  # so window ends and lateness limits get hit
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(
    readings=_readings,
    batch_sizes=st.lists(st.integers(1, 20), min_size=1),
    out_of_orderness_ms=st.sampled_from([0, 30_000]),
    lateness_ms=st.sampled_from([0, MIN]),
)
def test_a_window_first_in_the_job_equals_a_window_after_another_step(
    readings: list[tuple[str, Any, int]], batch_sizes: list[int], out_of_orderness_ms: int, lateness_ms: int
) -> None:
    job = Job("j", sources=["observations"], out_of_orderness_ms=out_of_orderness_ms)
    first = job.window(Tumbling(MIN), allowed_lateness_ms=lateness_ms).to("out")
    after = job.map(lambda v: v).window(Tumbling(MIN), _ReferenceStats(), allowed_lateness_ms=lateness_ms)
    said = [_said(Task(j, 0, {}, clock=lambda: 0.0), readings, batch_sizes) for j in (first, after.to("out"))]
    assert said[0] == said[1]


def _said(task: Task, readings: list[tuple[str, Any, int]], batch_sizes: list[int]) -> list[str]:
    """Everything the task produced and its window's state after each batch, as text."""
    records = [reading_record(k, v, t, offset=offset) for offset, (k, v, t) in enumerate(readings)]
    said, position, sizes = [], 0, iter(batch_sizes * len(records))
    while position < len(records):
        batch = records[position : position + next(sizes)]
        position += len(batch)
        out, rejected = task.process(batch)
        window_state = [state for state in task.snapshot()["operators"] if state is not None]
        said += [repr(out.to_topics), repr(out.late), repr(out.rejected), repr(rejected), repr(window_state)]
    return [*said, repr(task.finish())]


@settings(max_examples=200, deadline=None)
@given(
    topics=st.sampled_from([["observations"], ["meters", "weather"]]),
    picks=st.lists(st.tuples(st.integers(0, 1), st.integers(0, 3)), max_size=40),
    batches=st.lists(st.tuples(st.integers(1, 8), st.integers(0, 8)), min_size=1),
)
def test_records_redelivered_after_a_restore_are_not_counted_twice(
    topics: list[str], picks: list[tuple[int, int]], batches: list[tuple[int, int]]
) -> None:
    records: list[Record] = []
    offsets = dict.fromkeys(topics, 0)
    for topic_pick, key in picks:
        topic = topics[topic_pick % len(topics)]
        records.append(reading_record(f"k{key}", key, T0 + len(records), topic=topic, offset=offsets[topic]))
        offsets[topic] += 1
    job = Job("j", sources=topics).map(lambda v: v).to("out")
    once, task = Task(job, 0, {}, clock=lambda: 0.0), Task(job, 0, {}, clock=lambda: 0.0)
    position, sizes = 0, iter(batches * len(records))
    while position < len(records):
        size, replayed = next(sizes)
        restored = Task(job, 0, {}, clock=lambda: 0.0)
        restored.restore(msgspec.msgpack.decode(msgspec.msgpack.encode(task.snapshot())))
        task = restored
        batch = records[position : position + size]
        again = records[max(0, position - replayed) : position + size]  # the log resends from before
        assert task.process(again)[0].to_topics == once.process(batch)[0].to_topics
        assert task.positions == once.positions
        position += size

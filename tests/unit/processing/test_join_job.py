"""The join job: hand-listed pairs, every arrival order within the out-of-orderness, lateness,
idleness, restarts with repeated outputs, the datastream of pairs, and settings errors.

Both jobs of a join run on tasks here, the second fed with the first's records as the log carries them;
`oracle` is an independent brute-force definition of the pairs to compare with.
"""

import itertools
import re
from typing import Any

import hypothesis.strategies as st
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from pydantic import TypeAdapter, ValidationError

from iotstream.log.partitioner import partition_for
from iotstream.log.types import Record, TopicPartition
from iotstream.processing.codec import encode_event, event_id
from iotstream.processing.jobs import JobSettings, JoinSettings, build_jobs, internal_topics
from iotstream.processing.jobs.join import join_jobs
from iotstream.processing.task import Task
from iotstream.processing.windowing import Event, LateReading
from iotstream.testing import FakeClock, reading_record

Reading = tuple[str, Any, int]


def _canonical(value: Any) -> str:
    return msgspec.json.encode(value, order="sorted").decode()


def join(mode: str, **fields: Any) -> JoinSettings:
    """A join's settings, validated from a `[[jobs]]` table's fields."""
    return JoinSettings.model_validate(
        {"type": "join", "name": "j", "left": ["a*"], "right": ["b*"], "mode": mode, **fields}
    )


class Pipeline:
    """Both jobs of a join: the first on one task per partition of `observations`, the second on the
    one partition of the sides topic, fed the first's records in the order they were produced."""

    def __init__(self, spec: JoinSettings, partitions: int = 1) -> None:
        self.spec = spec
        self.clock = FakeClock(1_700_000_000.0)
        self.partitions = partitions
        self.offsets = [0] * partitions
        self.sides: list[Record] = []  # the sides topic, as the log keeps it
        self.pairs: list[Event] = []  # every pair emitted, repeats included
        self.readings: list[Event] = []  # readings of the join's datastream
        self.late: list[LateReading] = []
        self.rejected: list[str] = []
        self.start()

    def start(self, first: list[Any] | None = None, second: Any = None) -> None:
        """(Re)build the tasks as a new process would, restored from these snapshots, if any."""
        self.first_job, self.second_job = join_jobs(self.spec, self.clock)
        self.tasks = [
            Task(self.first_job, p, {}, self.clock, wall_clock=self.clock) for p in range(self.partitions)
        ]
        self.pairing = Task(self.second_job, 0, {}, self.clock, wall_clock=self.clock)
        for task, snapshot in zip(self.tasks, first or [], strict=False):
            task.restore(msgspec.msgpack.decode(snapshot))
        if second is not None:
            self.pairing.restore(msgspec.msgpack.decode(second))

    def snapshots(self) -> tuple[list[bytes], bytes]:
        encode = msgspec.msgpack.encode
        return [encode(task.snapshot()) for task in self.tasks], encode(self.pairing.snapshot())

    def send(self, readings: list[Reading]) -> None:
        by_partition: dict[int, list[Record]] = {}
        for key, value, time_ms in readings:
            p = partition_for(key.encode(), self.partitions)
            record = reading_record(key, value, time_ms, partition=p, offset=self.offsets[p])
            by_partition.setdefault(p, []).append(record)
            self.offsets[p] += 1
        for p, records in sorted(by_partition.items()):
            self._first(*self.tasks[p].process(records))

    def finish(self) -> None:
        """The input is over: the first job releases everything, then every datastream turns idle."""
        for task in self.tasks:
            self._first(task.finish(), [])
        self.idle()

    def idle(self) -> None:
        self.clock.advance(self.spec.idle_timeout / 1000 + 1)
        self._second(*self.pairing.process([]))

    def replay_sides(self, from_offset: int) -> None:
        """What the second job reads again after a restart from its checkpoint."""
        self._second(*self.pairing.process([r for r in self.sides if r.offset >= from_offset]))

    def _first(self, out: Any, rejected: list[tuple[Record, str]]) -> None:
        self.late += [late for _, late in out.late]
        self.rejected += [reason for _, reason in rejected] + [reason for _, reason in out.rejected]
        start = len(self.sides)
        for i, (_, event) in enumerate(e for e in out.to_topics if e[0] == self.spec.sides_topic):
            record = Record(
                self.spec.sides_topic, 0, start + i, event[2], event[0].encode(), encode_event(event)
            )
            self.sides.append(record)
        self._second(*self.pairing.process(self.sides[start:]))

    def _second(self, out: Any, rejected: list[tuple[Record, str]]) -> None:
        self.rejected += [reason for _, reason in rejected] + [reason for _, reason in out.rejected]
        self.pairs += [event for topic, event in out.to_topics if topic == self.spec.out_topic]
        self.readings += [event for topic, event in out.to_topics if topic == "observations"]

    def pair_set(self) -> set[str]:
        """The pairs as canonical JSON, asserting that none was emitted twice."""
        pairs = [_canonical(event[1]) for event in self.pairs]
        assert len(pairs) == len(set(pairs)), "a pair was emitted more than once"
        return set(pairs)


def run(spec: JoinSettings, arrivals: list[Reading], batch: int = 1, partitions: int = 1) -> Pipeline:
    pipeline = Pipeline(spec, partitions)
    for start in range(0, len(arrivals), batch):
        pipeline.send(arrivals[start : start + batch])
    pipeline.finish()
    return pipeline


def pair(left: Reading, right: Reading) -> str:
    def reading(r: Reading) -> dict[str, Any]:
        return {"datastream": r[0], "time": r[2], "value": r[1]}

    return _canonical({"left": reading(left), "right": reading(right)})


def oracle(spec: JoinSettings, readings: list[Reading]) -> set[str]:
    """Every pair of the mode, by brute force over all readings (identical readings count once)."""
    distinct = {(t, k, _canonical(v)): (k, v, t) for k, v, t in readings}
    lefts = [r for r in distinct.values() if spec.sides_of(r[0])[0]]
    rights = [r for r in distinct.values() if spec.sides_of(r[0])[1]]

    def nearest_times(others: list[Reading], x: Reading) -> set[int | None]:
        times = [o[2] for o in others if o != x]
        return {
            max((t for t in times if t <= x[2]), default=None),
            min((t for t in times if t >= x[2]), default=None),
        }

    def is_pair(left: Reading, right: Reading) -> bool:
        if spec.mode == "within":
            return abs(left[2] - right[2]) <= (spec.tolerance or 0)
        if spec.mode == "asof":
            return right[2] == max((r[2] for r in rights if r != left and r[2] <= left[2]), default=None)
        return right[2] in nearest_times(rights, left) or left[2] in nearest_times(lefts, right)

    return {pair(left, right) for left in lefts for right in rights if left != right and is_pair(left, right)}


# -- pairs listed by hand ----------------------------------------------------------------------------

A0, A10, A20 = ("a", 1, 0), ("a", 2, 10_000), ("a", 3, 20_000)
B3, B10, B25 = ("b", 4, 3_000), ("b", 5, 10_000), ("b", 6, 25_000)
TIES = [A0, B3, A10, B10, A20, B25]  # in time order: nothing is late


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        # a10 and b10 are each other's predecessor and successor: one pair; b3 pairs with a0 before
        # it and a10 after it; a20 with b10 before it and b25 after it.
        (join("neighbours"), [(A0, B3), (A10, B3), (A10, B10), (A20, B10), (A20, B25)]),
        (join("within", tolerance="5s"), [(A0, B3), (A10, B10), (A20, B25)]),
        (join("asof"), [(A10, B10), (A20, B10)]),  # a0 has no right reading at or before it
    ],
    ids=["neighbours", "within", "asof"],
)
def test_each_mode_gives_the_pairs_listed_by_hand(
    spec: JoinSettings, expected: list[tuple[Reading, Reading]]
) -> None:
    pipeline = run(spec, TIES)
    assert pipeline.pair_set() == {pair(left, right) for left, right in expected}
    assert pipeline.pair_set() == oracle(spec, TIES)
    assert pipeline.late == []
    assert pipeline.rejected == []


def test_a_datastream_in_both_streams_never_pairs_a_reading_with_itself() -> None:
    spec = join("neighbours", left=["t"], right=["t", "h"])
    t0, t10, h5 = ("t", 20.5, 0), ("t", 21.0, 10_000), ("h", 40, 5_000)
    pipeline = run(spec, [t0, h5, t10])
    assert pipeline.pair_set() == {pair(t0, h5), pair(t10, h5), pair(t0, t10), pair(t10, t0)}


def test_readings_at_the_same_time_all_pair_and_identical_readings_count_once() -> None:
    spec = join("asof", right=["b*", "c"])
    a5, b5, c5, b2 = ("a", 1, 5_000), ("b", 2, 5_000), ("c", 3, 5_000), ("b", 4, 2_000)
    pipeline = run(spec, [b2, a5, b5, c5, a5, ("c", 3, 5_000)])
    assert pipeline.pair_set() == {pair(a5, b5), pair(a5, c5)}  # b2 is not the latest
    (a_slice,) = [r.value or b"" for r in pipeline.sides if b'"datastream":"a"' in (r.value or b"")]
    assert msgspec.json.decode(a_slice)["value"]["values"] == [1]  # passed on once


def test_the_pairing_job_holds_a_value_repeated_within_one_slice_once() -> None:
    pipeline = Pipeline(join("within", tolerance=0))
    slices = [("a", [1, 1.0, 1]), ("b", [2])]  # 1 and 1.0 are different values
    for offset, (key, values) in enumerate(slices):
        event = ("j", {"datastream": key, "values": values, "seq": 1}, 5_000)
        pipeline.sides.append(Record(pipeline.spec.sides_topic, 0, offset, 5_000, b"j", encode_event(event)))
    pipeline.replay_sides(0)
    (state,) = pipeline.pairing.snapshot()["operators"][0].values()
    assert [entry[3] for entry in state["left"]] == [1, 1.0]
    pipeline.idle()
    assert len(pipeline.pairs) == 2


def test_a_pair_is_emitted_once_both_streams_are_past_its_later_reading() -> None:
    pipeline = Pipeline(join("neighbours"))
    pipeline.send([A0, B3, A10, B10])  # the watermark is 10 s: a0 and b3 are passed on
    assert pipeline.pairs == []  # but a only up to 0 s: a reading of a before 3 s may still come
    pipeline.send([A20])  # a10 and b10 passed on: every reading before 10 s is known
    assert pipeline.pair_set() == {pair(A0, B3)}
    pipeline.send([B25])  # a20 passed on, but b only up to 10 s
    assert pipeline.pair_set() == {pair(A0, B3)}
    pipeline.finish()  # b25 passed on: before 20 s is known; then both fall silent: everything is
    assert [(e[1]["left"]["time"], e[1]["right"]["time"]) for e in pipeline.pairs] == [
        (0, 3_000),
        (10_000, 3_000),
        (10_000, 10_000),
        (20_000, 10_000),
        (20_000, 25_000),
    ]
    assert all(
        e[0] == "j" and e[2] == max(e[1]["left"]["time"], e[1]["right"]["time"]) for e in pipeline.pairs
    )


# -- every arrival order ------------------------------------------------------------------------------

SMALL = [("a", 1, 0), ("b", 2, 1_000), ("a", 3, 1_000), ("b", 4, 4_000), ("a", 5, 6_000), ("b", 6, 6_500)]


@pytest.mark.parametrize(
    "spec",
    [join("neighbours"), join("within", tolerance="1s"), join("asof")],
    ids=["neighbours", "within", "asof"],
)
def test_every_arrival_order_gives_the_same_pairs_each_once(spec: JoinSettings) -> None:
    spec = spec.model_copy(update={"out_of_orderness": 6_500})  # every order is within it
    expected = oracle(spec, SMALL)
    assert len(expected) >= 2
    for order in itertools.permutations(SMALL):
        assert run(spec, list(order)).pair_set() == expected, order


NAMES = ["a", "a2", "b", "c", "ab"]  # a, a2 left; b, c right; ab both


@st.composite
def cases(draw: st.DrawFn) -> tuple[JoinSettings, list[Reading], int, int]:
    mode = draw(st.sampled_from(["neighbours", "within", "asof"]))
    out_of_orderness = draw(st.sampled_from([0, 2_000, 5_000, 10_000]))
    partitions = draw(st.sampled_from([1, 2]))
    spec = join(
        mode,
        left=["a*"],
        right=["b", "c", "ab"],
        tolerance=draw(st.sampled_from([0, 1_000, 3_000])) if mode == "within" else None,
        out_of_orderness=out_of_orderness,
    )
    # Two partitions: one datastream per stream, on different partitions; one partition: ties, repeats,
    # a datastream in both streams and datastreams that start late.
    names = ["a2", "b"] if partitions == 2 else NAMES
    readings = draw(
        st.lists(
            st.tuples(st.sampled_from(names), st.integers(0, 2), st.integers(0, 40).map(lambda t: t * 250)),
            min_size=3,
            max_size=18,
        )
    )
    jitters = draw(st.lists(st.integers(0, out_of_orderness), min_size=len(readings), max_size=len(readings)))
    # No reading arrives after one more than the out-of-orderness later than it.
    arrivals = [r for _, r in sorted(zip(jitters, readings, strict=True), key=lambda jr: jr[1][2] + jr[0])]
    return spec, arrivals, draw(st.integers(1, 6)), partitions


def test_the_two_datastreams_of_the_hypothesis_cases_are_on_different_partitions() -> None:
    assert partition_for(b"a2", 2) != partition_for(b"b", 2)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_any_arrival_within_the_out_of_orderness_gives_exactly_the_brute_force_pairs(
    case: tuple[JoinSettings, list[Reading], int, int],
) -> None:
    spec, arrivals, batch, partitions = case
    pipeline = run(spec, arrivals, batch, partitions)
    assert pipeline.pair_set() == oracle(spec, arrivals)
    assert pipeline.late == []
    assert pipeline.rejected == []


def test_a_partition_far_ahead_of_the_other_makes_nothing_late() -> None:
    """After an outage the first job catches up one partition after the other: the join waits for
    the slower one instead of taking its readings for late ones."""
    spec = join("asof")
    lefts = [("a2", i, i * 1_000) for i in range(0, 60, 3)]  # on the other partition than b
    rights = [("b", i, i * 1_000) for i in range(1, 60, 2)]
    pipeline = Pipeline(spec, partitions=2)
    pipeline.send(lefts)  # a whole minute of one partition before anything of the other
    pipeline.send(rights)
    pipeline.finish()
    assert pipeline.pair_set() == oracle(spec, lefts + rights)
    assert pipeline.late == []
    assert pipeline.rejected == []


# -- lateness -------------------------------------------------------------------------------------------


def test_late_readings_within_the_allowed_lateness_add_pairs_and_later_ones_go_to_the_late_output() -> None:
    pipeline = Pipeline(join("asof", allowed_lateness="7s"))
    pipeline.send([("a", 1, 0), ("b", 2, 1_000), ("a", 3, 10_000), ("b", 4, 11_000), ("a", 5, 12_000)])
    pipeline.send([("b", 8, 13_000), ("a", 9, 14_000)])
    a10_b1 = pair(("a", 3, 10_000), ("b", 2, 1_000))
    assert pipeline.pair_set() == {a10_b1}  # final: both streams were passed on beyond 10 s
    pipeline.send([("b", 6, 8_000)])  # the watermark is 14 s: 6 s late, within 7 s
    assert pipeline.pairs[-1][1] == msgspec.json.decode(pair(("a", 3, 10_000), ("b", 6, 8_000)))
    assert a10_b1 in pipeline.pair_set()  # emitted before the correction, it stays emitted
    pipeline.send([("b", 7, 6_000)])  # 8 s late: beyond the allowed lateness
    assert [(r.key, r.value, r.timestamp_ms, r.late_by_ms) for r in pipeline.late] == [("b", 7, 6_000, 8_000)]
    pipeline.finish()
    assert pair(("a", 3, 10_000), ("b", 7, 6_000)) not in pipeline.pair_set()
    assert pipeline.rejected == []


def test_a_late_neighbour_adds_its_pairs_and_the_pair_it_would_have_prevented_stays() -> None:
    pipeline = Pipeline(join("neighbours", allowed_lateness="20s"))
    a0, b5, b6 = ("a", 1, 0), ("b", 2, 5_000), ("b", 3, 6_000)
    pipeline.send([a0, b5, b6, ("a", 4, 20_000), ("b", 5, 21_000), ("a", 6, 22_000)])
    assert {pair(a0, b5), pair(a0, b6)} <= pipeline.pair_set()
    a55 = ("a", 7, 5_500)
    pipeline.send([a55])  # 16.5 s late, within 20 s: b6's predecessor, b5's successor now
    assert pipeline.pair_set() - oracle(pipeline.spec, [a0, b5, b6, a55, ("a", 4, 20_000)]) == {pair(a0, b6)}
    assert {pair(a55, b5), pair(a55, b6)} <= pipeline.pair_set()
    pipeline.finish()  # (a20, b5) was not final yet when a5.5 came: it is never emitted
    assert pair(("a", 4, 20_000), b5) not in pipeline.pair_set()


# -- idleness -------------------------------------------------------------------------------------------


def test_a_silent_datastream_stops_holding_the_join_back_and_its_readings_behind_it_are_dead_letters() -> (
    None
):
    """c1 is alone on its partition: when it falls silent, its last reading stays held by the first
    job until its next one, long after the join moved on without it."""
    spec = join("asof", right=["b", "c*"], idle_timeout="1m")
    pipeline = Pipeline(spec, partitions=2)
    pipeline.send([("c1", 0, 0), ("c1", 1, 1_000), ("b", 2, 500), ("a", 3, 1_500)])  # c1 passed on up to 0 s
    pipeline.send([("a", 4, 2_000), ("b", 5, 2_500), ("a", 6, 3_000), ("b", 7, 3_500)])
    assert pipeline.pairs == []  # every left is later than c1's 0 s
    pipeline.clock.advance(59)
    pipeline.send([("a", 8, 4_000), ("b", 9, 4_500)])
    assert pipeline.pairs == []
    pipeline.clock.advance(2)  # c1 has been silent for a minute: a and b alone hold the join back
    pipeline.send([("a", 10, 5_000), ("b", 11, 5_500)])
    assert pipeline.pair_set() == {
        pair(("a", 3, 1_500), ("b", 2, 500)),
        pair(("a", 4, 2_000), ("b", 2, 500)),
        pair(("a", 6, 3_000), ("b", 5, 2_500)),
        pair(("a", 8, 4_000), ("b", 7, 3_500)),
    }
    pipeline.send([("c1", 12, 6_000)])  # releases c1's reading of 1 s, long behind the frontier (4.5 s)
    assert len(pipeline.rejected) == 1
    assert re.search(
        r"c1 at 1000 reached the join after its frontier 4500 had passed it", pipeline.rejected[0]
    )
    assert pipeline.late == []


# -- restarts ---------------------------------------------------------------------------------------------


def _restart_readings() -> list[Reading]:
    """Two streams disordered by up to 1.2 s, one reading late within the allowed lateness, one beyond."""
    readings = [("a", i, i * 700) for i in range(0, 60, 3)] + [
        ("b", i, i * 700 + 300) for i in range(1, 60, 2)
    ]
    readings.sort(key=lambda r: r[2] + r[1] % 3 * 600)
    within = next(i for i, r in enumerate(readings) if r[2] >= 24_500)
    beyond = next(i for i, r in enumerate(readings) if r[2] >= 30_000)
    return [
        *readings[:within],
        ("a", 99, 20_000),
        *readings[within:beyond],
        ("b", 98, 10_000),
        *readings[beyond:],
    ]


def test_restarts_from_older_checkpoints_repeat_outputs_with_the_same_ids_and_no_other_pairs() -> None:
    """The first job restarts from an earlier checkpoint than the second: it passes on again what it
    passed on since, and the second reads its own input again from its checkpoint."""
    spec = join("neighbours", out_of_orderness="2s", allowed_lateness="3s")
    readings = _restart_readings()
    reference = run(spec, readings, batch=4)
    assert len(reference.late) == 1
    assert reference.pair_set() >= oracle(spec, [r for r in readings if r[1] != 98])
    pipeline = Pipeline(spec)
    checkpoints: list[tuple[list[bytes], bytes, int]] = []
    for start in range(0, len(readings), 4):
        pipeline.send(readings[start : start + 4])
        checkpoints.append((*pipeline.snapshots(), start + 4))
        if start in (20, 48, 72):
            first, _, sent = checkpoints[-4]  # the first job lost its last three checkpoints
            second = checkpoints[-2][1]  # the second job its last one
            pipeline.start(first, second)
            pipeline.replay_sides(pipeline.pairing.positions[TopicPartition(spec.sides_topic, 0)])
            pipeline.send(readings[sent : start + 4])
    pipeline.finish()
    assert len(pipeline.pairs) > len(reference.pairs)  # the restarts did repeat outputs
    assert {_canonical(e[1]) for e in pipeline.pairs} == reference.pair_set()
    ids = {event_id(pipeline.second_job.name, event): _canonical(event[1]) for event in pipeline.pairs}
    assert len(ids) == len(set(ids.values())) == len(reference.pairs)
    assert set(pipeline.late) == set(reference.late)
    assert pipeline.rejected == []


# -- the datastream of pairs -----------------------------------------------------------------------------


def test_the_pairs_are_also_readings_of_the_joins_datastream_all_pairs_of_a_time_in_one() -> None:
    spec = join("asof", datastream="joined/pairs", tenant="acme", allowed_lateness="7s")
    pipeline = Pipeline(spec)
    a5, a2_5, b1 = ("@acme/a", 1, 5_000), ("@acme/a2", 2, 5_000), ("@acme/b", 3, 1_000)
    pipeline.send([b1, a5, a2_5, ("@acme/b", 4, 6_000), ("@acme/a", 5, 7_000), ("@acme/b", 9, 8_000)])
    pipeline.send([("@acme/a2", 6, 9_000), ("@acme/b", 10, 9_500), ("@acme/a", 11, 10_000)])
    written = [(key, time_ms, len(value)) for key, value, time_ms in pipeline.readings]
    assert written[0] == ("@acme/joined/pairs", 5_000, 2)  # one reading for both pairs of 5 s
    assert pipeline.readings[0][1][0]["left"] == {"datastream": "a", "time": 5_000, "value": 1}
    pipeline.send([("@acme/b", 7, 4_000)])  # a correction: both lefts of 5 s now match b4 as well
    key, value, time_ms = pipeline.readings[-1]
    assert (key, time_ms, len(value)) == ("@acme/joined/pairs", 5_000, 4)  # the whole time, again
    assert {p["right"]["time"] for p in value} == {1_000, 4_000}


# -- settings -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"mode": "within"}, "join 'j': mode \"within\" needs `tolerance`, how far apart a pair may be"),
        ({"mode": "asof", "tolerance": "5s"}, "join 'j': `tolerance` is for mode \"within\" only"),
        ({"mode": "within", "tolerance": -1}, "join 'j': `tolerance` must not be negative"),
        ({"mode": "within", "tolerance": "5 parsecs"}, "'5 parsecs' is not a duration"),
        ({"mode": "nearest"}, "Input should be 'neighbours', 'within' or 'asof'"),
        ({"mode": "asof", "left": []}, "left\n  List should have at least 1 item"),
        (
            {"mode": "asof", "datastream": "b-joined"},
            "join 'j': its datastream 'b-joined' matches the right pattern 'b*', so the join would read",
        ),
        ({"mode": "asof", "datastream": "@x/y"}, "datastream names beginning with '@' are reserved"),
        ({"mode": "asof", "tenant": "Acme"}, "tenant name 'Acme' must be 1-63 lower-case letters"),
        ({"mode": "asof", "window": "1m"}, "window\n  Extra inputs are not permitted"),
    ],
)
def test_settings_errors_say_what_is_wrong(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        join(**fields)


def test_a_join_table_builds_both_jobs_and_asks_for_its_two_topics() -> None:
    table = {"type": "join", "name": "j", "tenant": "acme", "left": ["a"], "right": ["b"], "mode": "asof"}
    spec = TypeAdapter(JobSettings).validate_python(table)
    assert isinstance(spec, JoinSettings)
    assert [job.name for job in build_jobs([spec])] == ["acme.j", "acme.j.pairs"]
    assert internal_topics([spec]) == ["jobs.acme.j.sides", "jobs.acme.j.out"]

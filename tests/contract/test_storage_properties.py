"""Property: however appends, replays, corrections, repeats within a batch and deletions interleave,
every store holds each (datastream, time) once with the last value written (none once deleted), and
its rollups and latest values equal a recompute from those readings.

The steps are drawn first with placeholder datastreams ("a", "b", "c"); each example then gets names
of its own, so the examples share one store (a fresh PostgreSQL database per example would dominate
the run time) without seeing each other's readings.
"""

import uuid
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from iotstream.models import Observation
from iotstream.storage import BaseStorage
from tests.contract.storage_reference import Readings, assert_store_holds, remember

MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000
T0 = 30 * DAY + 23 * HOUR + 59 * MINUTE  # 1970-01-31T23:59: appends cross minutes, hours, days, a month
GAPS = (1, 999, 20_000, MINUTE, HOUR, DAY)  # how far an append lands after its datastream's newest
END = T0 + 8 * 12 * DAY + 1  # past the newest possible reading: 8 steps of 12 appends a day apart
NAMES = "abc"
VALUES = st.one_of(st.integers(-20, 20).map(float), st.just("off"))  # exact sums; text never rolls up


@dataclass(frozen=True)
class Step:
    batch: list[Observation]  # to write, or with `delete` the readings whose times to delete
    delete: bool
    check: bool  # compare the store with the recompute after this step (DuckDB: rollups catch up)


class _History:
    """What the drawn steps have written so far, to draw replays and corrections from."""

    def __init__(self) -> None:
        self.written: list[Observation] = []
        self.batches: list[list[Observation]] = []
        self.newest = dict.fromkeys(NAMES, T0)

    def append(self, draw: st.DrawFn) -> Observation:
        name = draw(st.sampled_from(NAMES))
        self.newest[name] += draw(st.sampled_from(GAPS))
        value = draw(VALUES)
        return Observation(name, self.newest[name], value, T0, f"{name}{self.newest[name]}={value}")

    def reading(self, draw: st.DrawFn, batch: list[Observation]) -> Observation:
        """A new reading, a repeat of one written before (or earlier in this batch), or a correction."""
        earlier = self.written + batch
        kind = draw(
            st.sampled_from(["append", "append", "repeat", "correct"]) if earlier else st.just("append")
        )
        if kind == "append":
            return self.append(draw)
        old = draw(st.sampled_from(earlier))
        if kind == "repeat":
            return old
        value = draw(VALUES)
        return replace(old, result=value, id=f"{old.datastream}{old.phenomenon_time_ms}={value}")

    def batch(self, draw: st.DrawFn) -> list[Observation]:
        """A batch of new readings, repeats and corrections, or a replay of (part of) an earlier batch."""
        if draw(st.booleans()) and self.batches:
            source = draw(st.sampled_from(self.batches))
            start = draw(st.integers(0, len(source) - 1))
            batch = source[start : draw(st.integers(start + 1, len(source)))]
        else:
            batch = []
            for _ in range(draw(st.integers(1, 12))):
                batch.append(self.reading(draw, batch))
        self.written += batch
        self.batches.append(batch)
        return batch

    def step(self, draw: st.DrawFn) -> Step:
        """A write, or now and then a deletion of readings written before (maybe deleted already)."""
        if self.written and draw(st.integers(0, 3)) == 0:
            doomed = draw(st.lists(st.sampled_from(self.written), min_size=1, max_size=4))
            return Step(doomed, delete=True, check=draw(st.booleans()))
        return Step(self.batch(draw), delete=False, check=draw(st.booleans()))


@st.composite
def histories(draw: st.DrawFn) -> list[Step]:
    history = _History()
    return [history.step(draw) for _ in range(draw(st.integers(1, 8)))]


def _apply(storage: BaseStorage, expected: Readings, step: Step, prefix: str) -> None:
    """Do the step on the store and on the expected readings."""
    batch = [replace(o, datastream=prefix + o.datastream) for o in step.batch]
    if not step.delete:
        assert storage.write_observations(batch) == []
        remember(expected, batch)
        return
    for datastream in {o.datastream for o in batch}:
        times = [o.phenomenon_time_ms for o in batch if o.datastream == datastream]
        stored = {t for t in times if expected.pop((datastream, t), None) is not None}
        assert storage.delete_observations(datastream, times) == len(stored)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # shared on purpose; see the docstring
)
@given(steps=histories())
def test_appends_replays_corrections_and_deletions_leave_one_exact_row_per_time(
    storage: BaseStorage, steps: list[Step]
) -> None:
    prefix = f"{uuid.uuid4().hex[:8]}-"
    names = [prefix + name for name in NAMES]
    expected: Readings = {}
    for step in steps:
        _apply(storage, expected, step, prefix)
        if step.check:
            assert_store_holds(storage, expected, names, 0, END)
    assert_store_holds(storage, expected, names, 0, END)

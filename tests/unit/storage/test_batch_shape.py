"""`shape_of` takes shortcuts for the usual batch (one datastream); it must say what the obvious
computation says for every batch."""

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from iotstream.models import Observation
from iotstream.storage.base import shape_of
from iotstream.storage.rollups import touched_minutes

READINGS = st.lists(
    st.builds(
        Observation,
        datastream=st.sampled_from(["a", "b", "c"]),
        phenomenon_time_ms=st.integers(0, 200_000),
        result=st.just(1.0),
        result_time_ms=st.just(0),
        id=st.just("x"),
    ),
    max_size=30,
)


@given(rows=READINGS | READINGS.map(lambda rows: [o for o in rows if o.datastream == "a"]))
def test_the_shape_is_what_the_obvious_computation_gives(rows: list[Observation]) -> None:
    shape = shape_of(rows)
    keys = [(o.datastream, o.phenomenon_time_ms) for o in rows]
    assert shape.unique == (len(set(keys)) == len(keys))
    assert sorted(shape.touched) == sorted(touched_minutes(keys))
    assert {name: Counter(times) for name, times in shape.times.items()} == {
        name: Counter(t for n, t in keys if n == name) for name in {n for n, _ in keys}
    }
    newest = {}  # the last of the datastream's readings at its newest time
    for position, (name, time_ms) in enumerate(keys):
        if name not in newest or time_ms >= keys[newest[name]][1]:
            newest[name] = position
    assert sorted(shape.newest) == sorted(newest.values())

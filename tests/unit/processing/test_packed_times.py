"""Counted times in compressed blocks behave as a sorted set: whatever is added, inserted or dropped."""

from array import array

from hypothesis import given, settings
from hypothesis import strategies as st

from iotstream.processing._packed_times import PackedTimes

OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.lists(st.integers(1, 30), min_size=1, max_size=20)),  # steps ahead
        st.tuples(st.just("insert"), st.lists(st.integers(0, 2_000), min_size=1, max_size=5)),
        st.tuples(st.just("drop"), st.lists(st.integers(0, 2_000), min_size=1, max_size=1)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(OPERATIONS)
def test_packed_times_are_the_sorted_set_of_what_was_kept(operations: list[tuple[str, list[int]]]) -> None:
    packed, model = PackedTimes(), set[int]()
    for what, numbers in operations:
        if what == "add":
            start = packed.last if packed else -1
            times = array("q", [start + sum(numbers[: i + 1]) for i in range(len(numbers))])
            packed.add(times)
            model |= set(times)
        elif what == "insert" and packed:
            for time_ms in (n % (packed.last + 1) for n in numbers):
                assert packed.insert(time_ms) == (time_ms not in model)
                model.add(time_ms)
        elif what == "drop":
            packed.drop_before(numbers[0])
            model = {t for t in model if t >= numbers[0]}
        assert list(packed.unpacked()) == sorted(model)
        assert packed.count == len(model)
        assert bool(packed) == bool(model)
        assert not packed or packed.last == max(model)


def test_a_steady_series_packs_into_a_few_bytes() -> None:
    packed = PackedTimes()
    for block in range(100):
        packed.add(array("q", range(block * 10_000, block * 10_000 + 10_000, 20)))
    assert packed.count == 50_000
    assert packed.nbytes < 50_000 // 4  # under a quarter of a byte a time; 400 kB as an array
    assert not packed.insert(123_460)
    assert packed.insert(123_461)
    assert not packed.insert(123_461)
    assert packed.count == 50_001

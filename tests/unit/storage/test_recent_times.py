"""`RecentTimes` tells a DuckDB write it needs no scan for readings it replaces. Saying "all new" for
a reading that may be stored would store it twice, so that answer must always be right; the other
may be wrong only once the tracker has forgotten (past its capacity, or what was stored before)."""

from hypothesis import given
from hypothesis import strategies as st

from iotstream.storage._recent import RecentTimes

NAMES = st.sampled_from("ab")
BATCH = st.dictionaries(NAMES, st.lists(st.integers(0, 60), min_size=1, max_size=6), min_size=1)


@given(
    newest=st.dictionaries(NAMES, st.integers(0, 40)),
    batches=st.lists(BATCH, max_size=12),
    capacity=st.integers(1, 30),
)
def test_all_new_only_when_no_time_was_stored_before(
    newest: dict[str, int], batches: list[dict[str, list[int]]], capacity: int
) -> None:
    """Before the tracker: anything up to `newest`; then every batch it was shown."""
    recent = RecentTimes(newest, capacity=capacity)
    stored = {(name, t) for name, top in newest.items() for t in range(top + 1)}
    for batch in batches:
        keys = {(name, t) for name, times in batch.items() for t in times}
        if recent.all_new(batch):
            assert not keys & stored
        stored |= keys


@given(batches=st.lists(BATCH, max_size=12))
def test_with_room_for_everything_it_is_exact(batches: list[dict[str, list[int]]]) -> None:
    recent = RecentTimes({}, capacity=10**6)
    stored: set[tuple[str, int]] = set()
    for batch in batches:
        keys = {(name, t) for name, times in batch.items() for t in times}
        assert recent.all_new(batch) == (not keys & stored)
        stored |= keys


def test_readings_sent_out_of_order_by_several_clients_are_all_new() -> None:
    """The end-to-end benchmark's shape: four clients, each posting every fourth millisecond."""
    recent = RecentTimes({"s": 999})
    posts = [[1_000 + k * 400 + client + 4 * i for i in range(100)] for k in range(5) for client in range(4)]
    order = [0, 2, 1, 3, 5, 4, 7, 6, 8, 10, 9, 11, 13, 12, 15, 14, 16, 18, 17, 19]  # overtaking posts
    assert all(recent.all_new({"s": posts[i]}) for i in order)
    assert not recent.all_new({"s": [1_000 + 3 * 400 + 2]})  # a repeat
    assert not recent.all_new({"s": [999]})  # stored before the tracker began


def test_forgetting_raises_the_floor_above_what_it_forgot() -> None:
    recent = RecentTimes({}, capacity=4)
    assert recent.all_new({"s": [10, 11, 12]})
    assert recent.all_new({"s": [20, 21, 22]})  # the first write is forgotten: times up to 12 are not known
    assert not recent.all_new({"s": [5]})
    assert recent.all_new({"t": [5]})  # another datastream's floor is its own
    assert recent.all_new({"s": [23]})

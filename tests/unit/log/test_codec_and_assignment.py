from hypothesis import given
from hypothesis import strategies as st

from iotstream.log.sqlite._codec import decode_batch, encode_batch
from iotstream.log.sqlite._groups import assign_partitions
from iotstream.log.types import TopicPartition

stored_records = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=2**40),
        st.integers(min_value=-(2**62), max_value=2**62),
        st.none() | st.binary(max_size=32),
        st.none() | st.binary(max_size=256),
        st.lists(st.tuples(st.text(max_size=8), st.binary(max_size=8)), max_size=3),
    ),
    max_size=50,
)


@given(stored_records, st.integers(min_value=0, max_value=2**40))
def test_a_batch_decodes_to_the_records_encoded(records: list, base_offset: int) -> None:  # type: ignore[type-arg]
    decoded = decode_batch(encode_batch(records), "t", 3, base_offset)
    assert [(r.offset - base_offset, r.timestamp_ms, r.key, r.value, list(r.headers)) for r in decoded] == [
        (d, ts, k, v, h) for d, ts, k, v, h in records
    ]
    assert all((r.topic, r.partition) == ("t", 3) for r in decoded)


@given(
    st.dictionaries(st.text(min_size=1, max_size=5), st.sets(st.sampled_from("abc"), min_size=1), max_size=6),
    st.dictionaries(st.sampled_from("abc"), st.integers(min_value=1, max_value=12)),
)
def test_every_partition_goes_to_exactly_one_subscribed_member(
    members: dict[str, set[str]], partitions: dict[str, int]
) -> None:
    assignment = assign_partitions({m: sorted(t) for m, t in members.items()}, partitions)
    owned = [tp for tps in assignment.values() for tp in tps]
    assert len(owned) == len(set(owned)), "a partition was given twice"
    subscribed = {t for topics in members.values() for t in topics}
    expected = {TopicPartition(t, p) for t, n in partitions.items() if t in subscribed for p in range(n)}
    assert set(owned) == expected
    for member, tps in assignment.items():
        assert all(tp.topic in members[member] for tp in tps)
        fair_share = {len(v) for v in assignment.values()}
        assert max(fair_share) - min(fair_share) <= sum(partitions.values())

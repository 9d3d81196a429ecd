from hypothesis import given
from hypothesis import strategies as st

from iotstream.log.partitioner import murmur2, partition_for

# Expected values from Apache Kafka's UtilsTest.testMurmur2.
KAFKA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


def test_murmur2_matches_kafka() -> None:
    assert {key: murmur2(key) for key in KAFKA_VECTORS} == KAFKA_VECTORS


@given(st.binary(max_size=64), st.integers(min_value=1, max_value=1_000))
def test_a_key_maps_to_one_valid_partition(key: bytes, partitions: int) -> None:
    partition = partition_for(key, partitions)
    assert 0 <= partition < partitions
    assert partition == (murmur2(key) & 0x7FFFFFFF) % partitions


def test_keyless_records_spread_over_all_partitions() -> None:
    assert {partition_for(None, 4) for _ in range(8)} == {0, 1, 2, 3}

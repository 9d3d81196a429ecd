"""Key → partition, identical to Kafka's default partitioner (murmur2), so every backend agrees.

A record keyed `"sensor-7"` lands in the same partition on the embedded log and on any Kafka cluster,
whether a Java, librdkafka (`partitioner=murmur2_random`) or iotstream client produced it.
"""

import itertools
from functools import lru_cache

__all__ = ["murmur2", "partition_for"]

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF
_SEED = 0x9747B28C
_round_robin = itertools.count()


def murmur2(data: bytes) -> int:
    """Kafka's 32-bit murmur2 hash (`org.apache.kafka.common.utils.Utils.murmur2`), as signed int."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    body = length - length % 4
    for i in range(0, body, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = data[body:]
    if len(tail) == 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h ^= tail[0]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


@lru_cache(maxsize=65_536)
def _keyed(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def partition_for(key: bytes | None, partitions: int) -> int:
    """The partition of `key`; keyless records are spread round-robin.

    >>> partition_for(b"sensor-7", 4) == partition_for(b"sensor-7", 4)
    True
    """
    if key is None:
        return next(_round_robin) % partitions
    return _keyed(key, partitions)

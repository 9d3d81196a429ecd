"""Reading what a running platform put on a topic, for tests that check its records."""

import time

from iotstream.embedded import EmbeddedPlatform
from iotstream.log.types import Record

__all__ = ["topic_records"]


def topic_records(platform: EmbeddedPlatform, topic: str, count: int, timeout_s: float = 20) -> list[Record]:
    """The topic's records from its start, until `count` arrived or `timeout_s` passed."""
    assert platform.log is not None
    got: list[Record] = []
    with platform.log.consumer(f"check-{time.monotonic_ns()}", auto_offset_reset="earliest") as consumer:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout_s
        while len(got) < count and time.monotonic() < deadline:
            got += consumer.poll(100, 0.2)
    return got

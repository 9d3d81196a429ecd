"""Merging chart buckets into at most N steps keeps every statistic exact."""

import math

from hypothesis import given
from hypothesis import strategies as st

from iotstream.models import Bucket
from iotstream.storage.rollups import affordable, coarsen

MINUTE = 60_000


@given(
    minutes=st.lists(st.integers(0, 3 * 24 * 60 - 1), unique=True, max_size=400).map(sorted),
    at_most=st.integers(1, 300),
)
def test_merged_buckets_are_exact_and_at_most_as_many_as_asked(minutes: list[int], at_most: int) -> None:
    start, end = 0, 3 * 24 * 60 * MINUTE
    buckets = [Bucket(m * MINUTE, 2, 2.0 * m, m - 1.0, m + 1.0, m - 0.5, m + 0.5) for m in minutes]
    merged = coarsen(buckets, start, end, at_most, MINUTE)
    if len(buckets) <= at_most:
        assert merged is buckets  # nothing to merge
        return
    assert len(merged) <= at_most
    assert sum(b.count for b in merged) == 2 * len(minutes)
    width = math.ceil(math.ceil(end / at_most) / MINUTE) * MINUTE  # span / at_most, up to whole minutes
    bounds = [b.start_ms for b in merged[1:]] + [end]
    for step, next_start in zip(merged, bounds, strict=True):
        members = [b for b in buckets if step.start_ms <= b.start_ms < next_start]
        assert step.start_ms % width == 0
        assert members[-1].start_ms < step.start_ms + width
        assert step.sum == sum(b.sum for b in members)
        assert (step.min, step.max) == (min(b.min for b in members), max(b.max for b in members))
        assert (step.first, step.last) == (members[0].first, members[-1].last)


def test_a_long_range_with_few_points_reads_a_coarser_tier() -> None:
    forever: dict[str, int | None] = {}
    day = 24 * 60 * MINUTE
    assert affordable("1m", 0, 30 * day, 10_000, forever) == "1h"  # 43,200 minutes > 10,000
    assert affordable("1m", 0, 3 * day, 10_000, forever) == "1m"  # 4,320 minutes are fine
    assert affordable("1m", 0, 3000 * day, 1_000, forever) == "1d"
    assert affordable("1m", 0, 30 * day, 10_000, {"1h": 1}) == "1m"  # the hours from 0 are gone
    assert affordable("raw", 0, 30 * day, 10, forever) == "raw"

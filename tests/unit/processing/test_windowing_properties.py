"""Properties: for any arrival order whose disorder stays within the out-of-orderness bound, the final
window results equal a batch computation over the sorted input; and the inlined tumbling `Stats` fold
says exactly what `Stats` through the general path says."""

from collections import defaultdict
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iotstream.processing.aggregations import Stats
from iotstream.processing.watermark import Watermarks
from iotstream.processing.windowing import WindowOperator
from iotstream.processing.windows import BaseWindows, Daily, Hopping, Sessions, Tumbling

OUT_OF_ORDERNESS_MS = 20_000
FINAL = 2**62


@st.composite
def readings(draw: st.DrawFn) -> tuple[list[tuple[str, int, int]], list[int], list[int]]:
    """Readings with distinct times per key, a jitter per reading, and batch sizes."""
    keys = draw(st.lists(st.sampled_from("abc"), min_size=1, max_size=60))
    times = draw(st.lists(st.integers(0, 400_000), min_size=len(keys), max_size=len(keys), unique=True))
    values = draw(st.lists(st.integers(-50, 50), min_size=len(keys), max_size=len(keys)))
    jitter = draw(st.lists(st.integers(0, OUT_OF_ORDERNESS_MS), min_size=len(keys), max_size=len(keys)))
    batches = draw(st.lists(st.integers(1, 10), min_size=1, max_size=60))
    return list(zip(keys, values, times, strict=True)), jitter, batches


def _streamed(windows: BaseWindows, events: list[tuple[str, int, int]], batches: list[int]) -> dict[Any, Any]:
    op = WindowOperator(windows)
    marks = Watermarks(OUT_OF_ORDERNESS_MS, idle_timeout_ms=10**9, clock=lambda: 0.0)
    final: dict[tuple[str, int], Any] = {}
    position, sizes = 0, iter(batches * 100)
    while position < len(events):
        batch = events[position : position + next(sizes)]
        position += len(batch)
        assert op.process(batch, marks.current()) == [], "disorder within the bound is never late"
        marks.observe(0, max(t for _, _, t in batch))
        for result in op.advance(marks.current()):
            final[(result.key, result.start_ms)] = result.value
    for result in op.advance(FINAL):
        final[(result.key, result.start_ms)] = result.value
    return final


def _batch(windows: BaseWindows, events: list[tuple[str, int, int]]) -> dict[Any, Any]:
    grouped: dict[tuple[str, int], list[tuple[int, int]]] = defaultdict(list)
    ordered = sorted(events, key=lambda e: e[2])
    if isinstance(windows, Sessions):
        current: dict[str, tuple[int, int]] = {}  # key → (session start, session end)
        for key, value, t in ordered:
            start, end = current.get(key, (t, t))
            if t >= end:
                start = t
            current[key] = (start, t + windows.gap_ms)
            grouped[(key, start)].append((t, value))
    else:
        for key, value, t in ordered:
            for window in windows.assign(t):
                grouped[(key, window.start_ms)].append((t, value))
    return {
        window_key: {
            "count": len(items),
            "sum": sum(v for _, v in items),
            "min": min(v for _, v in items),
            "max": max(v for _, v in items),
            "avg": sum(v for _, v in items) / len(items),
            "first": items[0][1],
            "last": items[-1][1],
        }
        for window_key, items in grouped.items()
    }


@pytest.mark.parametrize(
    "windows",
    [Tumbling(60_000), Hopping(60_000, 20_000), Sessions(gap_ms=15_000), Daily("America/New_York")],
    ids=["tumbling", "hopping", "sessions", "daily"],
)
@settings(max_examples=150, deadline=None)
@given(data=readings())
def test_streaming_equals_batch_over_sorted_input(
    windows: BaseWindows, data: tuple[list[tuple[str, int, int]], list[int], list[int]]
) -> None:
    events, jitter, batches = data
    # Arrival sorted by time + jitter (0..bound): every reading arrives at most `bound` behind the newest.
    arrival = [
        e
        for _, e in sorted(
            zip([t + j for (_, _, t), j in zip(events, jitter, strict=True)], events, strict=True)
        )
    ]
    assert _streamed(windows, arrival, batches) == _batch(windows, events)  # integer values: exact sums


class _ReferenceStats(Stats):
    """Stats through the general path: only `Stats` itself is inlined, never a subclass."""


@st.composite
def _steps(draw: st.DrawFn) -> list[tuple[list[tuple[str, Any, int]], int, bool]]:
    """Batches of readings (NaN and -0.0 among the values), each with a watermark step and whether to
    checkpoint and restore after it. A step may be negative: callers of the operator may pass any
    watermark, and a window purged earlier must not come back from the key's cached window."""
    value = st.one_of(st.integers(-5, 5), st.floats(allow_infinity=False), st.sampled_from([0.0, -0.0]))
    on_the_grid = st.integers(0, 800).map(lambda n: n * 500)  # every window boundary gets hit
    reading = st.tuples(st.sampled_from("abc"), value, st.one_of(on_the_grid, st.integers(0, 400_000)))
    step = st.tuples(
        st.lists(reading, max_size=12), st.integers(-400, 300).map(lambda n: n * 500), st.booleans()
    )
    return draw(st.lists(step, min_size=1, max_size=25))


def _run(op: WindowOperator, steps: list[tuple[list[tuple[str, Any, int]], int, bool]]) -> list[str]:
    """Everything the operator said, as text (repr tells NaN and -0.0 apart, which == would not)."""
    said, watermark = [], 0
    for batch, step, checkpoint in steps:
        said += [repr(op.process(batch, watermark)), repr(op.snapshot())]
        watermark += step
        said += [repr(op.advance(watermark)), repr(op.snapshot())]
        if checkpoint:
            op.restore(msgspec.msgpack.decode(msgspec.msgpack.encode(op.snapshot())))
    said.append(repr(op.advance(FINAL)))
    return said


@pytest.mark.parametrize(("size_ms", "lateness_ms"), [(60_000, 0), (60_000, 90_000), (1_000, 2_500)])
@settings(max_examples=200, deadline=None)
@given(steps=_steps())
def test_inlined_tumbling_stats_equal_stats_through_the_general_path(
    size_ms: int, lateness_ms: int, steps: list[tuple[list[tuple[str, Any, int]], int, bool]]
) -> None:
    inlined = WindowOperator(Tumbling(size_ms), Stats(), allowed_lateness_ms=lateness_ms)
    general = WindowOperator(Tumbling(size_ms), _ReferenceStats(), allowed_lateness_ms=lateness_ms)
    assert _run(inlined, steps) == _run(general, steps)

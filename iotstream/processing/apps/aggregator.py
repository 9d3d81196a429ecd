"""The aggregates of one windowed app, folded together in one accumulator per group and window.

`count`, `sum`, `min`, `max`, `avg`, `first` and `last` follow the built-in `Stats` exactly — the same
additions in the same order, first and last by event time with the same tie rule — so an app and the
built-in window job give equal results on equal input. As in SQL, an aggregate skips NULLs (and values
that are not numbers where it needs numbers); over nothing it is NULL, and `count` is 0.
"""

import math
from typing import Any

from iotstream.processing.aggregations import Aggregator
from iotstream.processing.apps.grouping import Aggregate

__all__ = ["AppAggregates"]

_NUMBER = (int, float)
Accumulator = list[Any]  # [group values, one state per aggregate]


class AppAggregates(Aggregator[Accumulator, tuple[list[Any], list[Any]]]):
    """An event's value is `(group values, argument values)`; the result is `(group values, results)`."""

    def __init__(self, aggregates: tuple[Aggregate, ...]) -> None:
        self._kinds = tuple(aggregate.kind for aggregate in aggregates)
        self._adds = tuple(enumerate(_ADD[kind] for kind in self._kinds))

    def init(self) -> Accumulator:
        return [None, [_INIT[kind]() for kind in self._kinds]]

    def add(self, acc: Accumulator, value: Any, timestamp_ms: int) -> Accumulator:
        group, arguments = value
        if acc[0] is None:
            acc[0] = list(group)
        states = acc[1]
        for index, add in self._adds:
            states[index] = add(states[index], arguments[index], timestamp_ms)
        return acc

    def merge(self, a: Accumulator, b: Accumulator) -> Accumulator:
        states = [_MERGE[kind](x, y) for kind, x, y in zip(self._kinds, a[1], b[1], strict=True)]
        return [a[0] if a[0] is not None else b[0], states]

    def result(self, acc: Accumulator) -> tuple[list[Any], list[Any]]:
        return acc[0] or [], [_RESULT[kind](state) for kind, state in zip(self._kinds, acc[1], strict=True)]


def _count(state: int, value: Any, _: int) -> int:
    return state if value is None else state + 1


def _sum(state: Any, value: Any, _: int) -> Any:
    if type(value) not in _NUMBER:
        return state
    return value if state is None else state + value


def _min(state: Any, value: Any, _: int) -> Any:
    if value is None or (state is not None and not _comparable(state, value)):
        return state
    return value if state is None or value < state else state


def _max(state: Any, value: Any, _: int) -> Any:
    if value is None or (state is not None and not _comparable(state, value)):
        return state
    return value if state is None or value > state else state


def _comparable(a: Any, b: Any) -> bool:
    return (type(a) in _NUMBER and type(b) in _NUMBER) or type(a) is type(b) is str


def _avg(state: list[Any], value: Any, _: int) -> list[Any]:
    if type(value) in _NUMBER:
        state[0] = value if state[1] == 0 else state[0] + value
        state[1] += 1
    return state


def _first(state: list[Any], value: Any, timestamp_ms: int) -> list[Any]:
    if value is not None and (state[0] is None or timestamp_ms < state[0]):
        state[0], state[1] = timestamp_ms, value
    return state


def _last(state: list[Any], value: Any, timestamp_ms: int) -> list[Any]:
    if value is not None and (state[0] is None or timestamp_ms >= state[0]):
        state[0], state[1] = timestamp_ms, value
    return state


def _welford(state: list[float], value: Any, _: int) -> list[float]:
    """Count, mean and the sum of squared deviations, updated without cancellation (Welford)."""
    if type(value) in _NUMBER:
        count = state[0] + 1
        delta = value - state[1]
        mean = state[1] + delta / count
        state[:] = [count, mean, state[2] + delta * (value - mean)]
    return state


def _merge_welford(a: list[float], b: list[float]) -> list[float]:
    count = a[0] + b[0]
    if count == 0:
        return [0, 0.0, 0.0]
    delta = b[1] - a[1]
    return [count, a[1] + delta * b[0] / count, a[2] + b[2] + delta * delta * a[0] * b[0] / count]


def _stddev(sample: bool) -> Any:
    def result(state: list[float]) -> float | None:
        count = state[0] - (1 if sample else 0)
        return math.sqrt(max(state[2], 0.0) / count) if count > 0 else None

    return result


def _by_time(earliest: bool) -> Any:
    def merge(a: list[Any], b: list[Any]) -> list[Any]:
        if a[0] is None or b[0] is None:
            return a if b[0] is None else b
        if earliest:
            return a if a[0] <= b[0] else b
        return b if b[0] >= a[0] else a

    return merge


def _merge_sum(a: Any, b: Any) -> Any:
    return a if b is None else b if a is None else a + b


def _merge_avg(a: list[Any], b: list[Any]) -> list[Any]:
    if b[1] == 0 or a[1] == 0:
        return list(a if b[1] == 0 else b)
    return [a[0] + b[0], a[1] + b[1]]


_INIT: dict[str, Any] = {
    "count": lambda: 0,
    "sum": lambda: None,
    "min": lambda: None,
    "max": lambda: None,
    "avg": lambda: [None, 0],
    "first": lambda: [None, None],
    "last": lambda: [None, None],
    "stddev": lambda: [0, 0.0, 0.0],
    "stddev_pop": lambda: [0, 0.0, 0.0],
}
_ADD: dict[str, Any] = {
    "count": _count,
    "sum": _sum,
    "min": _min,
    "max": _max,
    "avg": _avg,
    "first": _first,
    "last": _last,
    "stddev": _welford,
    "stddev_pop": _welford,
}
_MERGE: dict[str, Any] = {
    "count": lambda a, b: a + b,
    "sum": _merge_sum,
    "min": lambda a, b: b if a is None else a if b is None or not _comparable(a, b) or a <= b else b,
    "max": lambda a, b: b if a is None else a if b is None or not _comparable(a, b) or a >= b else b,
    "avg": _merge_avg,
    "first": _by_time(earliest=True),
    "last": _by_time(earliest=False),
    "stddev": _merge_welford,
    "stddev_pop": _merge_welford,
}
_RESULT: dict[str, Any] = {
    "count": lambda state: state,
    "sum": lambda state: state,
    "min": lambda state: state,
    "max": lambda state: state,
    "avg": lambda state: state[0] / state[1] if state[1] else None,
    "first": lambda state: state[1],
    "last": lambda state: state[1],
    "stddev": _stddev(sample=True),
    "stddev_pop": _stddev(sample=False),
}

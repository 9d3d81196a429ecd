"""How a window turns readings into a result.

`Stats` computes every built-in aggregation at once (count, sum, min, max, avg, first, last): a
window result row in storage carries all of them, and keeping one accumulator of eight numbers is
cheaper than running seven aggregators. First and last go by event time, not arrival.
For anything else, subclass `Aggregator` (init/add/merge/result); `merge` lets session windows join.
"""

from abc import ABC, abstractmethod
from typing import Any, Generic, TypeVar

__all__ = ["BUILTIN_AGGREGATIONS", "Aggregator", "Stats"]

A = TypeVar("A")
R = TypeVar("R")

BUILTIN_AGGREGATIONS = ("count", "sum", "min", "max", "avg", "first", "last")


class Aggregator(ABC, Generic[A, R]):
    """A user-defined aggregation.

    Example:
        >>> class Range(Aggregator[tuple[float, float], float]):
        ...     def init(self): return (float("inf"), float("-inf"))
        ...     def add(self, acc, value, timestamp_ms): return (min(acc[0], value), max(acc[1], value))
        ...     def merge(self, a, b): return (min(a[0], b[0]), max(a[1], b[1]))
        ...     def result(self, acc): return acc[1] - acc[0]
        >>> r = Range(); r.result(r.add(r.add(r.init(), 3, 0), 10, 1))
        7
    """

    @abstractmethod
    def init(self) -> A:
        """The accumulator of an empty window."""

    @abstractmethod
    def add(self, acc: A, value: Any, timestamp_ms: int) -> A:
        """Fold one reading in; may update `acc` in place and return it."""

    @abstractmethod
    def merge(self, a: A, b: A) -> A:
        """Combine two windows' accumulators (session windows that grow together)."""

    @abstractmethod
    def result(self, acc: A) -> R:
        """The value emitted for the window."""


# Stats accumulator slots; a plain list, because it is touched once per reading.
COUNT, SUM, MIN, MAX, FIRST_TS, FIRST, LAST_TS, LAST = range(8)


class Stats(Aggregator[list[Any], dict[str, Any]]):
    """count, sum, min, max, avg, first and last of numeric readings.

    >>> s = Stats(); acc = s.init()
    >>> for t, v in [(2, 5.0), (1, 3.0), (3, 4.0)]: acc = s.add(acc, v, t)
    >>> s.result(acc)
    {'count': 3, 'sum': 12.0, 'min': 3.0, 'max': 5.0, 'avg': 4.0, 'first': 3.0, 'last': 4.0}
    """

    def init(self) -> list[Any]:
        return [0, 0, None, None, None, None, None, None]

    def add(self, acc: list[Any], value: Any, timestamp_ms: int) -> list[Any]:
        # WindowOperator inlines this for tumbling windows (a call per reading costs more than the
        # work): a change here must be made there too; a property test compares the two.
        if acc[COUNT] == 0:
            acc[:] = [1, value, value, value, timestamp_ms, value, timestamp_ms, value]
            return acc
        acc[COUNT] += 1
        acc[SUM] += value
        if value < acc[MIN]:
            acc[MIN] = value
        if value > acc[MAX]:
            acc[MAX] = value
        if timestamp_ms < acc[FIRST_TS]:
            acc[FIRST_TS], acc[FIRST] = timestamp_ms, value
        if timestamp_ms >= acc[LAST_TS]:
            acc[LAST_TS], acc[LAST] = timestamp_ms, value
        return acc

    def merge(self, a: list[Any], b: list[Any]) -> list[Any]:
        if a[COUNT] == 0 or b[COUNT] == 0:
            return list(b if a[COUNT] == 0 else a)
        first = a if a[FIRST_TS] <= b[FIRST_TS] else b
        last = b if b[LAST_TS] >= a[LAST_TS] else a
        return [
            a[COUNT] + b[COUNT],
            a[SUM] + b[SUM],
            min(a[MIN], b[MIN]),
            max(a[MAX], b[MAX]),
            first[FIRST_TS],
            first[FIRST],
            last[LAST_TS],
            last[LAST],
        ]

    def result(self, acc: list[Any]) -> dict[str, Any]:
        count = acc[COUNT]
        return {
            "count": count,
            "sum": acc[SUM],
            "min": acc[MIN],
            "max": acc[MAX],
            "avg": acc[SUM] / count if count else None,
            "first": acc[FIRST],
            "last": acc[LAST],
        }

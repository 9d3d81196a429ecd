"""The pairing job of a join (see `join`): the readings of both streams that may still pair, held
sorted by (time, stream key, canonical value), and the three ways of pairing them.
"""

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import Any, Protocol

import msgspec

from iotstream.processing.windowing import Event
from iotstream.registry.access.principal import owner_of

__all__ = ["Join", "canonical", "pairing"]

_Entry = list[Any]  # a held reading: [time ms, stream key, canonical JSON of the value, value]
_TIME = itemgetter(0)
_NO_BOUND = float("inf")


def canonical(value: Any) -> str:
    """A value's identity: JSON with sorted keys (1, 1.0 and true stay apart)."""
    return msgspec.json.encode(value, order="sorted").decode()


# -- the entries of one stream, sorted by (time, stream key, canonical value) ----------------------------


def _before(entries: list[_Entry], time_ms: int, skip: _Entry) -> int | None:
    """The latest time at or before `time_ms` of an entry other than `skip`."""
    i = bisect_right(entries, time_ms, key=_TIME)
    while i:
        i -= 1
        if entries[i][:3] != skip[:3]:
            return int(entries[i][0])
    return None


def _after(entries: list[_Entry], time_ms: int, skip: _Entry) -> int | None:
    """The earliest time at or after `time_ms` of an entry other than `skip`."""
    i = bisect_left(entries, time_ms, key=_TIME)
    while i < len(entries):
        if entries[i][:3] != skip[:3]:
            return int(entries[i][0])
        i += 1
    return None


def _between(entries: list[_Entry], low: float, high: float) -> list[_Entry]:
    """The entries from `low` to `high`, both included."""
    return entries[bisect_left(entries, low, key=_TIME) : bisect_right(entries, high, key=_TIME)]


def _before_bound(entries: list[_Entry], low: float, high: int) -> list[_Entry]:
    """The entries from `low` (included) to `high` (excluded)."""
    return entries[bisect_left(entries, low, key=_TIME) : bisect_left(entries, high, key=_TIME)]


def _latest_below(entries: list[_Entry], time_ms: int) -> int | None:
    i = bisect_left(entries, time_ms, key=_TIME)
    return int(entries[i - 1][0]) if i else None


def _next_after(entries: list[_Entry], time_ms: int) -> float:
    i = bisect_right(entries, time_ms, key=_TIME)
    return int(entries[i][0]) if i < len(entries) else _NO_BOUND


class _Pairing(Protocol):
    def span(self, x: _Entry, mine: list[_Entry], other: list[_Entry], is_left: bool) -> tuple[float, float]:
        """From when to when (both included) entries of `other` may pair with `x` (of `mine`): a
        superset, `valid` decides."""

    def valid(self, left: _Entry, right: _Entry, lefts: list[_Entry], rights: list[_Entry]) -> bool:
        """Whether (left, right) is a pair among these entries."""

    def cuts(self, lefts: list[_Entry], rights: list[_Entry], horizon: int) -> tuple[float, float]:
        """Below which times the entries of each stream can pair with no reading at `horizon` or later."""


class _Neighbours:
    def span(self, x: _Entry, mine: list[_Entry], other: list[_Entry], is_left: bool) -> tuple[float, float]:
        # x's own neighbours, and the readings of `other` whose neighbour x is: those between x's
        # previous and next reading in its own stream (all before it when it is the first).
        time_ms = x[0]
        before, after = _before(other, time_ms, x), _after(other, time_ms, x)
        previous = _latest_below(mine, time_ms)
        low = -_NO_BOUND if previous is None else previous
        high = _next_after(mine, time_ms)
        low = low if before is None else min(low, before)
        high = high if after is None else max(high, after)
        return low, high

    def valid(self, left: _Entry, right: _Entry, lefts: list[_Entry], rights: list[_Entry]) -> bool:
        if left[:3] == right[:3]:
            return False
        tl, tr = left[0], right[0]
        return tr in (_before(rights, tl, left), _after(rights, tl, left)) or tl in (
            _before(lefts, tr, right),
            _after(lefts, tr, right),
        )

    def cuts(self, lefts: list[_Entry], rights: list[_Entry], horizon: int) -> tuple[float, float]:
        # An entry pairs with a later reading only as its predecessor (none of its stream in between)
        # or as the reading it succeeds (none of the other stream in between).
        last_left, last_right = _latest_below(lefts, horizon), _latest_below(rights, horizon)
        if last_left is None or last_right is None:
            return -_NO_BOUND, -_NO_BOUND
        cut = min(last_left, last_right)
        return cut, cut


class _Within:
    def __init__(self, tolerance_ms: int) -> None:
        self._tolerance = tolerance_ms

    def span(self, x: _Entry, mine: list[_Entry], other: list[_Entry], is_left: bool) -> tuple[float, float]:
        return x[0] - self._tolerance, x[0] + self._tolerance

    def valid(self, left: _Entry, right: _Entry, lefts: list[_Entry], rights: list[_Entry]) -> bool:
        return left[:3] != right[:3] and abs(left[0] - right[0]) <= self._tolerance

    def cuts(self, lefts: list[_Entry], rights: list[_Entry], horizon: int) -> tuple[float, float]:
        return horizon - self._tolerance, horizon - self._tolerance


class _Asof:
    def span(self, x: _Entry, mine: list[_Entry], other: list[_Entry], is_left: bool) -> tuple[float, float]:
        if is_left:
            before = _before(other, x[0], x)
            return (_NO_BOUND, -_NO_BOUND) if before is None else (before, before)
        return x[0], _next_after(mine, x[0])  # the lefts this right may be the match of

    def valid(self, left: _Entry, right: _Entry, lefts: list[_Entry], rights: list[_Entry]) -> bool:
        return left[:3] != right[:3] and right[0] == _before(rights, left[0], left)

    def cuts(self, lefts: list[_Entry], rights: list[_Entry], horizon: int) -> tuple[float, float]:
        last_right = _latest_below(rights, horizon)  # the match of every later left without a nearer one
        return horizon, -_NO_BOUND if last_right is None else last_right


def pairing(mode: str, tolerance_ms: int | None) -> "_Pairing":
    if mode == "within":
        return _Within(tolerance_ms or 0)
    return _Asof() if mode == "asof" else _Neighbours()


class Join:
    """The pairing job's `process` callbacks. One state for the whole join, plain lists and dicts:

    `streams[key] = [last slice number, latest time passed on, last heard (wall ms)]`; `sides`: whether
    each stream has a datastream yet; `frontier`: pairs before it are final; `left`, `right`: the held
    entries, sorted; `check_at`: when a datastream may turn idle (the timer).
    """

    def __init__(
        self,
        name: str,
        pairing: "_Pairing",
        lateness_ms: int,
        idle_ms: int,
        sides: Callable[[str], tuple[bool, bool]],
        clock: Callable[[], float],
    ) -> None:
        self._name = name
        self._sides = sides
        self._pairing = pairing
        self._lateness = lateness_ms
        self._idle_ms = idle_ms
        self._clock = clock
        # After a restart every datastream gets the idle timeout anew, as the engine's partitions do.
        self._started_ms = int(clock() * 1000)

    def on_slice(self, state: dict[str, Any] | None, event: Event) -> tuple[dict[str, Any], list[Event]]:
        """One datastream's readings of one millisecond (all of them so far, for a correction)."""
        state = state or {"streams": {}, "sides": [False, False], "frontier": None, "left": [], "right": []}
        body, time_ms = event[1], event[2]
        key, number = body["datastream"], body["seq"]
        stream = state["streams"].get(key)
        if stream is not None and number <= stream[0] and time_ms <= stream[1]:
            return state, []  # repeated by the first job after its restart
        fresh = self._fresh(state, key, time_ms, body["values"])
        if fresh and state["frontier"] is not None and time_ms < state["frontier"] - self._lateness:
            raise ValueError(  # before any change: the runner keeps the state as it was
                f"{key} at {time_ms} reached the join after its frontier {state['frontier']} had passed it"
                f" by more than the allowed lateness ({self._lateness} ms): the datastream was idle or new"
            )
        now_ms = int(self._clock() * 1000)
        state["streams"][key] = [number, time_ms if stream is None else max(stream[1], time_ms), now_ms]
        in_left, in_right = self._sides(key)
        state["sides"] = [state["sides"][0] or in_left, state["sides"][1] or in_right]
        for entry, is_left in fresh:
            entries = state["left" if is_left else "right"]
            entries.insert(bisect_left(entries, entry[:3]), entry)
        return state, self._advance(state, now_ms, fresh)

    def due(self, state: dict[str, Any] | None) -> int | None:
        return None if state is None else state.get("check_at")

    def on_timer(self, state: dict[str, Any], key: str, now_ms: int) -> tuple[dict[str, Any], list[Event]]:
        """A datastream turned idle: the frontier may move on without it."""
        return state, self._advance(state, now_ms, [])

    def _fresh(
        self, state: dict[str, Any], key: str, time_ms: int, values: list[Any]
    ) -> list[tuple[_Entry, bool]]:
        """The slice's readings not held yet, with the stream each goes to (twice if in both)."""
        fresh: list[tuple[_Entry, bool]] = []
        for is_left, member in zip((True, False), self._sides(key), strict=True):
            entries = state["left" if is_left else "right"]
            for identity, value in {canonical(v): v for v in values}.items() if member else ():
                entry = [time_ms, key, identity, value]
                i = bisect_left(entries, entry[:3])
                if i == len(entries) or entries[i][:3] != entry[:3]:
                    fresh.append((entry, is_left))
        return fresh

    def _advance(self, state: dict[str, Any], now_ms: int, fresh: list[tuple[_Entry, bool]]) -> list[Event]:
        """Emit the pairs that became final: those of fresh readings up to the frontier, and all those
        whose later reading the frontier has just passed; then forget what can no longer pair."""
        before = state["frontier"]
        frontier = state["frontier"] = self._frontier(state, now_ms)
        state["check_at"] = self._next_check(state, now_ms)
        if frontier is None:
            return []
        found: dict[tuple[Any, ...], tuple[_Entry, _Entry]] = {}
        self._collect(state, [(e, is_left) for e, is_left in fresh if e[0] < frontier], None, frontier, found)
        if frontier != before:
            low = -_NO_BOUND if before is None else before
            passed = [(e, True) for e in _before_bound(state["left"], low, frontier)]
            passed += [(e, False) for e in _before_bound(state["right"], low, frontier)]
            self._collect(state, passed, before, frontier, found)
            self._forget(state, frontier - self._lateness)
        return [self._pair(left, right) for _, (left, right) in sorted(found.items())]

    def _frontier(self, state: dict[str, Any], now_ms: int) -> int | None:
        """Every reading before it has been seen: the earliest latest-time of the active datastreams
        (past the latest, when every one is idle); none until both streams have a datastream, and
        never backwards."""
        current: int | None = state["frontier"]
        if not all(state["sides"]):
            return current
        streams = state["streams"].values()
        active = [latest for _, latest, heard in streams if now_ms < self._idle_at(heard)]
        candidate: int = min(active) if active else max(latest for _, latest, _ in streams) + 1
        return candidate if current is None else max(current, candidate)

    def _idle_at(self, heard_ms: int) -> int:
        return max(heard_ms, self._started_ms) + self._idle_ms

    def _next_check(self, state: dict[str, Any], now_ms: int) -> int | None:
        return min(
            (t for _, _, h in state["streams"].values() if (t := self._idle_at(h)) > now_ms), default=None
        )

    def _collect(
        self,
        state: dict[str, Any],
        readings: Iterable[tuple[_Entry, bool]],
        low: int | None,
        high: int,
        found: dict[tuple[Any, ...], tuple[_Entry, _Entry]],
    ) -> None:
        """Into `found`, the pairs of `readings` whose later time is from `low` (included) to `high`."""
        lefts, rights, pairing = state["left"], state["right"], self._pairing
        for x, is_left in readings:
            mine, other = (lefts, rights) if is_left else (rights, lefts)
            low_y, high_y = pairing.span(x, mine, other, is_left)
            for y in _between(other, low_y, min(high_y, high - 1)):  # pairs after `high` are not final
                left, right = (x, y) if is_left else (y, x)
                top = max(left[0], right[0])
                if (low is None or top >= low) and top < high and pairing.valid(left, right, lefts, rights):
                    found[(top, *left[:3], *right[:3])] = (left, right)

    def _forget(self, state: dict[str, Any], horizon: int) -> None:
        """Readings of active datastreams arrive at `horizon` or later: keep what may pair with those."""
        cuts = self._pairing.cuts(state["left"], state["right"], horizon)
        for side, cut in zip(("left", "right"), cuts, strict=True):
            entries = state[side]
            del entries[: bisect_left(entries, cut, key=_TIME)]

    def _pair(self, left: _Entry, right: _Entry) -> Event:
        pair = {"left": _reading(left), "right": _reading(right)}
        return self._name, pair, max(left[0], right[0])


def _reading(entry: _Entry) -> dict[str, Any]:
    return {"datastream": owner_of(entry[1])[1], "time": entry[0], "value": entry[3]}

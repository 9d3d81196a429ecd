"""Windowed aggregation on event time, with allowed lateness and a late side output.

A window fires once the watermark passes its end. Until the watermark passes end + allowed lateness,
a late reading still updates the window and the corrected result is emitted again with a higher
`revision` (sinks upsert by key, window and start). Readings later than that come back from `process`
as `LateReading`s with how late they were. Nothing is dropped silently. Session windows merge; a merged
session lists in `replaces` the starts of earlier emitted sessions it absorbed, so sinks can delete them.
"""

import heapq
from collections.abc import Iterable
from typing import Any

import msgspec

from iotstream.processing.aggregations import Aggregator, Stats
from iotstream.processing.windows import BaseWindows, Sessions, Tumbling

__all__ = ["Event", "LateReading", "WindowOperator", "WindowResult"]

Event = tuple[str, Any, int]  # (key, value, event time in ms): a tuple, built once per reading
_Key = tuple[str, int]  # (key, window start)


class WindowResult(msgspec.Struct, frozen=True, gc=False):
    key: str
    window: str
    start_ms: int
    end_ms: int
    value: Any
    revision: int = 0  # 0 when the window first closes, +1 for each correction by late readings
    replaces: tuple[int, ...] = ()  # starts of absorbed session windows that were emitted before


class LateReading(msgspec.Struct, frozen=True, gc=False):
    key: str
    value: Any
    timestamp_ms: int
    late_by_ms: int  # how far the watermark was past the reading's time


class WindowOperator:
    """The per-job logic of one windowed aggregation (the `windows` object is only its definition).

    Example:
        >>> from iotstream.processing.windows import Tumbling
        >>> op = WindowOperator(Tumbling(60_000), allowed_lateness_ms=0)
        >>> op.process([("s1", 2.0, 1_000), ("s1", 4.0, 30_000)], watermark=0)
        []
        >>> [(r.start_ms, r.value["avg"]) for r in op.advance(watermark=60_000)]
        [(0, 3.0)]
    """

    def __init__(
        self,
        windows: BaseWindows,
        aggregation: Aggregator[Any, Any] | None = None,
        allowed_lateness_ms: int = 0,
    ) -> None:
        self.windows = windows
        self._aggregation: Aggregator[Any, Any] = aggregation or Stats()
        self._lateness = allowed_lateness_ms
        self._sessions = windows if isinstance(windows, Sessions) else None
        self._reset_state()

    def _reset_state(self) -> None:
        self._accs: dict[_Key, Any] = {}
        self._ends: dict[_Key, int] = {}
        self._revisions: dict[_Key, int] = {}  # windows emitted so far → their last revision
        self._replaces: dict[_Key, tuple[int, ...]] = {}
        self._corrected: set[_Key] = set()
        self._to_fire: list[tuple[int, str, int]] = []  # heap of (end, key, start)
        self._to_purge: list[tuple[int, str, int]] = []  # heap of (end + lateness, key, start)
        self._session_starts: dict[str, list[int]] = {}
        # per key, (start, accumulator) of the window it saw last: only while that window is in `_accs`
        self._latest: dict[str, tuple[int, Any]] = {}

    @property
    def open_windows(self) -> int:
        return len(self._accs)

    def process(self, events: Iterable[Event], watermark: int) -> list[LateReading]:
        """Fold readings into their windows; return those too late for every window they belong to."""
        if self._sessions is not None:
            return [dropped for event in events if (dropped := self._add_to_session(*event, watermark))]
        if isinstance(self.windows, Tumbling):
            if type(self._aggregation) is Stats:  # not a subclass: it might change `add`
                return self._fold_tumbling_stats(events, watermark, self.windows.duration_ms)
            return self._process_tumbling(events, watermark, self.windows.duration_ms)
        late: list[LateReading] = []
        assign, add, init = self.windows.assign, self._aggregation.add, self._aggregation.init
        accs, lateness = self._accs, self._lateness
        for key, value, timestamp in events:
            applied = False
            for start, end in assign(timestamp):
                if end + lateness <= watermark:
                    continue  # this window is final and gone
                applied = True
                window_key = (key, start)
                acc = accs.get(window_key)
                if acc is None:
                    acc = self._open(window_key, end, init())
                accs[window_key] = add(acc, value, timestamp)
                if end <= watermark:
                    self._corrected.add(window_key)
            if not applied:
                late.append(LateReading(key, value, timestamp, watermark - timestamp))
        return late

    def _fold_tumbling_stats(self, events: Iterable[Event], watermark: int, size: int) -> list[LateReading]:
        """`_process_tumbling` with `Stats.add` inlined, the engine's hottest loop: no call per reading,
        and the window a key saw last is found by the key alone (`_latest`), without a tuple."""
        late: list[LateReading] = []
        accs, corrected, latest, init = self._accs, self._corrected, self._latest, self._aggregation.init
        last_gone = watermark - self._lateness - size  # windows starting at or before it are gone
        last_closed = watermark - size  # windows starting at or before it have fired
        for key, value, timestamp in events:
            start = timestamp - timestamp % size
            if start <= last_gone:
                late.append(LateReading(key, value, timestamp, watermark - timestamp))
                continue
            cached = latest.get(key)
            if cached is not None and cached[0] == start:
                acc = cached[1]
            else:
                window_key = (key, start)
                acc = accs.get(window_key)
                if acc is None:
                    acc = self._open(window_key, start + size, init())
                latest[key] = (start, acc)
            # Stats.add; slots: count, sum, min, max, first_ts, first, last_ts, last
            if acc[0] == 0:
                acc[:] = [1, value, value, value, timestamp, value, timestamp, value]
            else:
                acc[0] += 1
                acc[1] += value
                if value < acc[2]:
                    acc[2] = value
                if value > acc[3]:
                    acc[3] = value
                if timestamp < acc[4]:
                    acc[4], acc[5] = timestamp, value
                if timestamp >= acc[6]:
                    acc[6], acc[7] = timestamp, value
            if start <= last_closed:
                corrected.add((key, start))
        return late

    def _process_tumbling(self, events: Iterable[Event], watermark: int, size: int) -> list[LateReading]:
        """The common case, inlined: one window per reading, its start computed, no tuples built."""
        late: list[LateReading] = []
        add, init = self._aggregation.add, self._aggregation.init
        accs, lateness, corrected = self._accs, self._lateness, self._corrected
        for key, value, timestamp in events:
            start = timestamp - timestamp % size
            end = start + size
            if end + lateness <= watermark:
                late.append(LateReading(key, value, timestamp, watermark - timestamp))
                continue
            window_key = (key, start)
            acc = accs.get(window_key)
            if acc is None:
                acc = self._open(window_key, end, init())
            accs[window_key] = add(acc, value, timestamp)
            if end <= watermark:
                corrected.add(window_key)
        return late

    def _open(self, window_key: _Key, end: int, acc: Any) -> Any:
        self._accs[window_key] = acc
        self._ends[window_key] = end
        heapq.heappush(self._to_fire, (end, window_key[0], window_key[1]))
        return acc

    def _add_to_session(self, key: str, value: Any, timestamp: int, watermark: int) -> LateReading | None:
        assert self._sessions is not None  # noqa: S101 - only called for session windows
        start, end = timestamp, timestamp + self._sessions.gap_ms
        starts = self._session_starts.setdefault(key, [])
        touching = [s for s in starts if s < end and start < self._ends[(key, s)]]
        new_start = min([start, *touching])
        new_end = max([end, *(self._ends[(key, s)] for s in touching)])
        if new_end + self._lateness <= watermark:
            return LateReading(key, value, timestamp, watermark - timestamp)
        aggregation = self._aggregation
        acc = aggregation.add(aggregation.init(), value, timestamp)
        replaced: list[int] = []
        revision = None
        for s in touching:
            acc = aggregation.merge(self._accs.pop((key, s)), acc)
            del self._ends[(key, s)]
            starts.remove(s)
            replaced += self._replaces.pop((key, s), ())
            if (key, s) in self._revisions:
                emitted = self._revisions.pop((key, s))
                if s == new_start:
                    revision = emitted
                else:
                    replaced.append(s)
        starts.append(new_start)
        if revision is not None:
            self._revisions[(key, new_start)] = revision
        if replaced:
            self._replaces[(key, new_start)] = tuple(sorted(replaced))
        self._open((key, new_start), new_end, acc)
        return None

    def snapshot(self) -> dict[str, Any]:
        """Everything needed to continue after a restart; accumulators must be msgpack-able."""
        windows = [
            [
                key,
                start,
                self._ends[(key, start)],
                acc,
                self._revisions.get((key, start)),
                self._replaces.get((key, start), ()),
            ]
            for (key, start), acc in self._accs.items()
        ]
        return {"windows": windows, "corrected": sorted(self._corrected)}

    def restore(self, snapshot: dict[str, Any]) -> None:
        self._reset_state()
        for key, start, end, acc, revision, replaces in snapshot["windows"]:
            window_key = (key, start)
            self._accs[window_key], self._ends[window_key] = acc, end
            if replaces:
                self._replaces[window_key] = tuple(replaces)
            if revision is None:
                heapq.heappush(self._to_fire, (end, key, start))
            else:
                self._revisions[window_key] = revision
                heapq.heappush(self._to_purge, (end + self._lateness, key, start))
            if self._sessions is not None:
                self._session_starts.setdefault(key, []).append(start)
        self._corrected = {(key, start) for key, start in snapshot["corrected"]}

    def advance(self, watermark: int) -> list[WindowResult]:
        """Emit windows the watermark has passed and corrected ones; forget windows past lateness."""
        results: list[WindowResult] = []
        emitted: set[_Key] = set()
        while self._to_fire and self._to_fire[0][0] <= watermark:
            end, key, start = heapq.heappop(self._to_fire)
            window_key = (key, start)
            if self._ends.get(window_key) == end:  # else a session that has since grown or merged
                results.append(self._emit(window_key, end))
                emitted.add(window_key)
                heapq.heappush(self._to_purge, (end + self._lateness, key, start))
        for window_key in sorted(self._corrected - emitted):
            if window_key in self._revisions and window_key in self._accs:
                results.append(self._emit(window_key, self._ends[window_key]))
        self._corrected.clear()
        self._purge(watermark)
        return results

    def _emit(self, window_key: _Key, end: int) -> WindowResult:
        revision = self._revisions.get(window_key, -1) + 1
        self._revisions[window_key] = revision
        key, start = window_key
        value = self._aggregation.result(self._accs[window_key])
        return WindowResult(
            key, self.windows.name, start, end, value, revision, self._replaces.pop(window_key, ())
        )

    def _purge(self, watermark: int) -> None:
        while self._to_purge and self._to_purge[0][0] <= watermark:
            limit, key, start = heapq.heappop(self._to_purge)
            window_key = (key, start)
            if self._ends.get(window_key) != limit - self._lateness:
                continue
            del self._accs[window_key], self._ends[window_key]
            if self._latest.get(key, (None,))[0] == start:
                del self._latest[key]
            self._revisions.pop(window_key, None)
            if self._sessions is not None:
                self._session_starts[key].remove(start)

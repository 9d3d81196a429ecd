"""Processing-time timers for `Job.process(fn, timer=..., on_timer=...)`: what happens when nothing
arrives (a silent sensor), which event time alone cannot tell."""

import heapq
from collections.abc import Callable, Iterable
from typing import Any

from iotstream.processing.windowing import Event

__all__ = ["Timers"]


class Timers:
    """Processing-time timers, one per key, in a heap. A key is in the heap at most once (plus rarely
    an earlier due time): when its entry comes due, the timer is asked again, so state that moved the
    due time later (every new reading, for a staleness rule) costs nothing until then."""

    def __init__(
        self,
        timer: Callable[[Any], int | None],
        on_timer: Callable[[Any, str, int], tuple[Any, Iterable[Event]]],
        wall_clock: Callable[[], float],
    ) -> None:
        self._timer, self._on_timer, self._wall_clock = timer, on_timer, wall_clock
        self._heap: list[tuple[int, str]] = []
        self._scheduled: dict[str, int] = {}  # key → earliest due time in the heap

    def schedule(self, key: str, state: Any) -> None:
        due = self._timer(state)
        if due is not None and due < self._scheduled.get(key, 2**63):
            self._scheduled[key] = due
            heapq.heappush(self._heap, (due, key))

    def fire(self, states: dict[str, Any]) -> tuple[list[Event], list[tuple[Event, str]]]:
        """Run the timers that are due; returns their outputs and the failures (event, why)."""
        now_ms = int(self._wall_clock() * 1000)
        fired: list[Event] = []
        failed: list[tuple[Event, str]] = []
        while self._heap and self._heap[0][0] <= now_ms:
            due, key = heapq.heappop(self._heap)
            if self._scheduled.get(key) != due:
                continue  # superseded by an earlier entry, which already ran
            del self._scheduled[key]
            state = states.get(key)
            current = self._timer(state)
            if current is not None and current > now_ms:
                self.schedule(key, state)
            elif current is not None:
                fired += self._run(key, state, now_ms, states, failed)
        return fired, failed

    def _run(
        self, key: str, state: Any, now_ms: int, states: dict[str, Any], failed: list[tuple[Event, str]]
    ) -> list[Event]:
        try:
            state, outputs = self._on_timer(state, key, now_ms)
            outputs = list(outputs)
        except Exception as err:  # dropped, not retried: a timer that always raises must not spin
            failed.append(((key, None, now_ms), f"on_timer raised {type(err).__name__}: {err}"))
            return []
        states[key] = state
        self.schedule(key, state)
        return outputs

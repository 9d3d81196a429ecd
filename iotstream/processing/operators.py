"""The compiled steps of one task: each takes a batch of events and returns the next batch.

A user function that raises must not stop the job: a stateless step runs the batch in one tight loop,
and only if something raises is it rerun event by event, so the one bad event goes to the dead-letter
output with the reason and the others go on. A `process` step, which keeps state, always goes event by
event.
"""

import heapq
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from iotstream.processing import job as steps
from iotstream.processing.aggregations import Stats
from iotstream.processing.timers import Timers
from iotstream.processing.watermark import END_OF_INPUT, NO_WATERMARK
from iotstream.processing.windowing import Event, LateReading, WindowOperator

__all__ = ["Operator", "TaskOutput", "compile_step"]


@dataclass
class TaskOutput:
    """What one batch produced, besides the events flowing on."""

    to_topics: list[tuple[str, Event]] = field(default_factory=list)
    late: list[tuple[str, LateReading]] = field(default_factory=list)  # (window name, reading)
    rejected: list[tuple[Event, str]] = field(default_factory=list)  # (event, why)


class Operator:
    """A step's logic. `apply` takes this batch; `flush` emits what the new watermark released."""

    def apply(self, events: list[Event], watermark: int, out: TaskOutput) -> list[Event]:
        return events

    def apply_columns(
        self, keys: list[str], values: list[Any], times: list[int], watermark: int, out: TaskOutput
    ) -> list[Event]:
        """`apply` to the events `zip(keys, values, times)`: the first step gets them as decoded."""
        return self.apply(list(zip(keys, values, times, strict=True)), watermark, out)

    def flush(self, watermark: int, out: TaskOutput) -> list[Event]:
        return []

    def snapshot(self) -> Any:
        return None

    def restore(self, snapshot: Any) -> None:
        """Load state saved by `snapshot`."""


def _guarded(
    name: str, batch: Callable[[list[Event]], list[Event]], one: Callable[[Event], list[Event]]
) -> Callable[[list[Event], TaskOutput], list[Event]]:
    def run(events: list[Event], out: TaskOutput) -> list[Event]:
        try:
            return batch(events)
        except Exception:
            result: list[Event] = []
            for event in events:
                try:
                    result += one(event)
                except Exception as err:
                    out.rejected.append((event, f"{name} raised {type(err).__name__}: {err}"))
            return result

    return run


class _Stateless(Operator):
    def __init__(
        self, name: str, batch: Callable[[list[Event]], list[Event]], one: Callable[[Event], list[Event]]
    ):
        self._run = _guarded(name, batch, one)

    def apply(self, events: list[Event], watermark: int, out: TaskOutput) -> list[Event]:
        return self._run(events, out) if events else events


def _map(fn: Callable[[Any], Any]) -> Operator:
    return _Stateless(
        "map", lambda evs: [(k, fn(v), t) for k, v, t in evs], lambda e: [(e[0], fn(e[1]), e[2])]
    )


def _filter(fn: Callable[[Any], bool]) -> Operator:
    return _Stateless("filter", lambda evs: [e for e in evs if fn(e[1])], lambda e: [e] if fn(e[1]) else [])


def _key_by(fn: Callable[[Any], str]) -> Operator:
    return _Stateless(
        "key_by", lambda evs: [(fn(v), v, t) for _, v, t in evs], lambda e: [(fn(e[1]), e[1], e[2])]
    )


def _flat_map(fn: Callable[[Event], Iterable[Event]]) -> Operator:
    return _Stateless("flat_map", lambda evs: [o for e in evs for o in fn(e)], lambda e: list(fn(e)))


class _Process(Operator):
    """Event by event, never the batch-then-rerun of stateless steps: rerunning would apply the events
    before a failing one to the state twice."""

    def __init__(self, step: steps.Process, wall_clock: Callable[[], float]) -> None:
        self._fn = step.fn
        self._states: dict[str, Any] = {}
        self._timers = None
        if step.timer is not None and step.on_timer is not None:
            self._timers = Timers(step.timer, step.on_timer, wall_clock)

    def _one(self, event: Event) -> list[Event]:
        key = event[0]
        state, outputs = self._fn(self._states.get(key), event)
        outputs = list(outputs)
        if self._timers is not None:
            self._timers.schedule(key, state)
        self._states[key] = state  # only after fn succeeded, so a failure leaves state intact
        return outputs

    def apply(self, events: list[Event], watermark: int, out: TaskOutput) -> list[Event]:
        result: list[Event] = []
        for event in events:
            try:
                result += self._one(event)
            except Exception as err:
                out.rejected.append((event, f"process raised {type(err).__name__}: {err}"))
        return result

    def flush(self, watermark: int, out: TaskOutput) -> list[Event]:
        if self._timers is None:
            return []
        fired, failed = self._timers.fire(self._states)
        out.rejected += failed
        return fired

    def snapshot(self) -> Any:
        return self._states

    def restore(self, snapshot: Any) -> None:
        self._states = dict(snapshot)
        if self._timers is not None:
            for key, state in self._states.items():
                self._timers.schedule(key, state)


class _Join(Operator):
    def __init__(self, table: dict[str, Any], fn: Callable[[Any, Any], Any]) -> None:
        self._run = _guarded(
            "join_table",
            lambda evs: [(k, fn(v, table.get(k)), t) for k, v, t in evs],
            lambda e: [(e[0], fn(e[1], table.get(e[0])), e[2])],
        )

    def apply(self, events: list[Event], watermark: int, out: TaskOutput) -> list[Event]:
        return self._run(events, out) if events else events


_NUMBERS = frozenset((int, float))


class _Window(Operator):
    def __init__(self, step: steps.Window) -> None:
        self._operator = WindowOperator(step.windows, step.aggregation, step.allowed_lateness_ms)
        self._numeric = step.aggregation is None or isinstance(step.aggregation, Stats)

    def apply(self, events: list[Event], watermark: int, out: TaskOutput) -> list[Event]:
        if self._numeric and not all(type(v) in (int, float) for _, v, _ in events):
            events = self._numbers_only(events, out)
        self._fold(events, watermark, out)
        return []

    def apply_columns(
        self, keys: list[str], values: list[Any], times: list[int], watermark: int, out: TaskOutput
    ) -> list[Event]:
        if self._numeric and not _NUMBERS.issuperset(map(type, values)):  # rare: `apply` sorts them out
            return self.apply(list(zip(keys, values, times, strict=True)), watermark, out)
        self._fold(zip(keys, values, times, strict=True), watermark, out)
        return []

    def _fold(self, events: Iterable[Event], watermark: int, out: TaskOutput) -> None:
        name = self._operator.windows.name
        out.late.extend((name, late) for late in self._operator.process(events, watermark))

    def _numbers_only(self, events: list[Event], out: TaskOutput) -> list[Event]:
        kept = []
        for event in events:
            if type(event[1]) in (int, float):
                kept.append(event)
            else:
                out.rejected.append(
                    (event, f"value must be a number to aggregate, got {type(event[1]).__name__}")
                )
        return kept

    def flush(self, watermark: int, out: TaskOutput) -> list[Event]:
        return [(r.key, r, r.end_ms - 1) for r in self._operator.advance(watermark)]

    def snapshot(self) -> Any:
        return self._operator.snapshot()

    def restore(self, snapshot: Any) -> None:
        self._operator.restore(snapshot)


class _InOrder(Operator):
    """A heap of held events; `flush` pops those the watermark has passed. Ties keep arrival order."""

    def __init__(self) -> None:
        self._held: list[tuple[int, int, Event]] = []
        self._arrivals = 0
        self._released = NO_WATERMARK  # every event at or before this time has been released

    def apply(self, events: list[Event], watermark: int, out: TaskOutput) -> list[Event]:
        for event in events:
            if event[2] <= self._released:
                late_by = self._released - event[2]
                out.late.append(("in_order", LateReading(event[0], event[1], event[2], late_by)))
                continue
            self._arrivals += 1
            heapq.heappush(self._held, (event[2], self._arrivals, event))
        return []

    def flush(self, watermark: int, out: TaskOutput) -> list[Event]:
        released = []
        while self._held and self._held[0][0] <= watermark:
            released.append(heapq.heappop(self._held)[2])
        self._released = max(self._released, watermark)
        return released

    def snapshot(self) -> Any:
        return {"held": [list(e) for _, _, e in sorted(self._held)], "released": self._released}

    def restore(self, snapshot: Any) -> None:
        self._held = [(e[2], i, (e[0], e[1], e[2])) for i, e in enumerate(snapshot["held"])]
        heapq.heapify(self._held)
        self._arrivals = len(self._held)
        self._released = snapshot["released"]


class _InOrderPerKey(Operator):
    """A heap per key, released up to that key's newest event time minus `lag_ms`."""

    def __init__(self, lag_ms: int) -> None:
        self._lag_ms = lag_ms
        self._held: dict[str, list[tuple[int, int, Event]]] = {}
        self._newest: dict[str, int] = {}
        self._released: dict[str, int] = {}  # per key: every event at or before this time went out
        self._arrivals = 0

    def apply(self, events: list[Event], watermark: int, out: TaskOutput) -> list[Event]:
        for event in events:
            key, time_ms = event[0], event[2]
            released = self._released.get(key, NO_WATERMARK)
            if time_ms <= released:
                out.late.append(("in_order", LateReading(key, event[1], time_ms, released - time_ms)))
                continue
            self._arrivals += 1
            heapq.heappush(self._held.setdefault(key, []), (time_ms, self._arrivals, event))
            self._newest[key] = max(self._newest.get(key, time_ms), time_ms)
        return []

    def flush(self, watermark: int, out: TaskOutput) -> list[Event]:
        released: list[Event] = []
        for key in list(self._held):
            mark = END_OF_INPUT if watermark >= END_OF_INPUT else self._newest[key] - self._lag_ms
            held = self._held[key]
            while held and held[0][0] <= mark:
                released.append(heapq.heappop(held)[2])
            self._released[key] = max(self._released.get(key, NO_WATERMARK), min(mark, self._newest[key]))
            if not held:
                del self._held[key]
        return released

    def snapshot(self) -> Any:
        held = [list(e) for events in self._held.values() for _, _, e in sorted(events)]
        return {"held": held, "newest": self._newest, "released": self._released}

    def restore(self, snapshot: Any) -> None:
        self._newest, self._released = dict(snapshot["newest"]), dict(snapshot["released"])
        for index, (key, value, time_ms) in enumerate(snapshot["held"]):
            self._held.setdefault(key, []).append((time_ms, index, (key, value, time_ms)))
        self._arrivals = len(snapshot["held"])


class _To(Operator):
    def __init__(self, topic: str) -> None:
        self._topic = topic

    def apply(self, events: list[Event], watermark: int, out: TaskOutput) -> list[Event]:
        out.to_topics.extend((self._topic, e) for e in events)
        return events


def compile_step(
    step: steps.Step, tables: dict[str, dict[str, Any]], wall_clock: Callable[[], float] = time.time
) -> Operator:
    """A fresh operator for one task; `wall_clock` (epoch seconds) drives processing-time timers."""
    match step:
        case steps.Map(fn):
            return _map(fn)
        case steps.Filter(fn):
            return _filter(fn)
        case steps.KeyBy(fn):
            return _key_by(fn)
        case steps.FlatMap(fn):
            return _flat_map(fn)
        case steps.Process():
            return _Process(step, wall_clock)
        case steps.JoinTable(topic, fn):
            return _Join(tables.setdefault(topic, {}), fn)
        case steps.InOrder(None):
            return _InOrder()
        case steps.InOrder(lag_ms) if lag_ms is not None:
            return _InOrderPerKey(lag_ms)
        case steps.Window():
            return _Window(step)
        case steps.To(topic):
            return _To(topic)
    raise AssertionError(f"unknown step {step!r}")

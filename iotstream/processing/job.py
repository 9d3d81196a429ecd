"""Defining a stream job: a fluent chain of a few core steps.

The core steps are `flat_map` (stateless), `process` (per-key state), `join_table` (enrich from a
compacted topic) and `window` (event-time aggregation). `map`, `filter` and `key_by` are thin
conveniences that compile to tight loops instead of per-record generators. Several source topics
are a union. A job is only a definition; `JobRunner` runs it against a log.

Example:
    >>> from iotstream.processing.windows import Tumbling
    >>> job = (
    ...     Job("minute-means", sources=["observations"], out_of_orderness_ms=5_000)
    ...     .filter(lambda value: value is not None)
    ...     .window(Tumbling(60_000), allowed_lateness_ms=60_000)
    ...     .to("aggregates.1m")
    ... )
    >>> [type(step).__name__ for step in job.steps]
    ['Filter', 'Window', 'To']
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from iotstream.log.topics import DEADLETTER, LATE
from iotstream.processing.aggregations import Aggregator
from iotstream.processing.exceptions import ProcessingConfigError
from iotstream.processing.windowing import Event
from iotstream.processing.windows import BaseWindows

__all__ = [
    "IDLE_TIMEOUT_HELP",
    "IDLE_TIMEOUT_MS",
    "Filter",
    "FlatMap",
    "InOrder",
    "Job",
    "JoinTable",
    "KeyBy",
    "Map",
    "Process",
    "Step",
    "To",
    "Window",
]


@dataclass(frozen=True)
class Map:
    fn: Callable[[Any], Any]


@dataclass(frozen=True)
class Filter:
    predicate: Callable[[Any], bool]


@dataclass(frozen=True)
class KeyBy:
    fn: Callable[[Any], str]


@dataclass(frozen=True)
class FlatMap:
    fn: Callable[[Event], Iterable[Event]]


@dataclass(frozen=True)
class Process:
    """`fn(state, event) -> (new_state, outputs)`; state is per key, None at first, msgpack-able.

    With a timer, `timer(state)` says when (wall-clock epoch ms; None: never) `on_timer(state, key,
    now_ms) -> (new_state, outputs)` runs for that key: processing time, for what happens when
    nothing arrives.
    """

    fn: Callable[[Any, Event], tuple[Any, Iterable[Event]]]
    timer: Callable[[Any], int | None] | None = None
    on_timer: Callable[[Any, str, int], tuple[Any, Iterable[Event]]] | None = None


@dataclass(frozen=True)
class JoinTable:
    """`fn(value, row)` where `row` is the table topic's latest value for the event's key (or None)."""

    topic: str
    fn: Callable[[Any, Any], Any]


@dataclass(frozen=True)
class InOrder:
    """Hold events until the watermark passes them, then release them sorted by event time.

    `per_key_lag_ms` set: each key's own event time (its newest minus this lag) releases its events.
    """

    per_key_lag_ms: int | None = None


@dataclass(frozen=True)
class Window:
    windows: BaseWindows
    aggregation: Aggregator[Any, Any] | None
    allowed_lateness_ms: int


@dataclass(frozen=True)
class To:
    topic: str


Step = Map | Filter | KeyBy | FlatMap | Process | JoinTable | InOrder | Window | To


IDLE_TIMEOUT_MS = 30_000
IDLE_TIMEOUT_HELP = (
    "A source partition with no new records for this long (processing time) stops holding the watermark"
    " back, so the last window closes when one partition goes quiet (Flink's `withIdleness`)."
)


@dataclass(frozen=True)
class Job:
    """What a job reads, how it handles time, and its steps.

    Events read from the sources are `(key, value, event time)`: by default the key is the record key,
    the value the decoded JSON value (its `value` field when it has one), and the event time the
    value's `time` field (ISO-8601 or epoch ms) or, without one, the record's timestamp.
    """

    name: str
    sources: Sequence[str]
    out_of_orderness_ms: int = 0
    idle_timeout_ms: int = IDLE_TIMEOUT_MS
    late_topic: str = LATE
    deadletter_topic: str = DEADLETTER
    steps: tuple[Step, ...] = field(default=())
    # Whose readings are counted once however often they are sent (see `dedup`); None: every key's.
    # A job that reads a few datastreams of a busy topic names them, so it remembers only theirs.
    counted: Callable[[str], bool] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.sources, str):
            object.__setattr__(self, "sources", (self.sources,))
        if not self.sources:
            raise ProcessingConfigError(f"job {self.name!r} needs at least one source topic")
        if self.out_of_orderness_ms < 0 or self.idle_timeout_ms <= 0:
            raise ProcessingConfigError(
                f"job {self.name!r}: out_of_orderness_ms must be ≥ 0 and idle_timeout_ms > 0"
            )

    @property
    def recount_horizon_ms(self) -> int:
        """How far behind the watermark a reading can still change a result: a reading sent again is
        dropped while its first copy is within this, and counted in no window twice (beyond it, it is
        late for every window anyway)."""
        spans = [s.windows.longest_ms + s.allowed_lateness_ms for s in self.steps if isinstance(s, Window)]
        return max(spans, default=0)

    def _then(self, step: Step) -> "Job":
        return replace(self, steps=(*self.steps, step))

    def map(self, fn: Callable[[Any], Any]) -> "Job":
        """Replace each value by `fn(value)`."""
        return self._then(Map(fn))

    def filter(self, predicate: Callable[[Any], bool]) -> "Job":
        """Keep the events whose value satisfies `predicate`."""
        return self._then(Filter(predicate))

    def key_by(self, fn: Callable[[Any], str]) -> "Job":
        """Re-key by `fn(value)`. Windows after it group by the new key *within one partition's task*."""
        return self._then(KeyBy(fn))

    def flat_map(self, fn: Callable[[Event], Iterable[Event]]) -> "Job":
        """Turn each `(key, value, time)` event into zero or more events."""
        return self._then(FlatMap(fn))

    def process(
        self,
        fn: Callable[[Any, Event], tuple[Any, Iterable[Event]]],
        *,
        timer: Callable[[Any], int | None] | None = None,
        on_timer: Callable[[Any, str, int], tuple[Any, Iterable[Event]]] | None = None,
    ) -> "Job":
        """Run `fn` with per-key state kept in checkpoints; optionally a processing-time timer per key
        (see `Process`). Timers fire between batches, at most one poll interval after they are due."""
        if (timer is None) != (on_timer is None):
            raise ProcessingConfigError(f"job {self.name!r}: process needs both `timer` and `on_timer`")
        return self._then(Process(fn, timer, on_timer))

    def in_order(self, *, per_key: bool = False) -> "Job":
        """Release events in event-time order once the watermark has passed them, so a `process` after
        it sees each key's events in time order however they arrived. An event that arrives behind the
        watermark goes to the late output; results wait out the job's out-of-orderness.

        `per_key=True` gives each key a watermark of its own (its newest event time minus the job's
        out-of-orderness): for per-datastream logic over a topic shared with unrelated datastreams,
        whose clocks (a backfill, a simulator running ahead) must not hold back or overtake it. A key's
        last events within the out-of-orderness then wait for its next event or the end of input."""
        return self._then(InOrder(self.out_of_orderness_ms if per_key else None))

    def join_table(self, topic: str, fn: Callable[[Any, Any], Any]) -> "Job":
        """Enrich each value with the latest row of a (compacted) table topic under the same key."""
        return self._then(JoinTable(topic, fn))

    def window(
        self,
        windows: BaseWindows,
        aggregation: Aggregator[Any, Any] | None = None,
        *,
        allowed_lateness_ms: int = 0,
    ) -> "Job":
        """Aggregate per key and window (default: `Stats`); results flow on as events."""
        return self._then(Window(windows, aggregation, allowed_lateness_ms))

    def to(self, topic: str) -> "Job":
        """Write the events to `topic` (JSON, keyed, with a deterministic id header)."""
        return self._then(To(topic))

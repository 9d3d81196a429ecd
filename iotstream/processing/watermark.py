"""The job's watermark: how far event time has surely progressed, across the partitions it reads.

Per partition, the watermark is the highest event time seen minus the allowed out-of-orderness. The
job's watermark is the minimum over *active* partitions, because any of them may still deliver older
readings. A partition silent for `idle_timeout_ms` (processing time) stops holding the job back,
so one quiet sensor cannot stall every window. When all are idle, the highest partition watermark
counts, so the last windows still close when a stream stops. The watermark never moves backwards.

A task reads one partition number of its sources, so the keys of a partition that went quiet would wait
for readings that never come. `follow` hands such a task the watermark of the job's active partitions
elsewhere (as Flink's window operators take the minimum over their non-idle inputs), so the last day of
a multi-partition meter job closes when one partition goes quiet.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["END_OF_INPUT", "NO_WATERMARK", "Watermarks"]

NO_WATERMARK = -(2**63)  # before any reading: nothing is late, nothing fires
END_OF_INPUT = 2**62  # the watermark when a bounded input is over: everything fires


@dataclass
class _Partition:
    max_event_ms: int | None
    last_seen_s: float


class Watermarks:
    """Tracks event time per partition; `current()` is the job's watermark.

    Example:
        >>> w = Watermarks(out_of_orderness_ms=1_000, idle_timeout_ms=60_000, clock=lambda: 0.0)
        >>> w.observe(0, 10_000); w.observe(1, 5_000)
        >>> w.current()
        4000
    """

    def __init__(
        self,
        out_of_orderness_ms: int,
        idle_timeout_ms: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._out_of_orderness_ms = out_of_orderness_ms
        self._idle_timeout_s = idle_timeout_ms / 1000
        self._clock = clock
        self._partitions: dict[int, _Partition] = {}
        self._watermark = NO_WATERMARK
        self._followed = NO_WATERMARK

    def assign(self, partition: int, max_event_ms: int | None = None) -> None:
        """A partition joins (restored `max_event_ms` from a checkpoint, if any); it holds the watermark
        back until it delivers a reading or turns idle."""
        self._partitions[partition] = _Partition(max_event_ms, self._clock())

    def revoke(self, partition: int) -> None:
        self._partitions.pop(partition, None)

    def observe(self, partition: int, event_ms: int) -> None:
        """Record the highest event time of a batch from `partition`."""
        state = self._partitions.get(partition)
        if state is None:
            self._partitions[partition] = _Partition(event_ms, self._clock())
            return
        if state.max_event_ms is None or event_ms > state.max_event_ms:
            state.max_event_ms = event_ms
        state.last_seen_s = self._clock()

    def max_event_ms(self, partition: int) -> int | None:
        state = self._partitions.get(partition)
        return None if state is None else state.max_event_ms

    def active(self) -> int | None:
        """The watermark of the partitions still delivering, or None when every one is idle."""
        now = self._clock()
        if not any(now - p.last_seen_s < self._idle_timeout_s for p in self._partitions.values()):
            return None
        return self.current()

    def never_below(self, watermark_ms: int) -> None:
        """A restored task's watermark: windows it closed before stay closed."""
        self._watermark = max(self._watermark, watermark_ms)

    def follow(self, watermark_ms: int) -> None:
        """The watermark of the job's other, active tasks: it counts while every partition here is idle."""
        self._followed = max(self._followed, watermark_ms)

    def current(self) -> int:
        now = self._clock()
        active = [p for p in self._partitions.values() if now - p.last_seen_s < self._idle_timeout_s]
        if active:
            if any(p.max_event_ms is None for p in active):
                return self._watermark  # an active partition has not spoken yet
            candidate = min(p.max_event_ms for p in active if p.max_event_ms is not None)
        else:
            seen = [p.max_event_ms for p in self._partitions.values() if p.max_event_ms is not None]
            candidate = max(seen) if seen else NO_WATERMARK + self._out_of_orderness_ms
            self._watermark = max(self._watermark, self._followed)
        self._watermark = max(self._watermark, candidate - self._out_of_orderness_ms)
        return self._watermark

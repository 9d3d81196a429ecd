"""The readings a task has counted, kept for as long as counting one again could change a result.

A reading sent twice (a client's retry, a file imported again) comes with the same message id, so the
same datastream and time, both times. The log holds both copies and the store keeps one; a job must
count one too, or a re-sent day doubles its sum. A reading is known by what the store knows it by, its
datastream and time: a second reading at the same time (a copy, or a correction, which the store takes
in place of the first) is not counted again; `iotstream recompute` re-derives results from the store.

Per datastream, the counted times are an array of 8-byte integers, in order, as readings mostly come:
a new reading is one comparison and an append, and only one at or behind the newest needs a search.
Memory follows the open windows: times the watermark has left behind are forgotten.

A checkpoint every two seconds cannot rewrite all of them: `journal` gives them in segments written
once (`_dedup_journal`). Times in a segment leave the arrays for compressed blocks (`_packed_times`):
the day's readings a meter job keeps cost a byte or two each instead of eight.
"""

from array import array
from bisect import bisect_left, bisect_right
from typing import Any

from iotstream.processing._dedup_journal import Journal
from iotstream.processing._packed_times import PackedTimes

__all__ = ["SeenReadings"]

_BEFORE_ALL = -(2**63)  # the lowest a checkpoint (msgpack) holds


class SeenReadings:
    """Per task; `horizon_ms` is the job's `recount_horizon_ms`.

    >>> seen = SeenReadings(horizon_ms=60_000)
    >>> [seen.first_time("s1", t) for t in (1_000, 2_000, 1_000)], seen.first_time("s2", 1_000)
    ([True, True, False], True)
    >>> seen.forget_before(watermark_ms=1_000_000)  # far past: 1 s could no longer count anywhere
    >>> seen.first_time("s1", 1_000)
    True
    """

    def __init__(self, horizon_ms: int) -> None:
        self._horizon_ms = horizon_ms
        self._step_ms = max(horizon_ms // 8, 1_000)  # forget in steps, not at every batch
        self.times: dict[str, array[int]] = {}  # never empty; the hot loop in `Task` appends in order
        self._packed: dict[str, PackedTimes] = {}  # per key, times before its array's first
        self._oldest_ms = _BEFORE_ALL  # readings before it are late for every window: not kept
        self._dropped_before_ms = _BEFORE_ALL  # no time before it is kept
        self._journal = Journal()

    def first_time(self, key: str, event_ms: int) -> bool:
        """Whether no reading of `key` at `event_ms` was counted yet; remembers it."""
        times = self.times.get(key)
        if times is None:
            self.times[key] = array("q", (event_ms,))
            return True
        if event_ms > times[-1]:
            times.append(event_ms)
            return True
        if event_ms < self._oldest_ms:
            return True  # the windows will call it late, as they would have its first copy
        packed = self._packed.get(key)
        if packed and event_ms <= packed.last:  # in a segment already: the journal notes the new one
            if not packed.insert(event_ms):
                return False
            self._journal.inserted.append((key, event_ms))
            return True
        at = bisect_left(times, event_ms)
        if at < len(times) and times[at] == event_ms:
            return False
        times.insert(at, event_ms)
        if event_ms <= self._journal.up_to.get(key, _BEFORE_ALL):
            self._journal.inserted.append((key, event_ms))
        return True

    def forget_before(self, watermark_ms: int) -> None:
        """Readings the watermark has left `horizon_ms` behind count nowhere any more; their times are
        dropped in steps (a pass over every datastream), not at every batch."""
        oldest_ms = max(watermark_ms - self._horizon_ms, _BEFORE_ALL)
        if oldest_ms <= self._oldest_ms:
            return
        self._oldest_ms = oldest_ms
        if oldest_ms >= self._dropped_before_ms + self._step_ms:
            self._drop_before(oldest_ms)

    def _drop_before(self, oldest_ms: int) -> None:
        self._dropped_before_ms = oldest_ms
        for key, times in list(self.times.items()):
            gone = bisect_left(times, oldest_ms)
            if gone == len(times):
                del self.times[key]
                self._packed.pop(key, None)
                self._journal.up_to.pop(key, None)  # its next times, whatever they are, are all new
                continue
            del times[:gone]
            if packed := self._packed.get(key):
                packed.drop_before(oldest_ms)

    def _pack(self) -> None:
        """Times now in a segment move to compressed blocks; each array keeps at least its newest."""
        for key, times in self.times.items():
            up_to = self._journal.up_to.get(key)
            cut = 0 if up_to is None else min(bisect_right(times, up_to), len(times) - 1)
            if cut:
                self._packed.setdefault(key, PackedTimes()).add(times[:cut])
                del times[:cut]

    def __len__(self) -> int:
        """Safe from another thread (the stats): the dicts' values are copied in one step each."""
        packed = sum(p.count for p in list(self._packed.values()))
        return packed + sum(len(times) for times in list(self.times.values()))

    def nbytes(self) -> int:
        """About what the kept times take: arrays' items and compressed blocks (the stats)."""
        packed = sum(p.nbytes for p in list(self._packed.values()))
        return packed + 8 * sum(len(times) for times in list(self.times.values()))

    def everything(self) -> dict[str, "array[int]"]:
        """Every kept time per key, in order."""
        return {
            key: self._packed[key].unpacked() + t if key in self._packed else t
            for key, t in self.times.items()
        }

    def snapshot(self, watermark_ms: int) -> dict[str, Any]:
        """Exactly what the watermark leaves, so the state does not depend on how the log batched."""
        self.forget_before(watermark_ms)
        self._drop_before(self._oldest_ms)
        times = {key: t.tobytes() for key, t in self.everything().items()}  # native: little-endian everywhere
        return {"oldest_ms": self._oldest_ms, "times": times}

    def journal(self, watermark_ms: int) -> tuple[dict[str, Any], dict[str, bytes]]:
        """For an incremental checkpoint: its part of the state, and a segment to write with it (none,
        or one); call `saved` once the checkpoint is stored."""
        self.forget_before(watermark_ms)
        return self._journal.state(self.times, self._oldest_ms)

    def saved(self) -> None:
        """The last journal's checkpoint is stored."""
        if self._journal.saved():
            self._pack()

    def restore(self, snapshot: dict[str, Any], segments: dict[str, bytes] | None = None) -> None:
        """From a whole `snapshot`, or from a `journal` state and its segments' data."""
        self._oldest_ms = self._dropped_before_ms = snapshot["oldest_ms"]
        self._packed = {}
        if "times" in snapshot:  # in order already, as `snapshot` wrote them
            self.times = {key: _times(raw) for key, raw in snapshot["times"].items()}
            self._journal.forget()
            return
        self.times = {}
        for key, times_ms in self._journal.restore(snapshot, segments or {}).items():
            kept = sorted({t for t in times_ms if t >= self._oldest_ms})
            if kept:
                self.times[key] = array("q", kept)
        self._pack()


def _times(raw: bytes) -> "array[int]":
    times = array("q")
    times.frombytes(raw)
    return times

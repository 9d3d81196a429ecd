"""What of a task's counted readings (`dedup.SeenReadings`) its checkpoints hold, and how they hold it.

Rewriting every counted time at every checkpoint (every two seconds) grows with the open windows: with
a daily window at 5,000 readings/s, 12 MB after five minutes and 3.5 GB by the day's end. Instead the
times are saved once, in segments the checkpoint store writes as records of their own (`checkpoints`):
a checkpoint carries the times counted since the last segment inline, and once those pass
`SEGMENT_BYTES` they become the next segment. A checkpoint then writes at most about that much of them
however long the day, plus the list of segments it needs (a few bytes each); a segment goes when the
horizon has passed its newest time. A restore reads the segments and the inline times back.
"""

import uuid
from array import array
from bisect import bisect_right
from typing import Any

import msgspec

__all__ = ["SEGMENT_BYTES", "Journal"]

SEGMENT_BYTES = 512 * 1024  # 65,536 times
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(dict[str, bytes]).decode


class Journal:
    """Per key, segments hold every time up to `up_to[key]` except those in `inserted` (counted behind
    it later); everything else in memory is not in a segment yet."""

    def __init__(self) -> None:
        self.up_to: dict[str, int] = {}
        self.inserted: list[tuple[str, int]] = []
        self._segments: dict[str, int] = {}  # name → its newest time
        self._next = 0  # the next segment's number
        self._pending: dict[str, Any] | None = None  # what the last `state` changes once it is saved

    def state(
        self, times: dict[str, "array[int]"], oldest_ms: int
    ) -> tuple[dict[str, Any], dict[str, bytes]]:
        """The checkpoint's part (segments needed, times not in one) and a segment to write, if due."""
        fresh = self._fresh(times, oldest_ms)
        segments = {name: newest for name, newest in self._segments.items() if newest >= oldest_ms}
        encoded = {key: t.tobytes() for key, t in fresh.items()}
        self._pending = {"segments": segments}
        if sum(map(len, encoded.values())) < SEGMENT_BYTES:
            return {"oldest_ms": oldest_ms, "segments": segments, "next": self._next, "inline": encoded}, {}
        # unique: two owners of a task for a moment (a rebalance) must not write parts of one name
        name, self._next = f"{self._next}-{uuid.uuid4().hex[:8]}", self._next + 1
        segments = segments | {name: max(map(max, fresh.values()))}
        self._pending = {"segments": segments, "up_to": {key: t[-1] for key, t in times.items()}}
        state = {"oldest_ms": oldest_ms, "segments": segments, "next": self._next, "inline": {}}
        return state, {name: _encode(encoded)}

    def saved(self) -> bool:
        """Whether a segment was among what is saved (`up_to` moved)."""
        pending, self._pending = self._pending, None
        if pending is None:
            return False
        self._segments = pending["segments"]
        if "up_to" not in pending:
            return False
        self.up_to, self.inserted = pending["up_to"], []
        return True

    def restore(self, state: dict[str, Any], data: dict[str, bytes]) -> dict[str, list[int]]:
        """Every time the checkpoint holds, per key (unsorted); remembers which are in segments."""
        found: dict[str, list[int]] = {}
        for name in state["segments"]:
            for key, raw in _decode(data[name]).items():
                found.setdefault(key, []).extend(_times(raw))
        self.up_to = {key: max(times) for key, times in found.items() if times}
        self.inserted = []
        for key, raw in state["inline"].items():
            inline = _times(raw)
            found.setdefault(key, []).extend(inline)
            self.inserted += [(key, t) for t in inline if t <= self.up_to.get(key, t - 1)]
        self._segments, self._next, self._pending = dict(state["segments"]), state["next"], None
        return found

    def forget(self) -> None:
        """A restore from a whole snapshot: nothing is in a segment."""
        self.up_to, self.inserted, self._segments, self._pending = {}, [], {}, None

    def _fresh(self, times: dict[str, "array[int]"], oldest_ms: int) -> dict[str, "array[int]"]:
        fresh: dict[str, array[int]] = {}
        for key, counted in times.items():
            up_to = self.up_to.get(key)
            start = 0 if up_to is None else bisect_right(counted, up_to)
            if start < len(counted):
                fresh[key] = counted[start:]
        for key, event_ms in self.inserted:
            if event_ms >= oldest_ms:
                fresh.setdefault(key, array("q")).append(event_ms)
        return fresh


def _times(raw: bytes) -> "array[int]":
    times = array("q")
    times.frombytes(raw)
    return times

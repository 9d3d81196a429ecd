"""What `subscribe` yields: the live readings, window results and alerts of the datastreams asked for.

The WebSocket `/api/v1/live` sends each batch as a JSON array of `{"type": "reading" | "window" |
"alert", "event": {...}}`, in log order per datastream; `decode` turns one message into typed events.
Times are epoch milliseconds (`*_ms`), each with an aware UTC datetime property beside it.
"""

from datetime import datetime
from typing import Any

import msgspec

from iotstream.client._time import to_datetime

__all__ = ["AlertEvent", "Event", "ReadingEvent", "WindowEvent", "decode"]


class ReadingEvent(msgspec.Struct, frozen=True):
    """A reading as the platform accepted it; `id` is its message id."""

    datastream: str
    time_ms: int = msgspec.field(name="time")
    value: Any = None
    id: str | None = None
    received_ms: int | None = msgspec.field(default=None, name="resultTime")

    @property
    def time(self) -> datetime:
        return to_datetime(self.time_ms)


class WindowEvent(msgspec.Struct, frozen=True):
    """A window's result (e.g. a daily meter value); a later `revision` of the same window replaces it."""

    datastream: str = msgspec.field(name="key")
    window: str = ""
    start_ms: int = msgspec.field(default=0, name="start")
    end_ms: int = msgspec.field(default=0, name="end")
    revision: int = 0
    value: Any = None  # the job's value when it computes one; else see the aggregates below
    count: int | None = None
    sum: float | None = None
    min: float | None = None
    max: float | None = None
    avg: float | None = None
    first: float | None = None
    last: float | None = None

    @property
    def start(self) -> datetime:
        return to_datetime(self.start_ms)

    @property
    def end(self) -> datetime:
        return to_datetime(self.end_ms)


class AlertEvent(msgspec.Struct, frozen=True):
    """An alert episode opened, updated or closed (`event`), as a rule saw it at `time_ms`."""

    datastream: str
    time_ms: int
    rule: str
    event: str  # "open", "update" or "close"
    state: str  # "open" or "closed"
    kind: str = "threshold"
    start_ms: int | None = None
    last_ms: int | None = None
    closed_at_ms: int | None = None
    duration_s: float | None = None
    max: float | None = None
    avg: float | None = None
    threshold: float | None = None
    direction: str | None = None
    unit: str | None = None

    @property
    def time(self) -> datetime:
        return to_datetime(self.time_ms)


Event = ReadingEvent | WindowEvent | AlertEvent


class _Episode(msgspec.Struct):
    rule: str = ""
    event: str = ""
    state: str = ""
    kind: str = "threshold"
    start: int | None = None
    last: int | None = None
    closed_at: int | None = None
    duration_s: float | None = None
    max: float | None = None
    avg: float | None = None
    threshold: float | None = None
    direction: str | None = None
    unit: str | None = None


class _Alert(msgspec.Struct):
    key: str
    time: int
    value: _Episode


class _Frame(msgspec.Struct):
    type: str
    event: msgspec.Raw


_frames = msgspec.json.Decoder(list[_Frame])
_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    "reading": msgspec.json.Decoder(ReadingEvent),
    "window": msgspec.json.Decoder(WindowEvent),
    "alert": msgspec.json.Decoder(_Alert),
}


def decode(message: str | bytes) -> list[Event]:
    """The events of one live message; event types this client does not know are skipped."""
    events: list[Event] = []
    for frame in _frames.decode(message):
        decoder = _DECODERS.get(frame.type)
        if decoder is not None:
            event = decoder.decode(frame.event)
            events.append(_flat(event) if isinstance(event, _Alert) else event)
    return events


def _flat(alert: _Alert) -> AlertEvent:
    episode = alert.value
    return AlertEvent(
        datastream=alert.key,
        time_ms=alert.time,
        rule=episode.rule,
        event=episode.event,
        state=episode.state,
        kind=episode.kind,
        start_ms=episode.start,
        last_ms=episode.last,
        closed_at_ms=episode.closed_at,
        duration_s=episode.duration_s,
        max=episode.max,
        avg=episode.avg,
        threshold=episode.threshold,
        direction=episode.direction,
        unit=episode.unit,
    )

"""Live messages as the platform frames them (its own encoders and `_Events`) decode into the client's
typed events, field by field."""

import asyncio
from datetime import UTC, datetime

import msgspec

from iotstream.api.live import LiveClient, _Events
from iotstream.client.events import AlertEvent, ReadingEvent, WindowEvent, decode
from iotstream.processing.codec import encode_event
from iotstream.processing.windowing import WindowResult

TYPES = {"observations": b"reading", "aggregates.1d": b"window", "alerts": b"alert"}
DAY = 86_400_000
T0 = 1_767_225_600_000  # 2026-01-01


def live_message(*records: tuple[str, bytes, str]) -> bytes:
    """One message of `/api/v1/live` for a client of every datastream."""
    events = _Events(TYPES)
    for key, value, topic in records:
        events.add(key.encode(), value, topic)
    loop = asyncio.new_event_loop()
    try:
        return b"[" + b",".join(events.wanted_by(LiveClient(["*"], loop, 8))) + b"]"
    finally:
        loop.close()


def test_readings_window_results_and_alerts_decode_into_typed_events() -> None:
    reading = {"datastream": "m/E", "time": T0 + 5, "value": 7.5, "id": "abc", "resultTime": T0 + 9}
    stats = {"count": 2, "sum": 15.0, "min": 7.5, "max": 7.5, "avg": 7.5, "first": 7.5, "last": 7.5}
    window = encode_event(("m/E", WindowResult("m/E", "1d", T0, T0 + DAY, stats, revision=1), T0 + DAY))
    episode = {"rule": "hot", "kind": "threshold", "datastream": "m/E", "event": "close", "state": "closed"}
    episode |= {"start": T0, "last": T0 + 5, "duration_s": 0.005, "max": 40.0, "avg": 35.0, "threshold": 30.0}
    episode |= {"direction": "above", "hysteresis": 0.0, "unit": None, "closed_at": T0 + 6}
    alert = encode_event(("m/E", episode, T0 + 6))
    message = live_message(
        ("m/E", msgspec.json.encode(reading), "observations"),
        ("m/E", window, "aggregates.1d"),
        ("m/E", alert, "alerts"),
    )
    got_reading, got_window, got_alert = decode(message)
    assert got_reading == ReadingEvent("m/E", T0 + 5, 7.5, "abc", T0 + 9)
    assert got_reading.time == datetime(2026, 1, 1, 0, 0, 0, 5000, tzinfo=UTC)
    assert got_window == WindowEvent("m/E", "1d", T0, T0 + DAY, 1, None, 2, 15.0, 7.5, 7.5, 7.5, 7.5, 7.5)
    assert (got_window.start, got_window.end) == (
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 2, tzinfo=UTC),
    )
    assert got_alert == AlertEvent(
        datastream="m/E",
        time_ms=T0 + 6,
        rule="hot",
        event="close",
        state="closed",
        start_ms=T0,
        last_ms=T0 + 5,
        closed_at_ms=T0 + 6,
        duration_s=0.005,
        max=40.0,
        avg=35.0,
        threshold=30.0,
        direction="above",
    )


def test_an_event_type_the_client_does_not_know_is_skipped() -> None:
    message = (
        b'[{"type":"someday","event":{}},{"type":"reading","event":{"datastream":"s","time":1,"value":2}}]'
    )
    assert decode(message) == [ReadingEvent("s", 1, 2)]

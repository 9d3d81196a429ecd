"""Driving a simulator: generate, pace, publish, count. Shared by `iotstream simulate` and the demo."""

import threading
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from typing import Any

from iotstream.sim.publish import HttpPublisher, MqttPublisher, Publisher, paced
from iotstream.sim.smart_home import DAY_MS, SmartHome, smart_home_readings

__all__ = ["houses", "midnight_days_ago", "open_publisher", "simulate"]


def houses(count: int, start_ms: int, days: int, seed: int) -> Iterator[dict[str, Any]]:
    """Readings of `count` houses, interleaved in time; one house keeps the bare sensor names."""
    homes = [
        SmartHome(start_ms, days, seed + n, prefix="" if count == 1 else f"house{n + 1}/")
        for n in range(count)
    ]
    streams = [smart_home_readings(home) for home in homes]
    yield from chain.from_iterable(zip(*streams, strict=False)) if count > 1 else streams[0]


def open_publisher(url: str) -> Publisher:
    """`http://host:port` (the API) or `mqtt://host:port` (a broker)."""
    if url.startswith("mqtt://"):
        host, _, port = url.removeprefix("mqtt://").rstrip("/").partition(":")
        return MqttPublisher(host or "127.0.0.1", int(port or 1883))
    if url.startswith(("http://", "https://")):
        return HttpPublisher(url)
    raise ValueError(f"cannot publish to {url!r}; use http://host:port or mqtt://host:port")


def simulate(
    readings: Iterable[dict[str, Any]],
    publisher: Publisher,
    speed: float,
    stop: threading.Event,
    on_sent: Callable[[int, int], None] = lambda count, time_ms: None,
) -> int:
    """Publish until the readings end or `stop` is set; returns how many were sent."""
    sent = 0
    try:
        for batch in paced(readings, speed, stop):
            publisher.send(batch)
            sent += len(batch)
            on_sent(sent, batch[-1]["time"])
    finally:
        publisher.close()
    return sent


def midnight_days_ago(now_ms: int, days: int) -> int:
    return now_ms - now_ms % DAY_MS - days * DAY_MS

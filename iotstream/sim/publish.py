"""Sending simulated readings the way devices do: over HTTP or MQTT, in (compressed) real time.

`paced` releases readings when their simulated time comes: with `speed` 900, one wall-clock second is
15 simulated minutes (the originals' default). Late readings, stamped in the past, go out when the
simulator sends them, which is the point of them.
"""

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

import httpx
import msgspec
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

__all__ = ["HttpPublisher", "MqttPublisher", "Publisher", "paced"]

_encoder = msgspec.json.Encoder()


class Publisher(Protocol):
    def send(self, readings: list[dict[str, Any]]) -> None: ...

    def close(self) -> None: ...


def paced(
    readings: Iterable[dict[str, Any]],
    speed: float,
    stop: threading.Event,
    *,
    max_batch: int = 500,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[list[dict[str, Any]]]:
    """Batches of readings whose simulated time has come; speed 0 sends as fast as possible."""
    started, first_ms, newest_ms = clock(), None, None
    batch: list[dict[str, Any]] = []
    for reading in readings:
        if stop.is_set():
            return
        first_ms = reading["time"] if first_ms is None else first_ms
        newest_ms = reading["time"] if newest_ms is None else max(newest_ms, reading["time"])
        due_s = (newest_ms - first_ms) / 1000 / speed if speed else 0.0
        if batch and (len(batch) >= max_batch or clock() - started < due_s):
            yield batch
            batch = []
        wait_s = due_s - (clock() - started)
        if wait_s > 0 and stop.wait(wait_s):
            return
        batch.append(reading)
    if batch:
        yield batch


class HttpPublisher:
    """POSTs batches to `/api/v1/readings`; waits out a 503 as its Retry-After asks, then resends."""

    def __init__(self, base_url: str, timeout_s: float = 30.0) -> None:
        self._client = httpx.Client(base_url=base_url, timeout=timeout_s)

    def send(self, readings: list[dict[str, Any]]) -> None:
        body = _encoder.encode(readings)
        while True:
            answer = self._client.post("/api/v1/readings", content=body)
            if answer.status_code != 503:
                break
            time.sleep(float(answer.headers.get("retry-after", "1")))
        answer.raise_for_status()
        rejected = answer.json()["rejected"]
        if rejected:
            raise ValueError(f"the platform rejected {len(rejected)} readings, first: {rejected[0]}")

    def close(self) -> None:
        self._client.close()


class MqttPublisher:
    """Publishes each reading to `topic` (with `{datastream}` filled in) at QoS 1 and waits for acks."""

    def __init__(self, host: str, port: int, topic: str = "iotstream/{datastream}/readings") -> None:
        self._topic = topic
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="", clean_session=True)
        self._client.max_inflight_messages_set(1000)
        self._client.max_queued_messages_set(0)
        self._client.connect(host, port)
        self._client.loop_start()

    def send(self, readings: list[dict[str, Any]]) -> None:
        infos = [
            self._client.publish(self._topic.format(datastream=r["datastream"]), _encoder.encode(r), qos=1)
            for r in readings
        ]
        for info in infos:
            info.wait_for_publish(timeout=30)

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()

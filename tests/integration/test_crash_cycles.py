"""`iotstream up` SIGKILLed at random moments 20 times under mixed HTTP and MQTT load, with a meter job,
a threshold rule and a webhook: afterwards every reading the platform acknowledged (HTTP 202) or the
broker took is stored once, the daily job results are those of the stored readings counted once each,
and every alert episode whose readings were acknowledged reached the webhook - at least once, and once
per event after dropping repeats by the message's `id`, as a receiver does."""

import random
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from iotstream.sim.publish import MqttPublisher
from tests.meters import DAY
from tests.receivers import HttpReceiver
from tests.servers import Server, start_mqtt_broker, start_up

pytestmark = [pytest.mark.slow, pytest.mark.crash]

CYCLES = 20
D0 = 19_723 * DAY  # 2024-01-01
M = 60_000
_RANDOM = random.Random(20261203)  # the kill moments, the same every run


def _config(broker: Server, webhook: HttpReceiver) -> str:
    return f"""
[storage.retention]
raw = "36500d"
"1m" = "36500d"
"1h" = "36500d"

[mqtt]
enabled = true
url = "mqtt://127.0.0.1:{broker.port}"

[[jobs]]
type = "daily_meters"
name = "count"
aggregate = {{ load = "sum", "mqtt-load" = "sum" }}

[[jobs]]
type = "threshold"
name = "hot"
datastreams = ["temp-*"]
above = 100.0
hysteresis = 1.0

[notify]
retry_initial = "100ms"
retry_max = "500ms"

[[notify.sinks]]
type = "webhook"
url = "{webhook.url}/hook"
"""


class Load:
    """HTTP posters and an MQTT publisher, each remembering what was acknowledged to it."""

    def __init__(self, broker: Server) -> None:
        self.http: list[int] = []  # reading numbers of the `load` datastream the platform answered 202
        self.mqtt: list[int] = []  # of `mqtt-load`, that the broker acknowledged
        self.episodes: list[int] = []  # cycles whose alert episode the platform answered 202
        self._numbers = iter(range(10**9))
        self._lock = threading.Lock()
        self._broker = broker

    def next_numbers(self, count: int) -> list[int]:
        with self._lock:
            return [next(self._numbers) for _ in range(count)]

    def run(self, url: str, cycle: int, stop: threading.Event) -> list[threading.Thread]:
        workers = [
            threading.Thread(target=self._post, args=(url, stop)),
            threading.Thread(target=self._post, args=(url, stop)),
            threading.Thread(target=self._publish, args=(stop,)),
            threading.Thread(target=self._episode, args=(url, cycle)),
        ]
        for worker in workers:
            worker.start()
        return workers

    def _post(self, url: str, stop: threading.Event) -> None:
        with httpx.Client(base_url=url, timeout=10) as api:
            while not stop.is_set():
                numbers = self.next_numbers(50)
                batch = [{"datastream": "load", "time": D0 + n * 100, "value": 1} for n in numbers]
                try:
                    answer = api.post("/api/v1/readings", json=batch)
                except httpx.TransportError:
                    return  # killed mid-request: this batch may or may not have been taken
                if answer.status_code == 202:
                    self.http.extend(numbers)

    def _publish(self, stop: threading.Event) -> None:
        publisher = MqttPublisher("127.0.0.1", self._broker.port)
        try:
            while not stop.is_set():
                numbers = self.next_numbers(20)
                readings = [{"datastream": "mqtt-load", "time": D0 + n * 100, "value": 1} for n in numbers]
                publisher.send(readings)
                self.mqtt.extend(numbers)  # the broker has each (QoS 1, acknowledged), the platform's or not
        finally:
            publisher.close()

    def _episode(self, url: str, cycle: int) -> None:
        """One alert episode of this cycle's own datastream: opens at 101, closes at 98."""
        start = D0 + cycle * 10 * M
        values = [(99.0, 0), (101.0, 1), (98.0, 2), (98.0, 3)]
        readings = [{"datastream": f"temp-{cycle}", "time": start + i * M, "value": v} for v, i in values]
        try:
            if httpx.post(f"{url}/api/v1/readings", json=readings, timeout=10).status_code == 202:
                self.episodes.append(cycle)
        except httpx.TransportError:
            pass


def _kill_cycles(tmp_path: Path, load: Load) -> None:
    for cycle in range(CYCLES):
        process, url = start_up(tmp_path)
        stop = threading.Event()
        workers = load.run(url, cycle, stop)
        time.sleep(_RANDOM.uniform(0.2, 2.5))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        stop.set()
        for worker in workers:
            worker.join(timeout=60)


def test_twenty_sigkills_under_load_lose_no_acknowledged_reading_and_no_alert(tmp_path: Path) -> None:
    broker = start_mqtt_broker(tmp_path)
    webhook = HttpReceiver().start()
    (tmp_path / "iotstream.toml").write_text(_config(broker, webhook))
    load = Load(broker)
    try:
        _kill_cycles(tmp_path, load)
        assert len(load.http) > 2_000, "too little HTTP load to mean anything"
        assert len(load.mqtt) > 500, "too little MQTT load to mean anything"
        assert len(load.episodes) >= CYCLES // 2, "too few episodes acknowledged to mean anything"
        process, url = start_up(tmp_path)
        try:
            _check(url, load, webhook)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)
        assert process.returncode == 0
    finally:
        webhook.stop()
        broker.stop()


def _check(url: str, load: Load, webhook: HttpReceiver) -> None:
    names = {"load": load.http, "mqtt-load": load.mqtt}
    with httpx.Client(base_url=url, timeout=30) as api:
        for name, acknowledged in names.items():  # the broker's backlog too, before the day closes
            _until(api, name, len(acknowledged))
        closing = [{"datastream": name, "time": D0 + DAY + 1, "value": 0} for name in names]
        assert api.post("/api/v1/readings", json=closing).status_code == 202  # the day's windows close
        for name, acknowledged in names.items():
            day = _until_day(api, name)
            # The log may also hold readings of requests a kill cut short (taken, never answered):
            # the job counted them, and the store has them once the sink has caught up.
            stored = _numbers(_until(api, name, day["count"]))
            assert set(acknowledged) <= set(stored), f"an acknowledged {name} reading was lost"
            assert len(stored) == len(set(stored)), f"a {name} reading was stored twice"
            assert (day["count"], day["sum"]) == (len(stored), len(stored)), f"{name} counted twice or not"
    _check_notifications(load.episodes, webhook)


def _until(api: httpx.Client, name: str, count: int, timeout_s: float = 120) -> list[dict[str, Any]]:
    """The readings of the first day, once there are at least `count` (or the time is up)."""
    deadline = time.monotonic() + timeout_s
    while True:
        rows = _first_day(api, name)
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.5)


def _first_day(api: httpx.Client, name: str) -> list[dict[str, Any]]:
    """Page after page, as the Link header leads."""
    rows: list[dict[str, Any]] = []
    params: dict[str, Any] = {"datastream": name, "to": D0 + DAY, "limit": 100_000}
    while True:
        answer = api.get("/api/v1/readings", params=params)
        assert answer.status_code == 200, answer.text
        rows += answer.json()
        if "link" not in answer.headers:
            return rows
        params["after"] = str(_ms(rows[-1]["time"]))


def _until_day(api: httpx.Client, name: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while not (days := api.get("/api/v1/aggregates", params={"datastream": name}).json()):
        assert time.monotonic() < deadline, f"no daily result for {name}"
        time.sleep(0.5)
    (day,) = days
    return day  # type: ignore[no-any-return]


def _ms(iso: str) -> int:
    from datetime import datetime

    return round(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def _numbers(rows: list[dict[str, Any]]) -> list[int]:
    return [(_ms(r["time"]) - D0) // 100 for r in rows]


def _check_notifications(episodes: list[int], webhook: HttpReceiver) -> None:
    wanted = {(f"temp-{cycle}", event) for cycle in episodes for event in ("open", "close")}
    deadline = time.monotonic() + 120
    while True:
        hooks = webhook.bodies("/hook")
        seen = {(hook["alert"]["datastream"], hook["alert"]["event"]) for hook in hooks}
        if wanted <= seen or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert wanted <= seen, f"alerts never notified: {sorted(wanted - seen)}"
    unique = {hook["id"]: hook for hook in hooks}  # what the receiver keeps
    per_event = Counter((hook["alert"]["datastream"], hook["alert"]["event"]) for hook in unique.values())
    assert all(count == 1 for count in per_event.values()), per_event

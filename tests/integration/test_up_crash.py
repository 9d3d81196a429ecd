"""`iotstream up` killed with SIGKILL under load: after a restart every accepted reading is stored once,
and the meter job's daily count agrees with the stored readings (nothing counted twice)."""

import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from iotstream.sim.publish import MqttPublisher
from tests.meters import DAY
from tests.servers import start_mqtt_broker, start_up

pytestmark = [pytest.mark.slow, pytest.mark.crash]

D0 = 19_723 * DAY
CONFIG = """
[storage.retention]
raw = "36500d"
"1m" = "36500d"
"1h" = "36500d"

[[jobs]]
type = "daily_meters"
name = "count"
aggregate = { load = "sum" }
"""


def post_until_killed(url: str, first: int, accepted: list[int], stop: threading.Event) -> None:
    """Batches of 50 readings with unique times; remembers the batches the platform answered 202."""
    number = first
    with httpx.Client(base_url=url, timeout=10) as api:
        while not stop.is_set():
            batch = [{"datastream": "load", "time": D0 + (number + i) * 100, "value": 1} for i in range(50)]
            try:
                answer = api.post("/api/v1/readings", json=batch)
            except httpx.TransportError:
                return  # killed mid-request: this batch may or may not have been taken
            if answer.status_code == 202:
                accepted.extend(range(number, number + 50))
            number += 50 * 4  # four posters, disjoint numbers


def test_sigkill_under_load_loses_no_accepted_reading_and_counts_none_twice(tmp_path: Path) -> None:
    (tmp_path / "iotstream.toml").write_text(CONFIG)
    process, url = start_up(tmp_path)
    accepted: list[int] = []
    stop = threading.Event()
    posters = [
        threading.Thread(target=post_until_killed, args=(url, 50 * n, accepted, stop)) for n in range(4)
    ]
    try:
        for poster in posters:
            poster.start()
        time.sleep(3)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        stop.set()
        for poster in posters:
            poster.join()
    assert len(accepted) > 1_000, "too little load to mean anything"
    process, url = start_up(tmp_path)
    try:
        with httpx.Client(base_url=url, timeout=30) as api:
            closing = {"datastream": "load", "time": D0 + DAY + 1, "value": 0}
            assert api.post("/api/v1/readings", json=closing).status_code == 202
            deadline = time.monotonic() + 60
            while True:
                days = api.get("/api/v1/aggregates", params={"datastream": "load"}).json()
                stored = api.get(
                    "/api/v1/readings", params={"datastream": "load", "to": D0 + DAY, "limit": 100_000}
                ).json()
                if days or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        stored_numbers = [(int(_ms(r["time"])) - D0) // 100 for r in stored]
        assert set(accepted) <= set(stored_numbers), "an accepted reading was lost"
        assert len(stored_numbers) == len(set(stored_numbers))
        (day,) = days
        assert day["count"] == len(stored_numbers)  # the job counted each stored reading exactly once
        assert day["sum"] == len(stored_numbers)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    assert process.returncode == 0


def _ms(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000


def test_sigkill_while_readings_arrive_over_mqtt_loses_none_the_broker_took_and_stores_each_once(
    tmp_path: Path,
) -> None:
    """The platform acknowledges a message to the broker only once the log has it, and its session
    outlives it: what the broker took from devices is stored after a restart, whatever the kill hit."""
    broker = start_mqtt_broker(tmp_path)
    url = f"mqtt://127.0.0.1:{broker.port}"
    (tmp_path / "iotstream.toml").write_text(f'{CONFIG}\n[mqtt]\nenabled = true\nurl = "{url}"\n')
    publisher = MqttPublisher("127.0.0.1", broker.port)
    try:
        process, _ = start_up(tmp_path)
        readings = [{"datastream": "mqtt-load", "time": D0 + n * 100, "value": 1} for n in range(6_000)]
        for start in range(0, 3_000, 500):
            publisher.send(readings[start : start + 500])  # each acknowledged by the broker
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        publisher.send(readings[3_000:])  # while the platform is down: kept in its session
        process, api_url = start_up(tmp_path)
        try:
            stored = wait_for_readings(api_url, "mqtt-load", 6_000)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)
    finally:
        publisher.close()
        broker.stop()
    numbers = [(int(_ms(r["time"])) - D0) // 100 for r in stored]
    assert sorted(numbers) == list(range(6_000))  # each once, none lost


def wait_for_readings(url: str, datastream: str, count: int, timeout_s: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=url, timeout=30) as api:
        while True:
            params = {"datastream": datastream, "limit": 100_000}
            stored: list[dict[str, Any]] = api.get("/api/v1/readings", params=params).json()
            if len(stored) >= count or time.monotonic() > deadline:
                return stored
            time.sleep(0.2)

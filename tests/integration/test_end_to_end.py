"""Devices → HTTP → log → meter job → storage → query API, in one embedded platform, checked against
values computed straight from the readings."""

import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform
from iotstream.log.topics import DEADLETTER
from iotstream.sim import SmartHome, smart_home_readings
from iotstream.sim.publish import MqttPublisher
from tests.meters import DAY, HOME, expected_days
from tests.servers import start_mqtt_broker

D0 = 19_723 * DAY  # 2024-01-01
KEEP_ALL = {"raw": "36500d", "1m": "36500d", "1h": "36500d"}  # the stream is from 2024


def start_platform(data_dir: Path, lateness: str, **settings: Any) -> EmbeddedPlatform:
    settings = {"jobs": [{**HOME, "allowed_lateness": lateness}], "api": {"port": 0}} | settings
    return EmbeddedPlatform(
        load_settings(data_dir=data_dir, storage={"retention": KEEP_ALL}, **settings)
    ).start()


@pytest.fixture
def platform_factory(tmp_path: Path) -> Iterator[Callable[..., EmbeddedPlatform]]:
    started: list[EmbeddedPlatform] = []

    def start(lateness: str, **settings: Any) -> EmbeddedPlatform:
        started.append(start_platform(tmp_path, lateness, **settings))
        return started[-1]

    yield start
    for platform in started:
        platform.stop()


def house() -> list[dict[str, Any]]:
    return list(smart_home_readings(SmartHome(D0, days=3, seed=11)))


def stored_days(api: httpx.Client, names: list[str]) -> dict[tuple[str, int], float]:
    days = {}
    for name in names:
        for row in api.get("/api/v1/aggregates", params={"datastream": name, "window": "1d"}).json():
            days[(name, _ms(row["start"]))] = row["value"]
    return days


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def wait_for_days(
    api: httpx.Client, expected: dict[tuple[str, int], float], timeout_s: float = 60
) -> dict[tuple[str, int], float]:
    names = sorted({name for name, _ in expected})
    deadline = time.monotonic() + timeout_s
    while True:
        got = stored_days(api, names)
        done = got.keys() == expected.keys() and all(
            got[k] == pytest.approx(v, rel=1e-9, abs=1e-6) for k, v in expected.items()
        )
        if done or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def check_against_the_readings(api: httpx.Client, readings: list[dict[str, Any]], lateness_ms: int) -> None:
    as_tuples = [(r["datastream"], r["value"], r["time"]) for r in readings]
    expected, expected_late = expected_days(as_tuples, lateness_ms)
    got = wait_for_days(api, expected)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-6), key
    late = api.get("/api/v1/late", params={"datastream": "W1"}).json()
    assert sorted((_ms(r["time"]), r["value"]) for r in late) == sorted((t, v) for _, v, t in expected_late)
    assert all(r["late_by_s"] > 0 and r["job"] == "home" for r in late)


@pytest.mark.parametrize(("lateness", "lateness_ms"), [("0s", 0), ("3d", 3 * DAY)])
def test_a_house_posted_over_http_gives_the_daily_values_differences_and_leakage(
    platform_factory: Callable[..., EmbeddedPlatform], lateness: str, lateness_ms: int
) -> None:
    platform = platform_factory(lateness)
    assert platform.api is not None
    readings = house()
    with httpx.Client(base_url=platform.api.url, timeout=30) as api:
        for start in range(0, len(readings), 100):
            answer = api.post("/api/v1/readings", content=msgspec.json.encode(readings[start : start + 100]))
            assert answer.status_code == 202, answer.text
            assert answer.json()["rejected"] == []
        check_against_the_readings(api, readings, lateness_ms)
        stored = api.get("/api/v1/readings", params={"datastream": "W1", "limit": 100_000}).json()
        assert len(stored) == len([r for r in readings if r["datastream"] == "W1"])


def settle(platform: EmbeddedPlatform, timeout_s: float = 30) -> None:
    """Until every consumer group (jobs, sink) has committed everything: jobs commit after their
    outputs are acknowledged, so all they derived is in the store too. Twice in a row, as the groups
    are asked one after another."""
    deadline, calm = time.monotonic() + timeout_s, 0
    while calm < 2:
        assert time.monotonic() < deadline, [g for g in platform.stats()["lag"] if g["lag"]]
        calm = calm + 1 if all(group["lag"] == 0 for group in platform.stats()["lag"]) else 0
        time.sleep(0.5)


def test_a_house_posted_twice_is_counted_once_by_the_job(
    platform_factory: Callable[..., EmbeddedPlatform],
) -> None:
    """A client's retry or a repeated import: every reading comes again with its message id, in other
    batches, and no daily value, difference or leakage changes (without the job's memory of message ids,
    22 of the 42 doubled)."""
    platform = platform_factory("3d")
    assert platform.api is not None
    readings = house()
    with httpx.Client(base_url=platform.api.url, timeout=30) as api:
        for size in (100, 37):
            for start in range(0, len(readings), size):
                batch = readings[start : start + size]
                answer = api.post("/api/v1/readings", content=msgspec.json.encode(batch))
                assert answer.json()["accepted"] == len(batch)
        settle(platform)
        expected, expected_late = expected_days(
            [(r["datastream"], r["value"], r["time"]) for r in readings], 3 * DAY
        )
        got = stored_days(api, sorted({name for name, _ in expected}))
        assert got.keys() == expected.keys()
        for key, value in expected.items():
            assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-6), key
        assert platform.stats()["jobs"]["home"]["events_in"] == 2 * len(readings)
        jobs = platform.stats()["jobs"]["home"]
        assert 0 < jobs["counted_readings_kept"] <= len(readings)  # once each
        assert 0 < jobs["counted_readings_bytes"] <= 8 * jobs["counted_readings_kept"]
        sink = api.get("/api/v1/stats").json()["sink"]
        assert sink["store_memory_bytes"] > 0  # DuckDB holds them
        assert sink["store_eviction_queue_entries"] > 0
        # A copy that comes after its window is final is reported late, as any reading would be: the
        # window keeps what its first copy made of it.
        late = {
            (_ms(r["time"]), r["value"]) for r in api.get("/api/v1/late", params={"datastream": "W1"}).json()
        }
        assert late >= {(t, v) for _, v, t in expected_late}
        assert late <= {(r["time"], r["value"]) for r in readings if r["datastream"] == "W1"}


def test_a_batch_with_malformed_readings_stores_the_good_ones_and_names_each_bad_one(
    platform_factory: Callable[..., EmbeddedPlatform],
) -> None:
    platform = platform_factory("0s")
    assert platform.api is not None
    batch: list[Any] = [{"datastream": "s1", "time": D0 + i * 1000, "value": i} for i in range(1_000)]
    broken = {
        3: {"datastream": "s1", "time": "yesterday", "value": 1},
        97: {"datastream": "", "value": 1},
        150: {"time": D0, "value": 1},
        201: {"datastream": "s1", "time": D0, "value": None},
        333: {"datastream": "s1", "time": 1.5, "value": 1},
        404: "not an object",
        555: {"datastream": "s1", "time": -5, "value": 1},
        678: {"datastream": 7, "value": 1},
        800: {"datastream": "s1", "time": D0, "value": 1, "id": ""},
        999: {"datastream": "s1", "time": "2024-13-01T00:00:00Z", "value": 1},
    }
    for index, item in broken.items():
        batch[index] = item
    with httpx.Client(base_url=platform.api.url, timeout=30) as api:
        answer = api.post("/api/v1/readings", content=msgspec.json.encode(batch))
        assert answer.status_code == 202
        body = answer.json()
        assert body["accepted"] == 990
        assert [r["index"] for r in body["rejected"]] == sorted(broken)
        reasons = {r["index"]: r["error"] for r in body["rejected"]}
        assert "'yesterday'" in reasons[3]
        assert "ISO-8601" in reasons[3]
        assert "datastream" in reasons[97]
        assert "datastream" in reasons[150]
        assert "datastream" in reasons[678]
        assert "value" in reasons[201]
        assert "before 1970" in reasons[555]
        assert "1.5" in reasons[333]
        assert "object" in reasons[404]
        assert "id" in reasons[800]
        assert "2024-13-01" in reasons[999]
        deadline = time.monotonic() + 30
        while (
            len(stored := api.get("/api/v1/readings", params={"datastream": "s1", "limit": 5_000}).json())
            < 990
        ):
            assert time.monotonic() < deadline, f"only {len(stored)} readings stored"
            time.sleep(0.1)
        kept = sorted(set(range(1_000)) - set(broken))
        assert [r["value"] for r in stored] == kept
        assert api.post("/api/v1/readings", content=b"{oops").json()["detail"].startswith("body is not JSON")


def test_without_auto_registration_unknown_datastreams_are_refused_by_index(
    platform_factory: Callable[..., EmbeddedPlatform],
) -> None:
    platform = platform_factory("0s", ingest={"auto_register": False, "datastreams": ["known"]})
    assert platform.api is not None
    batch = [{"datastream": n, "time": D0, "value": 1} for n in ["known", "stranger", "known", "x"]]
    with httpx.Client(base_url=platform.api.url) as api:
        body = api.post("/api/v1/readings", content=msgspec.json.encode([{"bad": 1}, *batch])).json()
    assert body["accepted"] == 2
    assert [(r["index"], r["error"]) for r in body["rejected"][1:]] == [
        (2, "unknown datastream 'stranger'; register it first"),
        (4, "unknown datastream 'x'; register it first"),
    ]


def test_when_the_log_cannot_keep_up_the_api_answers_503_with_retry_after(
    platform_factory: Callable[..., EmbeddedPlatform], tmp_path: Path
) -> None:
    # "s" is registered at start: registering a new datastream publishes it to the (blocked) log too
    ingest = {"max_pending": 5, "retry_after_s": 3, "datastreams": ["s"]}
    platform = platform_factory("0s", ingest=ingest, log={"busy_timeout_ms": 60_000})
    assert platform.api is not None
    assert platform.ingestor is not None
    blocker = sqlite3.connect(tmp_path / "log.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the log: nothing gets acknowledged
    batch = [{"datastream": "s", "value": i} for i in range(5)]
    with httpx.Client(base_url=platform.api.url, timeout=60) as api, ThreadPoolExecutor(1) as pool:
        try:
            first = pool.submit(api.post, "/api/v1/readings", json=batch)
            deadline = time.monotonic() + 10
            while platform.ingestor.pending < 5:
                assert time.monotonic() < deadline, "the first batch never reached the ingestor"
                time.sleep(0.01)
            answer = api.post("/api/v1/readings", json={"datastream": "s", "value": 9})
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert first.result().status_code == 202  # the waiting batch is acknowledged once the log moves
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "3"
    assert "max_pending = 5" in answer.json()["detail"]


@pytest.fixture(scope="module")
def mqtt_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    broker = start_mqtt_broker(tmp_path_factory.mktemp("mqtt"))
    yield broker.port
    broker.stop()


@pytest.mark.parametrize(("lateness", "lateness_ms"), [("0s", 0), ("3d", 3 * DAY)])
def test_the_same_house_published_over_mqtt_gives_the_same_values(
    platform_factory: Callable[..., EmbeddedPlatform], mqtt_port: int, lateness: str, lateness_ms: int
) -> None:
    mqtt = {"enabled": True, "url": f"mqtt://127.0.0.1:{mqtt_port}", "client_id": f"ingest-{lateness}"}
    platform = platform_factory(lateness, mqtt=mqtt)
    assert platform.api is not None
    readings = house()
    publisher = MqttPublisher("127.0.0.1", mqtt_port)  # the datastream travels in the topic and payload
    try:
        publisher.send(readings)
    finally:
        publisher.close()
    with httpx.Client(base_url=platform.api.url, timeout=30) as api:
        check_against_the_readings(api, readings, lateness_ms)


def test_an_unusable_mqtt_payload_is_dead_lettered_with_the_reason(
    platform_factory: Callable[..., EmbeddedPlatform], mqtt_port: int
) -> None:
    mqtt = {"enabled": True, "url": f"mqtt://127.0.0.1:{mqtt_port}", "client_id": "ingest-dead"}
    platform = platform_factory("0s", mqtt=mqtt)
    assert platform.log is not None
    client = paho.Client(CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", mqtt_port)
    client.loop_start()
    try:
        client.publish("iotstream/pump/readings", b"{not json", qos=1).wait_for_publish(10)
        client.publish("iotstream/pump/readings", b'[{"value": 1}, {"value": "x", "time": 1.5}]', qos=1)
        client.publish("iotstream/pump/readings", b'{"value": 7, "time": 1704067200000}', qos=1)
    finally:
        client.loop_stop()
        client.disconnect()
    with platform.log.consumer("dead-test", auto_offset_reset="earliest") as consumer:
        consumer.subscribe([DEADLETTER])
        letters = []
        deadline = time.monotonic() + 30
        while len(letters) < 2 and time.monotonic() < deadline:
            letters += consumer.poll(10, 0.2)
    reasons = [dict(letter.headers)["reason"].decode() for letter in letters]
    assert reasons[0].startswith("body is not JSON")
    assert reasons[1].startswith("item 1: 'time' 1.5")
    assert [dict(letter.headers)["source"] for letter in letters] == [b"mqtt:iotstream/pump/readings"] * 2
    assert platform.api is not None
    with httpx.Client(base_url=platform.api.url) as api:
        deadline = time.monotonic() + 30
        while len(stored := api.get("/api/v1/readings", params={"datastream": "pump"}).json()) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    assert sorted(r["value"] for r in stored) == [1, 7]  # the good items of the mixed payloads

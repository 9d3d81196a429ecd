"""The Python client (`iotstream.client`) against a running platform: registration through SensorThings
then readings under the Datastreams' keys; store and forward while the platform is down (every reading
once, in order, the buffer bounded); live events through the iterator, across a dropped socket and a
restarted server; DataFrames equal to the REST answers, page after page; export; command tickets
answered by an MQTT device; and the asyncio client."""

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest

from iotstream.client import (
    AlertEvent,
    AsyncClient,
    Client,
    Datastream,
    Event,
    ObservedProperty,
    ReadingEvent,
    Sensor,
    Subscription,
    Thing,
    Unit,
    WindowEvent,
)
from iotstream.client.buffer import DiskBuffer
from iotstream.config import Settings, load_settings
from iotstream.embedded import EmbeddedPlatform
from iotstream.ingest.mqtt_broker import find_mosquitto
from tests.devices import Device
from tests.proxy import TcpProxy
from tests.servers import Server, free_port, start_mqtt_broker

pytestmark = pytest.mark.slow

T0 = 1_767_225_600_000  # 2026-01-01, a midnight (UTC)
DAY = 86_400_000
KEEP_ALL = {"raw": "36500d", "1m": "36500d", "1h": "36500d"}
JOBS = [
    {"type": "daily_meters", "name": "meters", "aggregate": {"meter/live": "max", "meter/frames": "sum"}},
    {"type": "threshold", "name": "hot", "datastreams": ["hot/*"], "above": 30.0},
]


@pytest.fixture(autouse=True)
def verify_no_thread_leaks() -> Iterator[None]:
    """The suite's check (tests/conftest.py), less the shared platform's server pools: "AnyIO worker
    thread"s for its sync routes (started on demand, whichever test calls first, idle out after 10 s)
    and uvloop's executor ("uvloop_N", for a new datastream's registration); they stop with it."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2.0
    while (leaked := _new_threads(before)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not leaked, f"test left threads running: {[t.name for t in leaked]}"


def _new_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    return [
        t
        for t in threading.enumerate()
        if t not in before and t.is_alive() and not t.name.startswith(("AnyIO worker thread", "uvloop_"))
    ]


def settings_for(data_dir: Path, port: int = 0, **extra: Any) -> Settings:
    return load_settings(data_dir=data_dir, api={"port": port}, storage={"retention": KEEP_ALL}, **extra)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_mqtt_broker(tmp_path_factory.mktemp("mqtt"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, broker: Server) -> Iterator[EmbeddedPlatform]:
    """One platform for the module: MQTT for the commands, a daily meter job and a threshold rule."""
    mqtt = {
        "enabled": True,
        "url": f"mqtt://127.0.0.1:{broker.port}",
        "client_id": f"ingest-{uuid.uuid4().hex[:8]}",
        "version": 5 if find_mosquitto() else 3,  # the amqtt fallback speaks 3.1.1 only
    }
    settings = settings_for(tmp_path_factory.mktemp("platform"), jobs=JOBS, mqtt=mqtt)
    with EmbeddedPlatform(settings) as running:
        yield running


def api_port(platform: EmbeddedPlatform) -> int:
    return int(url_of(platform).rsplit(":", 1)[1])


def url_of(platform: EmbeddedPlatform) -> str:
    assert platform.api is not None
    return platform.api.url


@pytest.fixture
def client(platform: EmbeddedPlatform) -> Iterator[Client]:
    with Client(url_of(platform)) as opened:
        yield opened


def eventually(what: str, found: Callable[[], Any], timeout_s: float = 30) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (value := found()):
        assert time.monotonic() < deadline, f"{what} never came"
        time.sleep(0.05)
    return value


def rest(platform: EmbeddedPlatform, path: str, **params: Any) -> Any:
    answer = httpx.get(f"{url_of(platform)}{path}", params=params, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def rest_when(platform: EmbeddedPlatform, path: str, count: int, **params: Any) -> list[dict[str, Any]]:
    """A REST list answer, once it has `count` rows (the sink stores asynchronously)."""

    def answer() -> list[dict[str, Any]] | None:
        rows: list[dict[str, Any]] = rest(platform, path, **params)
        return rows if len(rows) >= count else None

    found: list[dict[str, Any]] = eventually(f"{count} rows of {path} {params}", answer)
    return found


def stored(platform: EmbeddedPlatform, name: str, count: int) -> list[dict[str, Any]]:
    """The REST answer for the datastream's readings, once it has `count` of them."""
    return rest_when(platform, "/api/v1/readings", count, datastream=name, limit=100_000)


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000 + 0.5)


def live_clients(platform: EmbeddedPlatform, count: int) -> None:
    eventually(f"{count} live clients", lambda: platform.stats().get("websocket_clients") == count)


def read_in_background(live: Subscription) -> tuple[list[Event], threading.Thread]:
    """Iterate the subscription in a thread, as an application would; it ends when `live` is closed."""
    events: list[Event] = []
    reader = threading.Thread(target=lambda: events.extend(live), name="live-reader")
    reader.start()
    return events, reader


def test_registered_datastreams_take_readings_under_their_keys(
    client: Client, platform: EmbeddedPlatform
) -> None:
    car = client.register(
        Thing("Car 1", "the demo car", {"fleet": "north"}),
        [
            Datastream(
                "Air Temperature",
                Unit("DegreeCelsius", "degC", "http://qudt.org/unit/DegreeCelsius"),
                Sensor("PT100", "3-wire", "application/pdf", "https://example.org/pt100.pdf"),
                ObservedProperty("Air Temperature", "http://qudt.org/quantity/AirTemperature"),
                key="car1/temperature",
            ),
            Datastream("Speed", "km/h", Sensor("GPS"), ObservedProperty("Speed", "urn:speed")),
        ],
    )
    assert [(d.name, d.key) for d in car.datastreams] == [
        ("Air Temperature", "car1/temperature"),
        ("Speed", "Speed"),
    ]
    sensor = client.register_sensor(Sensor("Weather station"))
    temperature = client.register_observed_property(ObservedProperty("Air Temperature", "urn:t"))
    station = client.register_thing(Thing("Station"))
    first = client.register_datastream(station, Datastream("Air Temperature", "degC", sensor, temperature))
    second = client.register_datastream(station, Datastream("Air Temperature", "degC", sensor, temperature))
    # SensorThings names may repeat; the keys readings travel under may not
    assert (first.key, second.key) == ("Air Temperature", f"Air Temperature/{second.id}")
    assert first.sensor_id == second.sensor_id == sensor

    client.send(car.datastream("Air Temperature"), 21.5, T0)
    assert (
        client.send_many([("car1/temperature", 22.0, T0 + 60_000), (second, 7.0, T0), ("Speed", 88, T0)])
        == []
    )
    assert stored_values(client, "car1/temperature", 2) == [21.5, 22.0]
    assert list(stored_values(client, second.key, 1)) == [7.0]
    sta = f"{url_of(platform)}/v1.1"
    observations = httpx.get(
        f"{sta}/Datastreams({car.datastreams[0].id})/Observations?$orderby=phenomenonTime"
    )
    assert [o["result"] for o in observations.json()["value"]] == [21.5, 22.0]  # the same Datastream
    assert httpx.get(f"{sta}/Datastreams({first.id})/Observations").json()["value"] == []
    thing = httpx.get(f"{sta}/Things({car.id})", params={"$expand": "Datastreams($expand=Sensor)"}).json()
    assert thing["properties"] == {"fleet": "north"}
    assert sorted(d["Sensor"]["name"] for d in thing["Datastreams"]) == ["GPS", "PT100"]


def stored_values(client: Client, name: str, count: int) -> list[Any]:
    values: list[Any] = eventually(
        f"{count} readings of {name}", lambda: len(v := list(client.readings(name)["value"])) >= count and v
    )
    return values


def test_readings_sent_while_the_platform_is_down_arrive_once_when_it_is_up(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sent = [(f"sf/{i % 2}", i * 0.5, T0 + i * 1000) for i in range(300)]
    started = time.monotonic()
    with Client(url, buffer=tmp_path / "device", batch_size=50) as client:  # nothing listens on the port
        for name, value, when in sent[:20]:
            client.send(name, value, when)
        assert client.send_many(sent[20:]) == []
        assert client.buffered == 300
    assert time.monotonic() - started < 10  # while the platform is away, a send only writes to disk
    platform = EmbeddedPlatform(settings_for(tmp_path / "data", port)).start()
    try:
        with Client(url, buffer=tmp_path / "device", batch_size=50) as client:  # the device restarted
            assert client.buffered == 300
            assert client.flush(timeout_s=30) == 0
            assert client.flush(timeout_s=1) == 0
        for name in ("sf/0", "sf/1"):
            rows = stored(platform, name, 150)
            expected = [(when, value) for n, value, when in sent if n == name]
            assert [(ms(row["time"]), row["value"]) for row in rows] == expected
        assert (
            platform.stats()["ingest"]["accepted"] == 300
        )  # each reading was sent once, not only stored once
    finally:
        platform.stop()
    buffer = DiskBuffer(tmp_path / "device")
    assert len(buffer) == 0
    buffer.close()


def test_a_full_buffer_keeps_the_newest_readings_and_delivers_them(
    platform: EmbeddedPlatform, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert platform.api is not None
    port = free_port()
    with (
        caplog.at_level(logging.WARNING, logger="iotstream.client.buffer"),
        Client(
            f"http://127.0.0.1:{port}", buffer=tmp_path / "b", buffer_max_readings=40, batch_size=10
        ) as client,
    ):
        for start in range(0, 100, 20):
            client.send_many([("bound/a", i, T0 + i) for i in range(start, start + 20)])
        assert (client.buffered, client.dropped) == (40, 60)
        [warning] = [r.getMessage() for r in caplog.records if r.name == "iotstream.client.buffer"]  # once
        assert "is full (at most 40 readings" in warning
        assert "dropped the oldest 20 readings" in warning
        with TcpProxy(api_port(platform), port=port):  # the platform appears on the client's URL
            assert client.flush(timeout_s=30) == 0
    assert [row["value"] for row in stored(platform, "bound/a", 40)] == list(range(60, 100))


def test_live_readings_window_results_and_alerts_arrive_through_the_iterator(
    client: Client, platform: EmbeddedPlatform
) -> None:
    live_clients(platform, 0)  # the other tests' subscriptions are gone
    with client.subscribe(["hot/*", "meter/live"]) as live:
        live_clients(platform, 1)
        client.send_many([("hot/boiler", v, T0 + i * 60_000) for i, v in enumerate([20.0, 35.0, 40.0, 20.0])])
        client.send_many([("meter/live", v, T0 + i * 3_600_000) for i, v in enumerate([1.0, 5.0, 3.0])])
        client.send("meter/live", 9.0, T0 + DAY + 1)  # the next day: the first one's window closes
        events: list[Event] = []
        while not any(isinstance(e, WindowEvent) for e in events) or not any(
            isinstance(e, AlertEvent) and e.event == "close" for e in events
        ):
            events.append(live.receive(timeout_s=30))
    readings = [(e.datastream, e.value) for e in events if isinstance(e, ReadingEvent)]
    assert readings[:4] == [
        ("hot/boiler", 20.0),
        ("hot/boiler", 35.0),
        ("hot/boiler", 40.0),
        ("hot/boiler", 20.0),
    ]
    meter = [e.time_ms for e in events if isinstance(e, ReadingEvent) and e.datastream == "meter/live"]
    assert meter[0] == T0
    window = next(e for e in events if isinstance(e, WindowEvent))
    assert (window.datastream, window.window, window.start_ms, window.end_ms) == (
        "meter/live",
        "1d",
        T0,
        T0 + DAY,
    )
    assert (window.count, window.max, window.sum) == (3, 5.0, 9.0)
    alerts = [e for e in events if isinstance(e, AlertEvent)]
    assert (alerts[0].event, alerts[-1].event, alerts[-1].state) == ("open", "close", "closed")
    assert (alerts[-1].rule, alerts[-1].datastream, alerts[-1].max, alerts[-1].threshold) == (
        "hot",
        "hot/boiler",
        40.0,
        30.0,
    )


def test_a_subscription_reconnects_after_its_connection_is_dropped(platform: EmbeddedPlatform) -> None:
    assert platform.api is not None
    live_clients(platform, 0)  # the other tests' subscriptions are gone
    with TcpProxy(api_port(platform)) as proxy, Client(proxy.url) as via_proxy:
        live = via_proxy.subscribe("drop/*", max_wait_s=0.5)
        events, reader = read_in_background(live)
        try:
            live_clients(platform, 1)
            via_proxy.send("drop/a", 1, T0)
            eventually("the first reading", lambda: len(events) == 1)
            proxy.refuse()  # the connection is cut, and new ones are refused for a while
            live_clients(platform, 0)
            time.sleep(1.0)
            proxy.restore()
            live_clients(platform, 1)
            via_proxy.send("drop/a", 2, T0 + 1)
            eventually("the reading after the reconnection", lambda: len(events) == 2)
        finally:
            live.close()
            reader.join(10)
    assert [(e.datastream, e.value) for e in events if isinstance(e, ReadingEvent)] == [
        ("drop/a", 1),
        ("drop/a", 2),
    ]
    assert live.reconnects == 1
    assert not reader.is_alive()  # closing ends the iteration


def test_a_subscription_reconnects_after_the_platform_restarts(tmp_path: Path) -> None:
    port = free_port()
    first = EmbeddedPlatform(settings_for(tmp_path, port)).start()
    with Client(f"http://127.0.0.1:{port}") as client:
        live = client.subscribe("restart/*", max_wait_s=0.5)
        events, reader = read_in_background(live)
        try:
            live_clients(first, 1)
            first.stop()
            second = EmbeddedPlatform(settings_for(tmp_path, port)).start()
            try:
                live_clients(second, 1)
                client.send("restart/a", 1.5, T0)
                eventually("a reading from the restarted platform", lambda: events)
            finally:
                live.close()
                reader.join(10)
                second.stop()
        finally:
            first.stop()
    assert [(e.datastream, e.value) for e in events if isinstance(e, ReadingEvent)] == [("restart/a", 1.5)]
    assert live.reconnects == 1


def frame_rows(frame: pd.DataFrame | pl.DataFrame) -> list[tuple[Any, ...]]:
    """Rows with times as epoch ms and missing values as None, from either library."""
    rows = frame.rows() if isinstance(frame, pl.DataFrame) else list(frame.itertuples(index=False, name=None))
    return [tuple(_plain(value) for value in row) for row in rows]


def _plain(value: Any) -> Any:
    if value is pd.NaT:
        return None
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000 + 0.5)
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


def rest_rows(rows: list[dict[str, Any]], fields: list[str], times: set[str]) -> list[tuple[Any, ...]]:
    return [
        tuple(ms(row[f]) if f in times and row[f] is not None else row[f] for f in fields) for row in rows
    ]


def test_frames_equal_the_rest_answers_page_after_page(client: Client, platform: EmbeddedPlatform) -> None:
    values = [i + 0.5 if i % 3 else i for i in range(2_500)]
    client.send_many([("frames/a", v, T0 + i * 1000) for i, v in enumerate(values)])
    client.send_many([("meter/frames", i % 5, T0 + i * 3_600_000) for i in range(24 * 3 + 1)])
    client.send_many([("hot/frames", v, T0 + i * 60_000) for i, v in enumerate([31.0, 45.0, 10.0, 33.0])])
    readings = stored(platform, "frames/a", 2_500)
    first_page = httpx.get(
        f"{url_of(platform)}/api/v1/readings", params={"datastream": "frames/a", "limit": 1000}
    )
    assert len(first_page.json()) == 1000
    assert 'rel="next"' in first_page.headers["link"]  # the REST answer itself comes a page at a time

    expected = rest_rows(readings, ["time", "value", "id"], {"time"})
    assert frame_rows(client.readings("frames/a", page_size=1000)) == expected
    assert frame_rows(client.readings("frames/a", page_size=900, frame="polars")) == expected
    part = client.readings("frames/a", T0 + 100_000, datetime.fromisoformat("2026-01-01T00:03:20Z"))
    assert frame_rows(part) == expected[100:200]

    days = rest_when(platform, "/api/v1/aggregates", 2, datastream="meter/frames")
    expected = rest_rows(
        days, ["start", "end", "value", "count", "min", "max", "sum", "avg"], {"start", "end"}
    )
    assert frame_rows(client.aggregates("meter/frames", "1d")) == expected
    assert frame_rows(client.aggregates("meter/frames", frame="polars")) == expected

    series = rest(platform, "/api/v1/series", datastream="frames/a", span="1h", points=50)
    assert frame_rows(client.series("frames/a", span="1h", points=50)) == rest_rows(
        series["points"], ["time", "value", "min", "max", "count"], {"time"}
    )
    alerts = rest_when(platform, "/api/v1/alerts", 2, datastream="hot/frames")
    fields = [
        "start",
        "rule",
        "datastream",
        "state",
        "last",
        "closed_at",
        "duration_s",
        "max",
        "avg",
        "threshold",
    ]
    assert frame_rows(client.alerts("hot/frames")) == rest_rows(
        alerts, fields, {"start", "last", "closed_at"}
    )
    assert frame_rows(client.alerts("hot/frames", state="open", frame="polars")) == rest_rows(
        [a for a in alerts if a["state"] == "open"], fields, {"start", "last", "closed_at"}
    )


def test_export_returns_and_writes_what_the_rest_endpoint_streams(
    client: Client, platform: EmbeddedPlatform, tmp_path: Path
) -> None:
    client.send_many([("export/a", i * 1.5, T0 + i * 60_000) for i in range(50)] + [("export/b", "open", T0)])
    stored(platform, "export/a", 50)
    stored(platform, "export/b", 1)
    csv = httpx.get(f"{url_of(platform)}/api/v1/export", params={"datastream": "export/*"}).content
    assert client.export("export/*") == csv
    params = {"datastream": "export/*", "format": "parquet", "window": "1h"}
    rollups = httpx.get(f"{url_of(platform)}/api/v1/export", params=params).content
    written = client.export("export/*", tmp_path / "rollups.parquet", format="parquet", window="1h")
    assert written == tmp_path / "rollups.parquet"
    assert pq.read_table(written).to_pylist() == pq.read_table(pa_buffer(rollups)).to_pylist()
    assert not (tmp_path / "rollups.parquet.part").exists()


def pa_buffer(content: bytes) -> Any:
    import pyarrow as pa

    return pa.BufferReader(content)


def test_a_command_ticket_waits_for_the_devices_answer(client: Client, broker: Server) -> None:
    device, silent = Device(broker.port), Device(broker.port, answers=False)
    try:
        written = client.command(device.name, "write", "/3311/0/5850", {"on": True}, timeout_s=10).wait(20)
        assert written.state == "succeeded"
        read = client.command(device.name, "read", "/3311/0/5850").wait(timeout_s=20)
        assert (read.state, read.value) == ("succeeded", {"on": True})
        assert read.command == {"action": "read", "path": "/3311/0/5850"}
        missing = client.command(device.name, "read", "/3/0/1").wait(timeout_s=20)
        assert (missing.state, missing.error) == ("failed", "no such resource")
        expired = client.command(silent.name, "execute", "/3/0/4", timeout_s=1).wait(timeout_s=20)
        assert expired.state == "expired"
        assert [command["ticket"] for command in silent.received] == [expired.ticket]
    finally:
        device.close()
        silent.close()


def test_the_async_client_sends_queries_and_subscribes(platform: EmbeddedPlatform, tmp_path: Path) -> None:
    live_clients(platform, 0)  # the other tests' subscriptions are gone

    async def main() -> tuple[list[Event], pd.DataFrame]:
        async with AsyncClient(url_of(platform), buffer=tmp_path / "async") as client:
            async with client.subscribe("async/*") as live:
                await asyncio.to_thread(live_clients, platform, 1)
                await client.send("async/a", 0, T0)
                assert await client.send_many([("async/a", i, T0 + i) for i in range(1, 30)]) == []
                events = [await live.receive(timeout_s=20) for _ in range(30)]
            assert client.buffered == 0
            frame = pd.DataFrame()
            while len(frame) < 30:
                frame = await client.readings("async/a", page_size=7)
            assert await client.export("async/*", tmp_path / "a.csv") == tmp_path / "a.csv"
            return events, frame

    events, frame = asyncio.run(main())
    exported = httpx.get(f"{url_of(platform)}/api/v1/export", params={"datastream": "async/*"}).content
    assert (tmp_path / "a.csv").read_bytes() == exported
    assert [e.value for e in events if isinstance(e, ReadingEvent)] == list(range(30))
    assert list(frame["value"]) == list(range(30))
    assert list(frame["time"].astype("int64")) == [T0 + i for i in range(30)]

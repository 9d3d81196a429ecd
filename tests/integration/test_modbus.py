"""Modbus polling against pymodbus' own server as the device: every register type and order read into
readings, a register the device refuses skipped with the others still read, and a device that goes
away raising a staleness alert that its return closes — with the poller polling throughout."""

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform
from tests.servers import free_port

# What the device holds, as its manual would list it: (address, words, register settings, value)
HOLDING = [
    (0, [0xFFFB], {"type": "int16", "datastream": "plc.int16"}, -5),
    (1, [0xFFFB], {"type": "int16", "scale": 0.5, "datastream": "plc.int16-halves"}, -2.5),
    (2, [65_000], {"type": "uint16", "datastream": "plc.uint16"}, 65_000),
    (3, [0xFFFE, 0x1DC0], {"type": "int32", "datastream": "plc.int32-abcd"}, -123_456),
    (5, [0x2800, 0xEE6B], {"type": "uint32", "word_order": "little", "datastream": "plc.uint32-cdab"}, 4e9),
    (7, [0xAC41, 0x0000], {"type": "float32", "byte_order": "little", "datastream": "plc.float-badc"}, 21.5),
    (9, [0x0000, 0x50C0], {"type": "float32", "byte_order": "little", "word_order": "little",
                           "datastream": "plc.float-dcba"}, -3.25),
]  # fmt: skip
INPUT = [(0, [1_234], {"type": "uint16", "scale": 0.01, "table": "input", "datastream": "plc.input"}, 12.34)]
MISSING = {"address": 900, "datastream": "plc.missing"}  # the device has no register 900


class Device:
    """pymodbus' TCP server on a fixed port, on its own event loop; stopped and started again as a
    device that goes away and comes back."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: ModbusTcpServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        async def listen() -> None:  # the server needs its loop running as it is made
            self._server = ModbusTcpServer(_registers(), address=("127.0.0.1", self.port))
            await self._server.serve_forever(background=True)
            ready.set()

        def serve() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(listen())
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name="modbus-device", daemon=True)
        self._thread.start()
        assert ready.wait(10), "the Modbus device did not start"

    def stop(self) -> None:
        assert self._loop is not None
        assert self._server is not None
        assert self._thread is not None
        asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def _registers() -> SimDevice:
    def block(rows: list[tuple[int, list[int], dict[str, Any], Any]]) -> list[SimData]:
        words = [word for _, row_words, _, _ in rows for word in row_words]
        return [SimData(0, values=words, datatype=DataType.REGISTERS)]

    bits = [SimData(0, values=False, datatype=DataType.BITS)]
    return SimDevice(1, simdata=(bits, bits, block(HOLDING), block(INPUT)))


@pytest.fixture
def device() -> Iterator[Device]:
    device = Device(free_port())
    device.start()
    yield device
    if device._thread is not None and device._thread.is_alive():
        device.stop()


@pytest.fixture
def platform(tmp_path: Path, device: Device) -> Iterator[EmbeddedPlatform]:
    registers = [{"address": address} | settings for address, _, settings, _ in HOLDING + INPUT] + [MISSING]
    modbus = {"host": "127.0.0.1", "port": device.port, "name": "plc", "interval": "200ms"}
    modbus |= {"timeout": "500ms", "stale_after": "1s", "registers": registers}
    settings = load_settings(data_dir=tmp_path, api={"port": 0}, modbus=[modbus])
    platform = EmbeddedPlatform(settings).start()
    yield platform
    platform.stop()


def eventually(check: Callable[[], Any], timeout_s: float = 20) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        outcome = check()
        if outcome or time.monotonic() > deadline:
            return outcome
        time.sleep(0.2)


def latest(api: httpx.Client) -> dict[str, Any]:
    return {d["key"]: d["latest"] for d in api.get("/api/v1/datastreams").json() if d["latest"]}


def test_every_register_type_and_order_becomes_a_reading_and_a_refused_register_is_skipped(
    platform: EmbeddedPlatform,
) -> None:
    assert platform.api is not None
    expected = {settings["datastream"]: value for _, _, settings, value in HOLDING + INPUT}
    with httpx.Client(base_url=platform.api.url, timeout=10) as api:
        got = eventually(lambda: (values := latest(api)).keys() >= expected.keys() and values)
        assert got, latest(api)
        assert {key: got[key]["value"] for key in expected} == pytest.approx(expected)
        assert "plc.missing" not in got  # refused by the device; logged, the others read
        first = {key: got[key]["time"] for key in expected}
        assert eventually(lambda: all(latest(api)[key]["time"] > first[key] for key in expected))
    assert platform.stats()["modbus"]["plc"]["unanswered"] == 0


def test_a_device_that_goes_away_raises_a_staleness_alert_and_its_return_closes_it(
    platform: EmbeddedPlatform, device: Device
) -> None:
    assert platform.api is not None
    with httpx.Client(base_url=platform.api.url, timeout=10) as api:
        assert eventually(lambda: "plc.int16" in latest(api))
        device.stop()
        alerts = eventually(lambda: [a for a in api.get("/api/v1/alerts").json() if a["state"] == "open"])
        assert {a["datastream"] for a in alerts} == {s["datastream"] for _, _, s, _ in HOLDING + INPUT} | {
            "plc.missing"
        }
        assert {(a["rule"], a["threshold"]) for a in alerts} == {("modbus:plc", 1.0)}
        silent_since = latest(api)["plc.int16"]["time"]
        device.start()
        closed = eventually(lambda: [a for a in api.get("/api/v1/alerts").json() if a["state"] == "closed"])
        assert len(closed) == len(alerts)
        assert eventually(lambda: latest(api)["plc.int16"]["time"] > silent_since)  # readings resume
    counts = platform.stats()["modbus"]["plc"]
    assert counts["unanswered"] >= 4  # a second without answers at 200 ms
    assert any(t.name == "iotstream-modbus:plc" and t.is_alive() for t in threading.enumerate())

"""The platform against a real LwM2M client: Telefonica's lwm2m-node-lib (npm), run by Node.js as a
device with a temperature (3303) and a humidity (3304) sensor. It registers, its values arrive as
readings through observe, an update and a de-registration become records, and a registration whose
lifetime passes unrenewed expires."""

import json
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform
from iotstream.ingest.lwm2m.config import REGISTRATIONS
from tests.integration._topics import topic_records
from tests.servers import free_port

DEVICE = Path(__file__).parents[1] / "lwm2m_device"


class NodeDevice:
    """device.js: one JSON command per line in, one JSON event per line out."""

    def __init__(self, port: int, endpoint: str, lifetime_s: int = 300) -> None:
        node = shutil.which("node")
        assert node, "the LwM2M client tests need Node.js: sudo apt-get install nodejs"
        assert (DEVICE / "node_modules" / "lwm2m-node-lib").is_dir(), (
            "run `make test` (npm ci in tests/lwm2m_device)"
        )
        command = [node, str(DEVICE / "device.js"), "127.0.0.1", str(port), endpoint, str(lifetime_s)]
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.expect("ready")

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            if line.startswith('{"event"'):  # not the library's own log lines
                self._events.put(json.loads(line))

    def do(self, command: str, **fields: Any) -> dict[str, Any]:
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps({"do": command} | fields) + "\n")
        self._process.stdin.flush()
        return self.expect(command)

    def expect(self, event: str, timeout_s: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            got = self._events.get(timeout=max(deadline - time.monotonic(), 0.01))
            assert got["event"] != "error", got
            if got["event"] == event:
                return got

    def close(self) -> None:
        self._process.kill()
        self._process.wait(10)
        self._reader.join(10)  # at the end of its output
        for pipe in (self._process.stdin, self._process.stdout):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[EmbeddedPlatform]:
    lwm2m = {"enabled": True, "host": "127.0.0.1", "port": free_port(), "grace": "0s"}
    platform = EmbeddedPlatform(load_settings(data_dir=tmp_path, api={"port": 0}, lwm2m=lwm2m)).start()
    yield platform
    platform.stop()


@pytest.fixture
def devices(platform: EmbeddedPlatform) -> Iterator[Any]:
    started: list[NodeDevice] = []

    def start(endpoint: str, lifetime_s: int = 300) -> NodeDevice:
        started.append(NodeDevice(platform.settings.lwm2m.port, endpoint, lifetime_s))
        return started[-1]

    yield start
    for device in started:
        device.close()


def latest(api: httpx.Client, key: str, value: float, timeout_s: float = 30) -> float | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = {d["key"]: d["latest"] for d in api.get("/api/v1/datastreams").json()}
        if (found.get(key) or {}).get("value") == value:
            return value
        time.sleep(0.2)
    return None


def records(platform: EmbeddedPlatform, count: int, timeout_s: float = 20) -> list[dict[str, Any]]:
    return [
        msgspec.json.decode(r.value or b"") for r in topic_records(platform, REGISTRATIONS, count, timeout_s)
    ]


def test_the_node_client_registers_is_observed_updates_and_deregisters(
    platform: EmbeddedPlatform, devices: Any
) -> None:
    assert platform.api is not None
    device = devices("node-ep-1")
    device.do("create", path="/3303/0")
    device.do("set", path="/3303/0", resource=5700, value=21.5)
    device.do("create", path="/3304/0")
    device.do("set", path="/3304/0", resource=5700, value=45)
    device.do("register")
    with httpx.Client(base_url=platform.api.url, timeout=10) as api:
        assert latest(api, "node-ep-1/3303/0/5700", 21.5) == 21.5
        assert latest(api, "node-ep-1/3304/0/5700", 45) == 45
        device.do("set", path="/3303/0", resource=5700, value=22.25)  # notifies its observers
        assert latest(api, "node-ep-1/3303/0/5700", 22.25) == 22.25
        [new] = records(platform, 1)
        assert (new["event"], new["ep"], new["ver"], new["bnd"]) == ("new", "node-ep-1", "1.0", "U")
        assert {link["url"] for link in new["links"]} >= {"/3303/0", "/3304/0"}
        named = {"$filter": "name eq 'node-ep-1 Temperature Sensor Value'"}
        [datastream] = api.get("/v1.1/Datastreams", params=named).json()["value"]
        assert datastream["unitOfMeasurement"]["symbol"] == "Cel"
        assert datastream["properties"]["key"] == "node-ep-1/3303/0/5700"
        assert thing(api, "node-ep-1")["event"] == "new"
        device.do("update")
        assert wait_for(lambda: thing(api, "node-ep-1")["event"] == "update")
        device.do("unregister")
        assert wait_for(lambda: thing(api, "node-ep-1")["registered"] is False)
    assert [r["event"] for r in records(platform, 3)] == ["new", "update", "delete"]
    assert platform.stats()["lwm2m"]["registrations"] == 0


def thing(api: httpx.Client, endpoint: str) -> dict[str, Any]:
    """The registration the endpoint's Thing shows (its `lwm2m` property)."""
    [found] = api.get("/v1.1/Things", params={"$filter": f"name eq '{endpoint}'"}).json()["value"]
    return dict(found["properties"]["lwm2m"])


def wait_for(condition: Any, timeout_s: float = 10) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_a_registration_not_renewed_within_its_lifetime_expires(
    platform: EmbeddedPlatform, devices: Any
) -> None:
    device = devices("node-ep-2", lifetime_s=2)
    device.do("create", path="/3303/0")
    device.do("register")
    assert [r["event"] for r in records(platform, 2, timeout_s=15)] == ["new", "expired"]
    assert platform.stats()["lwm2m"]["registrations"] == 0


def test_a_write_an_execute_and_a_read_through_the_commands_api_reach_the_node_client(
    platform: EmbeddedPlatform, devices: Any
) -> None:
    assert platform.api is not None
    device = devices("node-ep-3")
    device.do("create", path="/3303/0")
    device.do("set", path="/3303/0", resource=5700, value=21.5)
    device.do("set", path="/3303/0", resource=5750, value="boiler")
    device.do("register")
    with httpx.Client(base_url=platform.api.url, timeout=10) as api:
        assert wait_for(lambda: thing(api, "node-ep-3")["registered"])  # known as an LwM2M endpoint
        written = command(api, "write", "/3303/0/5750", "kitchen")
        assert device.expect("written") == {"event": "written", "path": "/3303/0/5750", "value": "kitchen"}
        executed = command(api, "execute", "/3303/0/5605")
        assert device.expect("executed")["path"] == "/3303/0/5605"
        read = command(api, "read", "/3303/0/5750")
        for ticket, value in ((written, None), (executed, None), (read, "kitchen")):
            document = finished(api, ticket)
            assert (document["state"], document["transport"], document.get("value")) == (
                "succeeded",
                "lwm2m",
                value,
            )
        device.do("update")  # it listens on another port now
        moved = command(api, "write", "/3303/0/5750", "attic")
        assert device.expect("written")["value"] == "attic"
        assert finished(api, moved)["state"] == "succeeded"
        refused = api.post(
            "/api/v1/commands", json={"device": "node-ep-3", "action": "execute", "path": "/3303"}
        )
        assert (refused.status_code, refused.json()["detail"]) == (
            422, "'path' for execute must name a resource (/3303/0/5700); got '/3303'"
        )  # fmt: skip
        missing = finished(api, command(api, "read", "/3304/0/5700"))
        assert (missing["state"], missing["error"]) == ("failed", "the device answered 4.04 Not Found")


def command(api: httpx.Client, action: str, path: str, value: Any = None) -> str:
    body = {"device": "node-ep-3", "action": action, "path": path, "timeout": "20s"}
    answer = api.post("/api/v1/commands", json=body if value is None else body | {"value": value})
    assert answer.status_code == 202, answer.text
    return str(answer.json()["ticket"])


def finished(api: httpx.Client, ticket: str) -> dict[str, Any]:
    assert wait_for(
        lambda: api.get(f"/api/v1/commands/{ticket}").json()["state"] not in ("queued", "sent"), 20
    )
    return dict(api.get(f"/api/v1/commands/{ticket}").json())

"""WebSocket live push: subscribers get their datastreams' readings in order; a client that stops
reading is closed with 4008 and costs the others nothing."""

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from iotstream.api.live import TOO_SLOW
from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform

T0 = 1_767_225_600_000


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[EmbeddedPlatform]:
    keep = {"raw": "36500d", "1m": "36500d", "1h": "36500d"}
    with EmbeddedPlatform(
        load_settings(data_dir=tmp_path, api={"port": 0}, storage={"retention": keep})
    ) as p:
        yield p


def ws_url(platform: EmbeddedPlatform, *patterns: str) -> str:
    assert platform.api is not None
    query = "&".join(f"datastream={p}" for p in patterns)
    return platform.api.url.replace("http://", "ws://") + f"/api/v1/live?{query}"


def receive(client: ClientConnection, count: int, timeout_s: float = 30) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while len(events) < count:
        events += json.loads(client.recv(timeout=max(deadline - time.monotonic(), 0.01)))
    return events


def wait_for_subscription(platform: EmbeddedPlatform, clients: int) -> None:
    deadline = time.monotonic() + 10
    while platform.stats().get("websocket_clients") != clients:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_subscribers_receive_their_datastreams_in_order(platform: EmbeddedPlatform) -> None:
    assert platform.api is not None
    with connect(ws_url(platform, "room-*", "hall")) as client:
        wait_for_subscription(platform, 1)
        with httpx.Client(base_url=platform.api.url) as api:
            for i in range(20):
                batch = [
                    {"datastream": name, "time": T0 + i, "value": i} for name in ("room-1", "hall", "yard")
                ]
                assert api.post("/api/v1/readings", json=batch).status_code == 202
        events = receive(client, 40)
    assert {e["type"] for e in events} == {"reading"}
    for name in ("room-1", "hall"):
        assert [e["event"]["value"] for e in events if e["event"]["datastream"] == name] == list(range(20))
    assert all(e["event"]["datastream"] != "yard" for e in events)


def drain(client: ClientConnection) -> None:
    """Read until the connection closes (raises ConnectionClosed)."""
    while True:
        client.recv(timeout=20)


def stalled_client(url: str) -> ClientConnection:
    """A client that reads nothing: a tiny receive buffer, and websockets stops reading the socket once
    one message waits unread."""
    host, port = url.split("/")[2].split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    return connect(url, sock=sock, max_queue=1)


def test_a_client_that_stops_reading_is_closed_with_4008_and_slows_no_one(platform: EmbeddedPlatform) -> None:
    assert platform.api is not None
    url = ws_url(platform, "s")
    frames: list[str | bytes] = []
    with stalled_client(url) as slow, connect(url) as fast:
        reader = threading.Thread(target=lambda: frames.extend(fast), daemon=True)  # ends at close
        reader.start()
        wait_for_subscription(platform, 2)
        posted = 0
        with httpx.Client(base_url=platform.api.url) as api:
            while platform.stats()["websocket_dropped"] == 0:
                assert posted < 2_000_000, "the stalled client was never dropped"
                batch = [
                    {"datastream": "s", "time": T0 + posted + i, "value": posted + i} for i in range(500)
                ]
                assert api.post("/api/v1/readings", json=batch).status_code == 202
                posted += len(batch)
        deadline = time.monotonic() + 30
        while sum(len(json.loads(f)) for f in list(frames)) < posted:
            assert time.monotonic() < deadline, "the fast client did not get every reading"
            time.sleep(0.05)
        values = [event["event"]["value"] for frame in frames for event in json.loads(frame)]
        assert values == list(range(posted))  # every reading, in order, while the other client stalled
        assert platform.stats()["websocket_clients"] == 1
        with pytest.raises(ConnectionClosed) as closed:
            drain(slow)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == TOO_SLOW

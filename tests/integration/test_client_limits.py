"""Clients that misbehave on the wire: request heads sent a byte at a time and never finished, heads and
bodies past their limits on any route, more connections than allowed. Each costs itself, not the
others."""

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform

T0 = 1_714_557_600_000


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    settings = load_settings(
        data_dir=tmp_path,
        api={"port": 0, "max_connections": 60, "max_header_bytes": 16_384},
        ingest={"max_body_bytes": 65_536},
    )
    with EmbeddedPlatform(settings) as platform:
        assert platform.api is not None
        yield platform.api.url


def _stalled(url: str, count: int) -> list[socket.socket]:
    """Connections that send the start of a request and then nothing."""
    host, port = url.removeprefix("http://").split(":")
    sockets = []
    for _ in range(count):
        conn = socket.create_connection((host, int(port)))
        conn.sendall(b"POST /api/v1/readings HTTP/1.1\r\nHost: x\r\nContent-Le")
        sockets.append(conn)
    return sockets


def test_stalled_clients_do_not_hold_up_the_others(url: str) -> None:
    stalled = _stalled(url, 40)
    try:
        with httpx.Client(base_url=url, timeout=5) as api:
            for n in range(20):
                began = time.perf_counter()
                answer = api.post("/api/v1/readings", json={"datastream": "ok", "time": T0 + n, "value": n})
                assert answer.status_code == 202
                assert time.perf_counter() - began < 1.0
    finally:
        for conn in stalled:
            conn.close()


def test_a_body_past_the_limit_is_refused_with_413_on_every_route(url: str) -> None:
    big = b'{"name": "' + b"x" * 70_000 + b'"}'
    for path in ("/v1.1/Things", "/api/v1/apps", "/schema-registry/subjects/s/versions", "/api/v1/readings"):
        answer = httpx.post(f"{url}{path}", content=big, headers={"content-type": "application/json"})
        assert answer.status_code == 413, (path, answer.status_code, answer.text[:200])


def test_connections_past_the_limit_are_answered_503_and_the_rest_go_on(url: str) -> None:
    held = _stalled(url, 60)
    try:
        refused = httpx.get(f"{url}/api/v1/jobs", timeout=5)
        assert refused.status_code == 503
    finally:
        for conn in held:
            conn.close()
    deadline = time.monotonic() + 5
    while (answer := httpx.get(f"{url}/api/v1/jobs", timeout=5)).status_code != 200:
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.1)


def _send_head(url: str, pieces: list[bytes]) -> bytes:
    """Sends a request head in these pieces and answers what the server said before it closed."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(b"GET /api/v1/jobs HTTP/1.1\r\nHost: x\r\n")
        try:
            for piece in pieces:
                conn.sendall(piece)
                time.sleep(0.001)
            conn.sendall(b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before the end: what it said is what counts
        answer = b""
        while chunk := conn.recv(65_536):
            answer += chunk
        return answer


@pytest.mark.parametrize("piece_bytes", [100, 1_000_000], ids=["slowly", "at-once"])
def test_a_head_past_the_limit_is_refused_with_431_and_closed(url: str, piece_bytes: int) -> None:
    header = b"X-Padding: " + b"a" * piece_bytes + b"\r\n"
    answer = _send_head(url, [header] * (1 + 40_000 // piece_bytes))
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"passed 16384 bytes" in answer
    assert httpx.get(f"{url}/api/v1/jobs").status_code == 200


def test_a_whole_head_past_the_limit_in_one_piece_is_refused_before_the_application(url: str) -> None:
    headers = b"".join(b"X-Padding-%d: %s\r\n" % (n, b"a" * 1_000) for n in range(40))
    answer = _send_head(url, [headers])
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]


def test_a_head_within_the_limit_followed_by_a_big_body_is_not_counted_against_the_head(url: str) -> None:
    """Head and body in one piece of input: only the head counts, so the body's 60 KB pass."""
    reading = b'{"datastream": "big", "time": %d, "value": 1, "parameters": {"note": "%s"}}'
    body = reading % (T0, b"n" * 60_000)
    head = b"POST /api/v1/readings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    head += b"X-Padding: " + b"a" * 12_000 + b"\r\n"
    head += b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(head + body)
        answer = conn.recv(65_536)
    assert answer.startswith(b"HTTP/1.1 202 "), answer[:300]

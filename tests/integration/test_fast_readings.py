"""`POST /api/v1/readings` served past FastAPI answers exactly as the FastAPI route does."""

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import msgspec
import pytest

from iotstream.embedded import EmbeddedPlatform
from tests.integration.test_end_to_end import D0, platform_factory  # noqa: F401 (a fixture)

ORIGIN = "http://dashboard.example"
BODIES: list[bytes] = [
    msgspec.json.encode([{"datastream": "a", "time": D0 + i, "value": i} for i in range(5)]),
    msgspec.json.encode({"datastream": "a", "time": D0 + 10, "value": 1.5}),
    msgspec.json.encode([{"datastream": "a", "time": D0 + 20, "value": 1}, {"time": "soon"}, 7]),
    b"{oops",
    b'"a string"',
    b"",
]


def answers(url: str, headers: dict[str, str] | None = None) -> list[tuple[int, Any]]:
    with httpx.Client(base_url=url, timeout=30, headers=headers) as api:
        return [(r.status_code, r.json()) for r in (api.post("/api/v1/readings", content=b) for b in BODIES)]


def test_the_fast_path_answers_like_the_fastapi_route_that_cors_deployments_use(
    platform_factory: Callable[..., EmbeddedPlatform],  # noqa: F811
) -> None:
    fast = platform_factory("0s")
    assert fast.api is not None
    fast_answers = answers(fast.api.url)
    fast.stop()
    slow = platform_factory("0s", api={"port": 0, "cors_origins": [ORIGIN]})
    assert slow.api is not None
    assert answers(slow.api.url, {"Origin": ORIGIN}) == fast_answers
    assert [status for status, _ in fast_answers] == [202, 202, 202, 400, 400, 400]
    assert fast_answers[2][1]["accepted"] == 1
    assert [r["index"] for r in fast_answers[2][1]["rejected"]] == [1, 2]
    assert fast_answers[3][1]["detail"].startswith("body is not JSON")
    with httpx.Client(base_url=slow.api.url) as api:
        answer = api.post("/api/v1/readings", content=BODIES[1], headers={"Origin": ORIGIN})
    assert answer.headers["access-control-allow-origin"] == ORIGIN


@pytest.fixture
def small_bodies(platform_factory: Callable[..., EmbeddedPlatform]) -> str:  # noqa: F811
    platform = platform_factory("0s", ingest={"max_body_bytes": 2_000})
    assert platform.api is not None
    return platform.api.url


def test_a_body_larger_than_max_body_bytes_gets_413_whether_declared_or_streamed(small_bodies: str) -> None:
    big = msgspec.json.encode([{"datastream": "big", "time": D0 + i, "value": i} for i in range(100)])

    def chunks() -> Iterator[bytes]:
        yield from (big[i : i + 100] for i in range(0, len(big), 100))

    with httpx.Client(base_url=small_bodies, timeout=30) as api:
        declared = api.post("/api/v1/readings", content=big)
        streamed = api.post("/api/v1/readings", content=chunks())  # chunked: no Content-Length
        small = api.post("/api/v1/readings", content=BODIES[1])
        time.sleep(0.5)
        stored = api.get("/api/v1/readings", params={"datastream": "big"}).json()
    assert "transfer-encoding" not in declared.request.headers
    assert streamed.request.headers["transfer-encoding"] == "chunked"
    for answer in (declared, streamed):
        assert answer.status_code == 413
        assert answer.json() == {"detail": "body larger than [ingest] max_body_bytes = 2000 bytes"}
    assert small.status_code == 202
    assert stored == []


def test_the_fast_path_keeps_the_server_timing_header_and_a_length(
    platform_factory: Callable[..., EmbeddedPlatform],  # noqa: F811
) -> None:
    platform = platform_factory("0s")
    assert platform.api is not None
    with httpx.Client(base_url=platform.api.url) as api:
        answer = api.post("/api/v1/readings", content=BODIES[1])
    assert answer.headers["server-timing"].startswith("app;dur=")
    assert int(answer.headers["content-length"]) == len(answer.content)
    assert answer.headers["content-type"] == "application/json"

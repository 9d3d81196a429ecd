"""Timing HTTP requests for the latency benchmarks: the server's own time (Server-Timing) and the round
trip, as p50/p95 over repeated requests after one warm-up."""

import statistics
import time
from collections.abc import Callable
from typing import Any

import httpx


def server_ms(response: httpx.Response) -> float:
    """The `Server-Timing: app;dur=…` the API adds to every response."""
    return float(response.headers["server-timing"].removeprefix("app;dur="))


def checked_get(
    client: httpx.Client, url: str, check: Callable[[Any], bool], params: dict[str, Any]
) -> float:
    """GET, fail loudly when the answer is wrong, and return the server time in ms."""
    response = client.get(url, params=params)
    response.raise_for_status()
    if not check(response.json()):
        raise RuntimeError(f"{url} {params} returned wrong data: {response.text[:300]}")
    return server_ms(response)


def percentiles(request: Callable[[int], float], repeats: int) -> dict[str, float]:
    """`request(i)` returns its server time; it is called once to warm up, then `repeats` times."""
    request(0)
    server, round_trip = [], []
    for i in range(1, repeats + 1):
        began = time.perf_counter()
        server.append(request(i))
        round_trip.append((time.perf_counter() - began) * 1000)
    return {
        "server_p50": round(statistics.median(server), 1),
        "server_p95": round(statistics.quantiles(server, n=20)[-1], 1),
        "round_trip_p95": round(statistics.quantiles(round_trip, n=20)[-1], 1),
    }

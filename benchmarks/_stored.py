"""Waiting until readings are in storage, as the benchmarks count "until stored"."""

import time

import httpx

__all__ = ["wait_stored"]


def wait_stored(url: str, targets: dict[str, int], timeout_s: float = 120) -> float:
    """Poll until the reading at `targets[datastream]` (epoch ms) of every datastream is in storage;
    returns when the last was seen. One client for all the polls, and each datastream is asked about
    only until it is seen: the check must take far less time than what it measures (a client per poll,
    32 datastreams in turn, took 0.8 s)."""
    pending = dict(targets)
    deadline = time.perf_counter() + timeout_s
    with httpx.Client(base_url=url, timeout=30) as api:
        while time.perf_counter() < deadline:
            for datastream, time_ms in list(pending.items()):
                params = {"datastream": datastream, "from": time_ms, "to": time_ms + 1}
                if api.get("/api/v1/readings", params=params).json():
                    del pending[datastream]
            if not pending:
                return time.perf_counter()
            time.sleep(0.002)
    raise RuntimeError(f"{sorted(pending)} never reached storage")

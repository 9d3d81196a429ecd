"""Waiting until readings are in storage, as the benchmarks count "until stored"."""

import time

import httpx
import msgspec

from iotstream._latency import quantile_ms

__all__ = ["steady_latency", "wait_stored"]


def wait_stored(
    url: str, targets: dict[str, int], timeout_s: float = 120, headers: dict[str, str] | None = None
) -> float:
    """Poll until the reading at `targets[datastream]` (epoch ms) of every datastream is in storage;
    returns when the last was seen. One client for all the polls, and each datastream is asked about
    only until it is seen: the check must take far less time than what it measures (a client per poll,
    32 datastreams in turn, took 0.8 s)."""
    pending = dict(targets)
    deadline = time.perf_counter() + timeout_s
    with httpx.Client(base_url=url, timeout=30, headers=headers) as api:
        while time.perf_counter() < deadline:
            for datastream, time_ms in list(pending.items()):
                params = {"datastream": datastream, "from": time_ms, "to": time_ms + 1}
                if api.get("/api/v1/readings", params=params).json():
                    del pending[datastream]
            if not pending:
                return time.perf_counter()
            time.sleep(0.002)
    raise RuntimeError(f"{sorted(pending)} never reached storage")


def steady_latency(
    ingest: str,
    sinks: list[str],
    seconds: float,
    *,
    rate: int = 5_000,
    t0: int,
    stored_as: tuple[str, str] | None = None,
) -> tuple[float, float]:
    """Batches of 100 readings of datastream `steady` POSTed to `ingest` at a steady `rate` for 2 s of
    warm-up and then `seconds`; p50 and p99 of acceptance → stored from the `sinks`' histograms (their
    `/api/v1/stats`), diffed over the measured part. `stored_as` (API, datastream): where the readings
    end up stored when that is not `ingest` under `steady` (e.g. relayed to a central site)."""
    sent, before = 0, None
    started = time.perf_counter()
    with httpx.Client(base_url=ingest, timeout=60) as client:
        while (elapsed := time.perf_counter() - started) < seconds + 2:
            if before is None and elapsed >= 2:
                before = _histogram(sinks)
            if sent / rate > elapsed:
                time.sleep(sent / rate - elapsed)
            body = [{"datastream": "steady", "time": t0 + sent + i, "value": 1} for i in range(100)]
            client.post("/api/v1/readings", content=msgspec.json.encode(body))
            sent += 100
    api, datastream = stored_as or (ingest, "steady")
    wait_stored(api, {datastream: t0 + sent - 1})
    counts = [after - prior for after, prior in zip(_histogram(sinks), before or [], strict=True)]
    return quantile_ms(counts, 0.5) or 0.0, quantile_ms(counts, 0.99) or 0.0


def _histogram(sinks: list[str]) -> list[int]:
    """The sinks' acceptance → stored histograms, added up bucket by bucket."""
    histograms = [httpx.get(f"{sink}/api/v1/stats").json()["sink"]["latency_ms"]["counts"] for sink in sinks]
    return [sum(bucket) for bucket in zip(*histograms, strict=True)]

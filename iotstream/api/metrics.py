"""`GET /metrics`: the platform's counters in Prometheus' text format, read when scraped.

Nothing is counted twice for Prometheus' sake: a collector turns the counters the roles keep anyway
(`Services.stats()`) into metric families at scrape time, so the reading path pays nothing extra.
"""

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["PlatformCollector", "router"]

router = APIRouter(tags=["metrics"])
_BUCKETS_MS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    registry: CollectorRegistry = request.app.state.metrics
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def registry_for(
    stats: Callable[[], dict[str, Any]], labels: dict[str, str] | None = None
) -> CollectorRegistry:
    """A registry of its own per app, so several platforms in one process (tests) never collide."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PlatformCollector(stats, labels or {}))
    return registry


class PlatformCollector(Collector):
    def __init__(self, stats: Callable[[], dict[str, Any]], labels: dict[str, str]) -> None:
        """`labels` go on every sample: which roles a process runs and which process it is, so the
        processes of a distributed deployment tell apart in one Prometheus."""
        self._stats = stats
        self._labels = labels

    def collect(self) -> Iterator[Metric]:
        for metric in self._families():
            if self._labels:
                metric.samples = [s._replace(labels=s.labels | self._labels) for s in metric.samples]
            yield metric

    def _families(self) -> Iterator[Metric]:
        stats = self._stats()
        ingest, sink = stats.get("ingest"), stats.get("sink")
        if ingest is not None:
            yield _counter(
                "iotstream_readings_accepted", "Readings accepted by ingestion", ingest["accepted"]
            )
            yield _counter("iotstream_readings_rejected", "Readings refused at ingestion", ingest["rejected"])
            yield _counter(
                "iotstream_dead_lettered", "Payloads sent to the dead-letter topic", ingest["dead_lettered"]
            )
            yield GaugeMetricFamily(
                "iotstream_readings_pending", "Readings waiting for the log", value=ingest["pending"]
            )
            yield _histogram(
                "iotstream_log_ack_seconds", "Acceptance until the log acknowledged", ingest["log_latency_ms"]
            )
        if sink is not None:
            yield _counter("iotstream_readings_stored", "Records written by the storage sink", sink["stored"])
            yield _counter(
                "iotstream_sink_refused", "Records the storage sink dead-lettered", sink["rejected"]
            )
            yield _histogram("iotstream_stored_seconds", "Acceptance until stored", sink["latency_ms"])
            yield _histogram("iotstream_sink_write_seconds", "One storage sink batch write", sink["write_ms"])
        yield from _jobs(stats.get("jobs", {}))
        yield from _notifications(stats.get("notify", {}))
        yield from _lag(stats.get("lag", []))
        if (relay := stats.get("relay")) is not None:
            yield from _relay(relay)
        yield from _sites(stats.get("sites", []))
        yield from _by_tenant(
            "iotstream_rate_limited_requests",
            "Requests refused with 429: beyond the tenant's readings per second",
            stats.get("rate_limited"),
        )
        yield from _by_tenant(
            "iotstream_quota_refused_datastreams",
            "New datastreams refused: beyond the tenant's max_datastreams",
            stats.get("quota_refused"),
        )
        if "websocket_clients" in stats:
            yield GaugeMetricFamily(
                "iotstream_websocket_clients", "Connected live clients", value=stats["websocket_clients"]
            )
            yield _counter(
                "iotstream_websocket_dropped",
                "Live clients closed for being too slow",
                stats["websocket_dropped"],
            )


def _by_tenant(name: str, documentation: str, counts: dict[str, int] | None) -> Iterator[Metric]:
    if counts is None:
        return
    family = CounterMetricFamily(name, documentation, labels=["tenant"])
    for tenant, count in sorted(counts.items()):
        family.add_metric([tenant], count)
    yield family


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


def _jobs(jobs: dict[str, dict[str, Any]]) -> Iterator[Metric]:
    events = CounterMetricFamily("iotstream_job_events", "Records read by each job", labels=["job"])
    delay = GaugeMetricFamily(
        "iotstream_job_watermark_delay_seconds", "Wall clock minus each job's watermark", labels=["job"]
    )
    for name, job in jobs.items():
        events.add_metric([name], job["events_in"])
        if job.get("watermark_delay_s") is not None:
            delay.add_metric([name], job["watermark_delay_s"])
    yield events
    yield delay


def _notifications(sinks: dict[str, dict[str, int]]) -> Iterator[Metric]:
    """Per sink: sent, retried (failed attempts), dead_lettered, skipped (not a notifying event)."""
    outcomes = CounterMetricFamily(
        "iotstream_notifications", "Alert notification outcomes per sink", labels=["sink", "result"]
    )
    for sink, counts in sinks.items():
        for result, count in counts.items():
            outcomes.add_metric([sink, result], count)
    yield outcomes


def _relay(relay: dict[str, Any]) -> Iterator[Metric]:
    """An edge site's link to the central site."""
    yield GaugeMetricFamily(
        "iotstream_relay_connected", "1 while the last relay request succeeded", value=int(relay["connected"])
    )
    yield GaugeMetricFamily(
        "iotstream_relay_backlog_records", "Records not relayed yet", value=relay["backlog_records"]
    )
    yield GaugeMetricFamily(
        "iotstream_relay_backlog_bytes", "Estimated bytes not relayed yet", value=relay["backlog_bytes"]
    )
    yield GaugeMetricFamily(
        "iotstream_relay_oldest_unsent_age_seconds",
        "Age of the oldest record not relayed yet",
        value=relay["oldest_unsent_age_s"],
    )
    yield GaugeMetricFamily("iotstream_relay_rate", "Records relayed per second lately", value=relay["rate"])
    yield _counter("iotstream_relay_records", "Records the central site confirmed", relay["relayed"])
    yield _counter("iotstream_relay_dropped", "Records dropped past [relay] max_backlog", relay["dropped"])


def _sites(sites: list[dict[str, Any]]) -> Iterator[Metric]:
    """At a central site: each edge site that relays to it."""
    families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {
        "lag_records": GaugeMetricFamily(
            "iotstream_site_lag_records", "Records the site has not relayed yet", labels=["site"]
        ),
        "lag_s": GaugeMetricFamily(
            "iotstream_site_lag_seconds", "How far behind the site's data is here", labels=["site"]
        ),
        "rate": GaugeMetricFamily(
            "iotstream_site_rate", "Records per second the site relays", labels=["site"]
        ),
        "relayed": CounterMetricFamily(
            "iotstream_site_records", "Records relayed by the site", labels=["site"]
        ),
    }
    for site in sites:
        for key, family in families.items():
            family.add_metric([site["site"]], site[key])
    yield from families.values()


def _lag(lags: list[dict[str, Any]]) -> Iterator[Metric]:
    gauge = GaugeMetricFamily(
        "iotstream_consumer_lag", "Records not yet committed", labels=["group", "topic", "partition"]
    )
    for lag in lags:
        gauge.add_metric([lag["group"], lag["topic"], str(lag["partition"])], lag["lag"])
    yield gauge


def _histogram(name: str, documentation: str, snapshot: dict[str, list[int]]) -> HistogramMetricFamily:
    """Our 1-ms histogram regrouped into Prometheus' cumulative buckets, in seconds."""
    cumulative, running, buckets = {}, 0, []
    for edge, count in zip(snapshot["le_ms"], snapshot["counts"], strict=True):
        running += count
        cumulative[edge] = running
    total = running
    edges = sorted(cumulative)
    for bound in _BUCKETS_MS:
        within = max((e for e in edges if e <= bound), default=None)
        buckets.append((str(bound / 1000), float(cumulative[within] if within is not None else 0)))
    buckets.append(("+Inf", float(total)))
    # The sum is estimated from bucket bounds (1 ms wide up to a second); the open last bucket counts 60 s.
    bounds = [min(edge, 60_000) for edge in snapshot["le_ms"]]
    weighted = sum(edge * count for edge, count in zip(bounds, snapshot["counts"], strict=True))
    return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=weighted / 1000)

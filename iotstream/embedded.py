"""Everything in one process (`iotstream up`): log, ingestion (HTTP, MQTT), the configured jobs, the
store with its sink and retention task, and the API.

This is the one place that wires roles together in embedded mode, so each role stays unaware of the
others and the distributed mode can start the same roles one per process. Roles stop in the reverse
order of the data flow: first nothing new is accepted, then what was accepted is acknowledged, then
the jobs checkpoint, then the sink writes what it holds.
"""

import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self

from iotstream.alerts import Delivery, deliveries
from iotstream.api.app import serve
from iotstream.api.live import LiveHub
from iotstream.api.server import ApiServer
from iotstream.api.services import Services
from iotstream.config import Settings
from iotstream.ingest.ingestor import Ingestor, Unstorable
from iotstream.ingest.mqtt import MqttIngest
from iotstream.ingest.mqtt_broker import EmbeddedBroker
from iotstream.log import BaseLog, open_log
from iotstream.log.topics import ALERTS, OBSERVATIONS, platform_topics
from iotstream.log.types import TopicSpec
from iotstream.models import Observation
from iotstream.processing.jobs import AGGREGATES, build_jobs, internal_topics
from iotstream.processing.runner import JobRunner
from iotstream.processing.watermark import NO_WATERMARK
from iotstream.registry.catalog import Catalog, open_catalog
from iotstream.registry.datastreams import DatastreamKeys
from iotstream.registry.publisher import RegistryPublisher, registry_topics
from iotstream.registry.sensorthings.mqtt import SensorThingsMqtt
from iotstream.registry.sensorthings.sending import ObservationSender
from iotstream.registry.sensorthings.service import SensorThings
from iotstream.registry.spans import DatastreamSpans
from iotstream.registry.writes import RegistryWrites
from iotstream.storage import BaseStorage, RetentionSettings, RetentionWorker, open_storage
from iotstream.storage.retention import TIERS
from iotstream.storage.sink import SinkTopics, StorageSink

__all__ = ["EmbeddedPlatform"]

# After a small batch the sink waits this long before the next poll. 32 devices sending one reading per
# request each: 10 ms made writes of ~50 readings and 4,900-5,600 requests/s; 50 ms, 6,000-6,400 with
# 15% less CPU. A busy stream's batches go at once, so this is latency only for quiet ones.
_SINK_LINGER_MS = 50


class EmbeddedPlatform:
    """Starts the roles configured in `settings` and stops them in reverse order.

    `serve_api=False` leaves the HTTP server out (tests that call `ingestor` directly).
    """

    def __init__(self, settings: Settings, *, serve_api: bool = True) -> None:
        self.settings = settings
        self.log: BaseLog | None = None
        self.storage: BaseStorage | None = None
        self.catalog: Catalog | None = None
        self.ingestor: Ingestor | None = None
        self.api: ApiServer | None = None
        self.mqtt_broker: EmbeddedBroker | None = None
        self._mqtt: MqttIngest | None = None
        self._sink: StorageSink | None = None
        self._runners: list[JobRunner] = []
        self._deliveries: list[Delivery] = []
        self._live: LiveHub | None = None
        self._serve_api = serve_api
        self._stopped = threading.Event()
        self._roles_stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._retention: RetentionWorker | None = None
        self._publisher: RegistryPublisher | None = None
        self._sta_mqtt: SensorThingsMqtt | None = None
        self._spans: DatastreamSpans | None = None

    def start(self) -> Self:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        settings = self.settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.log = log = open_log(settings.log)
        self._create_topics(log)
        self.storage = storage = open_storage(settings.storage)
        self._start_sink(log, storage)
        self.catalog = catalog = open_catalog(settings.registry.url)
        self._publisher = RegistryPublisher(catalog, log).start()  # before the jobs that join with it
        self._start_notify(log)  # before the jobs: a new sink starts at the alerts topic's end
        self._start_jobs(log)
        keys = DatastreamKeys(catalog)
        keys.register([*settings.ingest.datastreams, *storage.latest()])  # readings older than the catalog
        self._spans = spans = DatastreamSpans(catalog).start()
        self.ingestor = Ingestor(
            log,
            settings.ingest,
            keys.known,
            keys.register,
            unstorable=_refusals_of(storage),
            observed=spans.observe,
        )
        self._start_mqtt(self.ingestor)
        if self._serve_api:
            self._start_api(log, storage, catalog, keys, self.ingestor)

    def _start_api(
        self, log: BaseLog, storage: BaseStorage, catalog: Catalog, keys: DatastreamKeys, ingestor: Ingestor
    ) -> None:
        settings = self.settings
        self._live = LiveHub(log, {OBSERVATIONS: "reading", AGGREGATES: "window", ALERTS: "alert"}).start()
        writes = RegistryWrites(keys, ObservationSender(ingestor))
        sensorthings = SensorThings(catalog, storage, writes.apply)
        live, value_of, stats = self._live, _value_of(settings), self.stats
        services = Services(settings, ingestor, storage, value_of, keys.describe, stats, live, sensorthings)
        self.api = ApiServer(serve(services), settings.api.host, settings.api.port).start()
        if self._mqtt is not None and settings.mqtt.sensorthings:
            base = f"{self.api.url}/v1.1"
            self._sta_mqtt = SensorThingsMqtt(settings.mqtt, sensorthings, ingestor, log, base).start()

    def _start_mqtt(self, ingestor: Ingestor) -> None:
        mqtt = self.settings.mqtt
        if mqtt.embedded:
            self.mqtt_broker = EmbeddedBroker(*mqtt.host_port).start()
            if self.mqtt_broker.kind == "amqtt":  # it speaks MQTT 3.1.1 only
                self.settings = self.settings.model_copy(
                    update={"mqtt": mqtt.model_copy(update={"version": 3})}
                )
                mqtt = self.settings.mqtt
        if mqtt.enabled or mqtt.embedded:
            self._mqtt = MqttIngest(mqtt, ingestor).start()

    def _create_topics(self, log: BaseLog) -> None:
        for spec in platform_topics(self.settings.log.default_partitions):
            log.create_topic(spec, exist_ok=True)
        log.create_topic(TopicSpec(AGGREGATES, self.settings.log.default_partitions), exist_ok=True)
        for spec in registry_topics():
            log.create_topic(spec, exist_ok=True)
        for name in internal_topics(self.settings.jobs):
            log.create_topic(TopicSpec(name, partitions=1), exist_ok=True)

    def _start_sink(self, log: BaseLog, storage: BaseStorage) -> None:
        self._sink = sink = StorageSink(
            log, storage, SinkTopics(aggregates=(AGGREGATES,)), linger_ms=_SINK_LINGER_MS
        )
        self._spawn("iotstream-sink", sink.run)
        retention = self.settings.storage.retention
        if retention.interval_ms:
            self._retention = RetentionWorker(storage.apply_retention, retention.interval_ms).start()

    def _start_jobs(self, log: BaseLog) -> None:
        state_dir = self.settings.data_dir / "state"
        state_dir.mkdir(parents=True, exist_ok=True)
        for job in build_jobs(self.settings.jobs):
            runner = JobRunner(job, log, state_dir)
            self._runners.append(runner)
            self._spawn(f"iotstream-job:{job.name}", runner.run)

    def _start_notify(self, log: BaseLog) -> None:
        for delivery in deliveries(self.settings.notify, log):
            self._deliveries.append(delivery)
            self._spawn(f"iotstream-notify:{delivery.sink.name}", delivery.run)

    def _spawn(self, name: str, run: Callable[[threading.Event], None]) -> None:
        thread = threading.Thread(target=run, args=(self._roles_stop,), name=name)
        thread.start()
        self._threads.append(thread)

    def stats(self) -> dict[str, Any]:
        """Counters for `GET /api/v1/stats`."""
        result: dict[str, Any] = {}
        if self.ingestor is not None:
            ingest = self.ingestor
            result["ingest"] = vars(ingest.counts) | {"pending": ingest.pending}
            result["ingest"]["log_latency_ms"] = ingest.log_latency.snapshot()
        if self._sink is not None:
            sink = self._sink
            result["sink"] = {"stored": sink.stored, "rejected": sink.rejected}
            result["sink"] |= {"latency_ms": sink.latency.snapshot(), "write_ms": sink.write_time.snapshot()}
        if self._live is not None:
            result["websocket_clients"] = self._live.clients
            result["websocket_dropped"] = self._live.dropped
        result["jobs"] = {runner.job.name: _job_stats(runner) for runner in self._runners}
        result["notify"] = {d.sink.name: dict(d.counts) for d in self._deliveries}
        if self.log is not None:
            groups = ["iotstream.storage", *(f"iotstream.job.{r.job.name}" for r in self._runners)]
            groups += [delivery.group for delivery in self._deliveries]
            result["lag"] = [
                {"group": g.group, "topic": g.topic, "partition": g.partition, "lag": g.lag}
                for group in groups
                for g in self.log.group_lag(group)
            ]
        return result

    def running(self) -> list[str]:
        """One line per running role, for the start-up banner."""
        if self.log is None:
            return []
        settings, log = self.settings, self.settings.log
        maintenance = (
            f"retention/compaction every {log.maintenance_interval_ms / 1000:g} s"
            if log.maintenance_interval_ms
            else "retention off"
        )
        jobs = ", ".join(f"{job.name} ({job.type})" for job in settings.jobs) or "none configured"
        lines = [
            f"log: {log.url} (fsync {'on' if log.fsync else 'off'}, {maintenance})",
            f"storage: {settings.storage.url}",
            f"  {_tiers(settings.storage.retention)}",
            f"jobs: {jobs}",
            "storage sink: readings, aggregates, late readings and alerts → storage",
        ]
        if settings.notify.sinks:
            sinks = ", ".join(sink.name or sink.type for sink in settings.notify.sinks)
            lines.append(f"notifications: {sinks} ({', '.join(settings.notify.events)} events)")
        mqtt = settings.mqtt
        if self._mqtt is not None:
            broker = "embedded broker" if self.mqtt_broker is not None else "broker"
            lines.append(f"MQTT: {broker} {mqtt.url}, readings on {mqtt.topic}")
        if self.api is not None:
            lines.append(f"HTTP API: {self.api.url} (POST /api/v1/readings; docs at {self.api.url}/docs)")
        return lines

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until `request_stop` (e.g. from a signal handler); True once asked to stop."""
        return self._stopped.wait(timeout_s)

    def request_stop(self) -> None:
        """Safe from a signal handler: only sets a flag; `stop` does the work afterwards."""
        self._stopped.set()

    def stop(self) -> None:
        """Nothing new is accepted, what was accepted is acknowledged, jobs checkpoint, the sink writes."""
        self._stopped.set()
        if self.api is not None:
            self.api.stop()
            self.api = None
        if self._live is not None:
            self._live.stop()
            self._live = None
        if self._sta_mqtt is not None:
            self._sta_mqtt.stop()
            self._sta_mqtt = None
        if self._mqtt is not None:
            self._mqtt.stop()
            self._mqtt = None
        if self.mqtt_broker is not None:
            self.mqtt_broker.stop()
            self.mqtt_broker = None
        if self.ingestor is not None:
            self.ingestor.flush()
            self.ingestor.close()
            self.ingestor = None
        self._roles_stop.set()
        for thread in self._threads:
            thread.join()
        self._threads.clear()
        self._runners.clear()
        self._deliveries.clear()
        if self._retention is not None:
            self._retention.stop()
            self._retention = None
        if self.storage is not None:
            self.storage.close()
            self.storage = None
        if self._spans is not None:
            self._spans.stop()
            self._spans = None
        if self._publisher is not None:
            self._publisher.close()
            self._publisher = None
        if self.catalog is not None:
            self.catalog.close()
            self.catalog = None
        if self.log is not None:
            self.log.close()
            self.log = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _job_stats(runner: JobRunner) -> dict[str, Any]:
    watermark = runner.watermark_ms
    delay = None if watermark == NO_WATERMARK else time.time() - watermark / 1000
    return {"events_in": runner.events_in, "watermark_ms": watermark, "watermark_delay_s": delay}


def _value_of(settings: Settings) -> Callable[[str], str | None]:
    def value_of(datastream: str) -> str | None:
        return next((v for job in settings.jobs if (v := job.value_of(datastream))), None)

    return value_of


def _tiers(retention: RetentionSettings) -> str:
    def keep(ms: int | None) -> str:
        return "forever" if ms is None else f"{ms / 86_400_000:g}d"

    tiers = ", ".join(f"{tier} {keep(retention.of(tier))}" for tier in TIERS)
    if all(retention.of(tier) is None for tier in TIERS) and not retention.datastreams:
        tiers = "every tier forever"
    every = f"every {retention.interval_ms / 1000:g} s" if retention.interval_ms else "off"
    return f"keeps {tiers}; retention {every}"


def _refusals_of(storage: BaseStorage) -> Unstorable:
    """Ingestion refuses at once what the store would refuse later (a reading older than a raw tier)."""

    def refusals(readings: Sequence[Observation]) -> dict[int, str]:
        return {rejected.position: rejected.reason for rejected in storage.valid_readings(readings)[1]}

    return refusals

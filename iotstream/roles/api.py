"""The `api` role: HTTP ingestion, queries, the dashboard, SensorThings and the live WebSocket."""

import time
from collections.abc import Callable
from typing import Any

from iotstream.api.access import Access
from iotstream.api.app import serve
from iotstream.api.health import Problems
from iotstream.api.live import LiveHub
from iotstream.api.server import ApiServer
from iotstream.api.services import Services
from iotstream.config import Settings
from iotstream.log.topics import ALERTS, OBSERVATIONS
from iotstream.processing.jobs import AGGREGATES
from iotstream.registry.access import AccessStore, TokenVerifier
from iotstream.relay.receiver import RelayReceiver
from iotstream.roles.base import Role
from iotstream.roles.parts import Parts

__all__ = ["ApiRole"]


class ApiRole(Role):
    name = "api"
    description = "HTTP ingestion, queries, dashboard, SensorThings, live WebSocket"

    def __init__(
        self, stats: Callable[[], dict[str, Any]], problems: Problems, metric_labels: dict[str, str]
    ) -> None:
        """`stats`, `problems` and `metric_labels`: of this process, for `/api/v1/stats`, `/healthz`,
        `/readyz` and `/metrics`."""
        self._stats = stats
        self._problems = problems
        self._metric_labels = metric_labels
        self.server: ApiServer | None = None
        self._live: LiveHub | None = None
        self._parts: Parts | None = None
        self._relay: RelayReceiver | None = None
        self._verifier: TokenVerifier | None = None
        self._access_control: Access | None = None

    def start(self, parts: Parts) -> None:
        self._parts = parts
        settings = parts.settings
        self._live = live = LiveHub(
            parts.log, {OBSERVATIONS: "reading", AGGREGATES: "window", ALERTS: "alert"}
        ).start()
        services = Services(
            settings,
            parts.ingestor,
            parts.storage,
            _value_of(settings),
            parts.keys.describe,
            self._stats,
            live,
            parts.sensorthings,
            self._problems,
            self._metric_labels,
            self._receiver(parts),
            self._access(parts),
            parts.schema_registry,
            parts.log,
        )
        api = settings.api
        tls = (api.tls_cert, api.tls_key) if api.tls_cert and api.tls_key else None
        app = serve(services)
        self.server = ApiServer(
            app, api.host, api.port, tls, api.max_connections, api.max_header_bytes
        ).start()

    def _access(self, parts: Parts) -> Access | None:
        if not parts.settings.auth.enabled:
            return None
        store = AccessStore(parts.catalog)
        self._verifier = TokenVerifier(store)
        self._access_control = Access(store, self._verifier, parts.settings.auth)
        return self._access_control

    def _receiver(self, parts: Parts) -> RelayReceiver:
        settings = parts.settings
        keys = parts.keys
        self._relay = RelayReceiver(
            parts.log, parts.catalog, settings.sites, keys.register, settings.log.default_partitions
        )
        return self._relay

    def stop(self) -> None:
        """Finishes the requests in flight; their readings are acknowledged by the log."""
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self._live is not None:
            self._live.stop()
            self._live = None
        if self._relay is not None:
            self._relay.close()
            self._relay = None
        if self._verifier is not None:
            self._verifier.close()
            self._verifier = None
        if self._parts is not None:
            self._parts.flush_ingestion()

    def stats(self) -> dict[str, Any]:
        if self._live is None:
            return {}
        stats: dict[str, Any] = {
            "websocket_clients": self._live.clients,
            "websocket_dropped": self._live.dropped,
        }
        if self._access_control is not None and self._parts is not None:
            stats["rate_limited"] = dict(self._access_control.limiter.refused)
            stats["quota_refused"] = dict(self._parts.quotas.refused)
        if self._relay is not None and (sites := self._relay.sites()):
            now_ms = time.time_ns() // 1_000_000
            stats["sites"] = [site.view(now_ms) for site in sites]
        return stats

    def banner(self) -> list[str]:
        if self.server is None:
            return []
        url = self.server.url
        return [f"HTTP API: {url} (POST /api/v1/readings; docs at {url}/docs)"]


def _value_of(settings: Settings) -> Callable[[str], str | None]:
    def value_of(datastream: str) -> str | None:
        return next((v for job in settings.jobs if (v := job.value_of(datastream))), None)

    return value_of

"""Roles composed into one process: `iotstream up` runs them all, `iotstream run ROLE...` a subset.

Roles start in the order of the data flow's end first — the sink, the registry publisher,
notifications, the jobs, then the ways in (API, MQTT) — so nothing is accepted before what consumes it
runs, and stop in reverse: first nothing new is accepted and what was accepted is acknowledged, then the
jobs checkpoint, then the sink writes what it holds. The shared connections close last.
"""

import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self

from iotstream._urls import without_password
from iotstream.api.health import health_app
from iotstream.api.server import ApiServer
from iotstream.config import Settings
from iotstream.exceptions import IotStreamError
from iotstream.ingest.ingestor import Ingestor
from iotstream.ingest.mqtt_broker import EmbeddedBroker
from iotstream.log import BaseLog
from iotstream.log.topics import OBSERVATIONS
from iotstream.registry.catalog import Catalog
from iotstream.roles import ROLE_NAMES
from iotstream.roles.api import ApiRole
from iotstream.roles.base import Role
from iotstream.roles.jobs import JobsRole
from iotstream.roles.lwm2m import Lwm2mRole
from iotstream.roles.mqtt import MqttRole
from iotstream.roles.notify import NotifyRole
from iotstream.roles.parts import Parts
from iotstream.roles.registry import RegistryRole
from iotstream.roles.relay import RelayRole
from iotstream.roles.sink import SinkRole
from iotstream.roles.sources import SourcesRole
from iotstream.storage import BaseStorage

__all__ = ["ROLE_NAMES", "Platform", "UnknownRoleError"]

_log = logging.getLogger(__name__)


_CLASSES: dict[str, type[Role]] = {
    "sink": SinkRole,
    "registry": RegistryRole,
    "notify": NotifyRole,
    "jobs": JobsRole,
    "relay": RelayRole,
    "sources": SourcesRole,
    "api": ApiRole,
    "mqtt": MqttRole,
    "lwm2m": Lwm2mRole,
}


class UnknownRoleError(IotStreamError):
    pass


class Platform:
    def __init__(self, settings: Settings, roles: Sequence[str] = ROLE_NAMES) -> None:
        unknown = [name for name in roles if name not in ROLE_NAMES]
        if unknown:
            raise UnknownRoleError(f"no role {unknown[0]!r}; the roles are {', '.join(ROLE_NAMES)}")
        self.settings = settings
        self._parts = Parts(settings)
        factories: dict[str, Callable[[], Role]] = {
            "sink": SinkRole,
            "registry": RegistryRole,
            "notify": NotifyRole,
            "jobs": JobsRole,
            "relay": RelayRole,
            "sources": SourcesRole,
            "lwm2m": Lwm2mRole,
            "api": lambda: ApiRole(self.stats, self.problems, self.metric_labels),
            "mqtt": lambda: MqttRole(lambda: self.api.url if self.api is not None else None),
        }
        names = [name for name in ROLE_NAMES if name in roles and _CLASSES[name].configured(settings)]
        self.metric_labels = {"roles": ",".join(names), "process": f"{socket.gethostname()}:{os.getpid()}"}
        self.roles = [factories[name]() for name in names]
        self._started: list[Role] = []
        self._stopped = threading.Event()
        self._health: ApiServer | None = None  # where a process without the API answers probes

    def start(self) -> Self:
        try:
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
            for role in self.roles:
                self._started.append(role)  # stopped too if it fails half-way: `stop` allows that
                role.start(self._parts)
            if self.role("api") is None:
                app = health_app(self.problems, self.stats, self.metric_labels)
                self._health = ApiServer(app, self.settings.api.host, self.settings.api.port).start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._health is not None:
            self._health.stop()
            self._health = None
        while self._started:
            role = self._started.pop()
            try:
                role.stop()
            except Exception:  # the other roles must still stop: their threads keep the process alive
                _log.exception("role %s did not stop cleanly", role.name)
        self._parts.close()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until `request_stop` (e.g. from a signal handler); True once asked to stop."""
        return self._stopped.wait(timeout_s)

    def request_stop(self) -> None:
        """Safe from a signal handler: only sets a flag; `stop` does the work afterwards."""
        self._stopped.set()

    def role(self, name: str) -> Role | None:
        return next((role for role in self.roles if role.name == name), None)

    @property
    def log(self) -> BaseLog | None:
        log: BaseLog | None = self._parts.opened("log")
        return log

    @property
    def storage(self) -> BaseStorage | None:
        storage: BaseStorage | None = self._parts.opened("storage")
        return storage

    @property
    def catalog(self) -> Catalog | None:
        catalog: Catalog | None = self._parts.opened("catalog")
        return catalog

    @property
    def ingestor(self) -> Ingestor | None:
        ingestor: Ingestor | None = self._parts.opened("ingestor")
        return ingestor

    @property
    def api(self) -> ApiServer | None:
        role = self.role("api")
        return role.server if isinstance(role, ApiRole) else None

    @property
    def url(self) -> str | None:
        """Where this process answers HTTP: the API, or else its health listener."""
        server = self.api or self._health
        return server.url if server is not None else None

    @property
    def mqtt_broker(self) -> EmbeddedBroker | None:
        role = self.role("mqtt")
        return role.broker if isinstance(role, MqttRole) else None

    def problems(self, ready: bool = False) -> list[str]:
        """What is wrong with the roles (liveness); with `ready`, also why they have nothing to serve
        and what they connect to that does not answer (readiness)."""
        problems = [f"{role.name}: {problem}" for role in self._started for problem in role.problems()]
        if self._stopped.is_set():
            problems.append("stopping")
        if ready:
            problems += [f"{role.name}: {reason}" for role in self._started for reason in role.unready()]
            problems += self._unreachable()
        return problems

    def _unreachable(self) -> list[str]:
        checks: list[tuple[str, Callable[[], object]]] = []
        if (log := self.log) is not None:
            checks.append(("log", lambda: log.describe_topic(OBSERVATIONS)))
        if (storage := self.storage) is not None:
            checks.append(("storage", storage.ping))
        if (catalog := self.catalog) is not None:
            checks.append(("catalog", catalog.ping))
        problems = []
        for name, check in checks:
            try:
                check()
            except Exception as err:  # whatever the backend raises, the probe reports it
                problems.append(f"{name}: {err}")
        return problems

    def stats(self) -> dict[str, Any]:
        """Counters of the roles in this process, for `GET /api/v1/stats`."""
        result: dict[str, Any] = {"jobs": {}, "notify": {}}
        if (ingestor := self.ingestor) is not None:
            result["ingest"] = vars(ingestor.counts) | {"pending": ingestor.pending}
            result["ingest"]["log_latency_ms"] = ingestor.log_latency.snapshot()
        for role in self._started:
            result |= role.stats()
        if (log := self.log) is not None:
            groups = [group for role in self._started for group in role.consumer_groups()]
            result["lag"] = [
                {"group": g.group, "topic": g.topic, "partition": g.partition, "lag": g.lag}
                for group in groups
                for g in log.group_lag(group)
            ]
        return result

    def running(self) -> list[str]:
        """One line per running role, for the start-up banner."""
        lines = []
        if self.log is not None:
            settings = self.settings.log
            maintenance = (
                f"retention/compaction every {settings.maintenance_interval_ms / 1000:g} s"
                if settings.maintenance_interval_ms
                else "retention off"
            )
            fsync = "on" if settings.fsync else "off"
            avro = ", own topics in Avro" if settings.format == "avro" else ""
            lines.append(f"log: {without_password(settings.url)} (fsync {fsync}, {maintenance}{avro})")
        return lines + [line for role in self._started for line in role.banner()]

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

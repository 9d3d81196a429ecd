"""What the routes need from the platform, handed to `create_app` instead of imported globals."""

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from iotstream.api.access import Access
from iotstream.api.live import LiveHub
from iotstream.config import Settings
from iotstream.ingest.ingestor import Ingestor
from iotstream.log.base import BaseLog
from iotstream.models import WindowAggregate
from iotstream.registry.access import AccessStore
from iotstream.registry.apps.store import AppStore
from iotstream.registry.schemas.store import SchemaRegistry
from iotstream.registry.sensorthings.service import SensorThings
from iotstream.relay.commands import CommandStore
from iotstream.relay.receiver import RelayReceiver
from iotstream.storage import BaseStorage

__all__ = ["Services"]


@dataclass(frozen=True)
class Services:
    settings: Settings
    ingestor: Ingestor
    storage: BaseStorage
    value_of: Callable[[str], str | None]  # the configured daily aggregate of a datastream, if any
    describe_datastreams: Callable[[], dict[str, dict[str, Any]]]  # the catalog's, by stream key
    stats: Callable[[], dict[str, Any]]  # counters of the roles in this process
    live: LiveHub  # WebSocket push
    sensorthings: SensorThings | None = None  # the registry's SensorThings API, where a catalog is configured
    problems: Callable[[bool], list[str]] = lambda ready: []  # for /healthz and /readyz (see api.health)
    metric_labels: dict[str, str] = field(default_factory=dict)  # on every sample of /metrics
    relay_receiver: RelayReceiver | None = None  # what edge sites relay to this (central) site
    access: Access | None = None  # tenants, tokens and rate limits, with `[auth] enabled`
    schemas: SchemaRegistry | None = None  # the Schema Registry API's state, in the log
    log: BaseLog | None = None  # where recomputed job results go

    @functools.cached_property
    def commands(self) -> CommandStore | None:
        """Device commands, kept in the catalog (None without one)."""
        return CommandStore(self.sensorthings.catalog) if self.sensorthings is not None else None

    @functools.cached_property
    def apps(self) -> AppStore | None:
        """Stream apps, kept in the catalog (None without one)."""
        if self.sensorthings is None:
            return None
        store = AppStore(self.sensorthings.catalog)
        if self.access is not None:  # a changed share is seen by this process's very next request
            store.on_share.append(self.access.verifier.forget)
        return store

    @functools.cached_property
    def access_store(self) -> AccessStore | None:
        """Tenants, users and tokens (None without a catalog); there even with access control off, so
        tokens can be made before it is turned on."""
        if self.access is not None:
            return self.access.store
        return AccessStore(self.sensorthings.catalog) if self.sensorthings is not None else None

    def window_value(self, row: WindowAggregate) -> float | None:
        """The aggregate configured for the row's datastream (its average when none is configured)."""
        value: float | None = getattr(row, self.value_of(row.datastream) or "avg")
        return value

"""The connections roles share within one process, each opened when the first role asks for it.

A process running only `sink` never opens the catalog; one running `api` and `mqtt` opens the log, the
store and the catalog once and builds one ingestor for both. Closing goes in the reverse order of
opening, after every role has stopped. The modules of the heavier parts (SensorThings, the schemas,
Avro) load when the part opens, so a command that needs the log and the catalog starts in a second.
"""

import functools
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from iotstream.config import Settings
from iotstream.ingest.ingestor import Ingestor, Unstorable
from iotstream.log import BaseLog, open_log
from iotstream.log.topics import platform_topics
from iotstream.log.types import TopicSpec
from iotstream.models import Observation
from iotstream.processing.jobs import AGGREGATES, internal_topics
from iotstream.registry.access.quotas import DatastreamQuotas
from iotstream.registry.catalog import Catalog, open_catalog
from iotstream.registry.datastreams import DatastreamKeys
from iotstream.registry.publisher import registry_topics
from iotstream.registry.spans import DatastreamSpans
from iotstream.relay.cursors import relay_topics
from iotstream.relay.forwarder import RELAY_GROUP
from iotstream.storage import BaseStorage, open_storage

if TYPE_CHECKING:
    from iotstream.log.avro import SchemaSource
    from iotstream.registry.schemas.store import SchemaRegistry
    from iotstream.registry.sensorthings.service import SensorThings

__all__ = ["Parts"]


class Parts:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._opened: dict[str, Any] = {}
        self._opening = threading.RLock()
        self._closers: list[Callable[[], None]] = []
        # Reasons to refuse readings for now (e.g. an edge site's relay backlog is full); None: accept.
        self.ingest_gates: list[Callable[[], str | None]] = []

    def _once(self, name: str, open_: Callable[[], Any], close: Callable[[Any], None]) -> Any:
        with self._opening:  # parts open at start, but the schemas at the first Avro reading
            if name not in self._opened:
                part = open_()
                self._opened[name] = part
                self._closers.append(lambda: close(part))
            return self._opened[name]

    def opened(self, name: str) -> Any | None:
        """The part if some role opened it (`log`, `storage`, `catalog`, `ingestor`), else None."""
        return self._opened.get(name)

    @property
    def log(self) -> BaseLog:
        """The log as the roles use it: JSON documents in and out, whatever `[log] format` stores."""
        log: BaseLog = self._once("log", self._open_log, lambda log: None)  # closed as `raw_log`
        return log

    @property
    def raw_log(self) -> BaseLog:
        """The log as the backend stores it."""
        log: BaseLog = self._once("raw_log", self._open_raw_log, lambda log: log.close())
        return log

    @property
    def schema_registry(self) -> "SchemaRegistry | None":
        """The platform's own Schema Registry; None when `[schemas] url` names another one."""
        return None if self.settings.schemas.url is not None else self._own_registry()

    def _own_registry(self) -> "SchemaRegistry":
        from iotstream.registry.schemas.store import SchemaRegistry

        registry: SchemaRegistry = self._once(
            "schema_registry", lambda: SchemaRegistry(self.raw_log), lambda registry: registry.close()
        )
        return registry

    @property
    def schemas(self) -> "SchemaSource":
        """Where Avro schemas are registered and looked up, for the Avro log and Avro readings."""
        schemas: SchemaSource = self._once("schemas", self._open_schemas, _close_schemas)
        return schemas

    @property
    def storage(self) -> BaseStorage:
        storage: BaseStorage = self._once(
            "storage", lambda: open_storage(self.settings.storage), lambda storage: storage.close()
        )
        return storage

    @property
    def catalog(self) -> Catalog:
        catalog: Catalog = self._once(
            "catalog", lambda: open_catalog(self.settings.registry.url), lambda catalog: catalog.close()
        )
        return catalog

    @property
    def keys(self) -> DatastreamKeys:
        keys: DatastreamKeys = self._once("keys", self._open_keys, lambda keys: None)
        return keys

    @property
    def spans(self) -> DatastreamSpans:
        spans: DatastreamSpans = self._once(
            "spans", lambda: DatastreamSpans(self.catalog).start(), lambda spans: spans.stop()
        )
        return spans

    @property
    def ingestor(self) -> Ingestor:
        ingestor: Ingestor = self._once("ingestor", self._open_ingestor, _close_ingestor)
        return ingestor

    @property
    def sensorthings(self) -> "SensorThings":
        sensorthings: SensorThings = self._once("sensorthings", self._open_sensorthings, lambda sta: None)
        return sensorthings

    def flush_ingestion(self) -> None:
        """What the ingestor took reaches the log, and the Datastreams' time spans the catalog: a way in
        calls this when it stops, while the registry publisher still follows the catalog."""
        if (ingestor := self._opened.get("ingestor")) is not None:
            ingestor.flush()
        if (spans := self._opened.get("spans")) is not None:
            spans.flush()

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()
        self._opened.clear()

    def _open_schemas(self) -> "SchemaSource":
        from iotstream.registry.schemas.source import LocalSchemas, RemoteSchemas

        settings = self.settings.schemas
        if settings.url is not None:
            return RemoteSchemas(settings.url, settings.timeout_s)
        return LocalSchemas(self._own_registry())

    def _open_log(self) -> BaseLog:
        raw = self.raw_log
        if self.settings.log.format != "avro":
            return raw
        from iotstream.log.avro import AvroCodec, AvroLog

        codec = AvroCodec(self.schemas)
        codec.register(raw.list_topics())  # an incompatible change of a record type stops the start here
        return AvroLog(raw, codec)

    def _open_raw_log(self) -> BaseLog:
        settings = self.settings.log
        if self.settings.relay.to is not None:  # an edge site: retention keeps what is not relayed yet
            settings = settings.model_copy(update={"keep_unread_by": [*settings.keep_unread_by, RELAY_GROUP]})
        log = open_log(settings)
        try:
            partitions = self.settings.log.default_partitions
            topics = [*platform_topics(partitions), TopicSpec(AGGREGATES, partitions), *registry_topics()]
            for spec in [*topics, *relay_topics()]:
                log.create_topic(spec, exist_ok=True)
            for name in internal_topics(self.settings.jobs):
                log.create_topic(TopicSpec(name, partitions=1), exist_ok=True)
        except BaseException:
            log.close()
            raise
        return log

    def _open_keys(self) -> DatastreamKeys:
        keys = DatastreamKeys(self.catalog)
        keys.register([*self.settings.ingest.datastreams, *self.storage.latest()])  # older than the catalog
        return keys

    def _open_ingestor(self) -> Ingestor:
        from iotstream.ingest.avro import AvroReadings

        keys, spans = self.keys, self.spans
        unstorable = _refusals_of(self.storage)
        return Ingestor(
            self.log,
            self.settings.ingest,
            keys.known,
            keys.register,
            unstorable=unstorable,
            observed=spans.observe,
            refusal=lambda: next((reason for gate in self.ingest_gates if (reason := gate())), None),
            over_quota=self.quotas,
            avro=AvroReadings(lambda schema_id: self.schemas.schema(schema_id)),  # opened at the first frame
        )

    @functools.cached_property
    def quotas(self) -> DatastreamQuotas:
        """Tenants' datastream quotas, with what they refused."""
        return DatastreamQuotas(self.catalog, self.keys.keys)

    def _open_sensorthings(self) -> "SensorThings":
        from iotstream.registry.sensorthings.sending import ObservationSender
        from iotstream.registry.sensorthings.service import SensorThings
        from iotstream.registry.writes import RegistryWrites

        writes = RegistryWrites(self.keys, ObservationSender(self.ingestor))
        return SensorThings(self.catalog, self.storage, writes.apply)


def _close_schemas(schemas: "SchemaSource") -> None:
    from iotstream.registry.schemas.source import RemoteSchemas

    if isinstance(schemas, RemoteSchemas):
        schemas.close()


def _close_ingestor(ingestor: Ingestor) -> None:
    ingestor.flush()
    ingestor.close()


def _refusals_of(storage: BaseStorage) -> Unstorable:
    """Ingestion refuses at once what the store would refuse later (a reading older than a raw tier)."""

    def refusals(readings: Sequence[Observation]) -> dict[int, str]:
        return {rejected.position: rejected.reason for rejected in storage.valid_readings(readings)[1]}

    return refusals

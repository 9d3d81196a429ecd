"""The SensorThings MQTT extension, on the broker MQTT ingestion uses.

Creating: an Observation published to `v1.1/Datastreams(id)/Observations` (or to `v1.1/Observations`
with its Datastream) is created exactly as a POST is, on worker threads so the network loop never waits
for the log. It is acknowledged (QoS 1) once created; one that cannot be created goes to the dead-letter
topic with the reason. Receiving: see `notify`.

Over MQTT 5 the subscription is "no local", so the broker does not send iotstream its own notifications
back; MQTT 3.1.1 has no such option, and a shared subscription (`[mqtt] shared_group`, several `mqtt`
processes) may not use it: there they are recognised (the only Observations carrying `@iot.selfLink`)
and dropped. With a shared group, the processes also split the notifying by the partitions of
`observations` (a consumer group), so each reading is notified once.
"""

import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgspec

from iotstream.ingest.config import MqttSettings
from iotstream.ingest.ingestor import Ingestor
from iotstream.ingest.mqtt_access import scope_of_topic
from iotstream.ingest.mqtt_wire import Incoming, WireClient, WireError
from iotstream.log import BaseLog
from iotstream.log.base import BaseConsumer
from iotstream.log.exceptions import LogError
from iotstream.log.topics import OBSERVATIONS
from iotstream.log.types import Record, TopicPartition
from iotstream.processing.tables import TableReader
from iotstream.registry.changes import Changes
from iotstream.registry.records import DATASTREAMS_TOPIC
from iotstream.registry.sensorthings.errors import Forbidden, StaError
from iotstream.registry.sensorthings.notify import PREFIX, ObservationMessages, entity_messages
from iotstream.registry.sensorthings.paths import parse_path
from iotstream.registry.sensorthings.service import SensorThings
from iotstream.storage.records import decode_observation

__all__ = ["SensorThingsMqtt"]

_log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode
_OWN = b'"@iot.selfLink"'
_MAX_RECORDS = 5_000
_LINGER_S = 0.02  # what notifications may wait for the next ones


class SensorThingsMqtt:
    def __init__(
        self,
        settings: MqttSettings,
        service: SensorThings,
        ingestor: Ingestor,
        log: BaseLog,
        base: str,
        *,
        tenants: bool = False,
    ) -> None:
        """`tenants`: access control is on, and each tenant creates and hears of its entities in its
        own namespace (`@acme/v1.1/…`)."""
        self._settings = settings
        self._service = service
        self._tenants = tenants
        self._ingestor = ingestor
        self._log = log
        self._base = base
        self._observation_messages = ObservationMessages(base)
        self._stop = threading.Event()
        self._workers = ThreadPoolExecutor(2, thread_name_prefix="iotstream-sta-mqtt")
        self._feed: threading.Thread | None = None
        filters = [f"{PREFIX}/Observations", f"{PREFIX}/+/Observations"]
        if tenants:
            filters += [f"+/{topic}" for topic in filters]
        topics = [settings.subscription(topic) for topic in filters]
        client_id = f"{settings.client_id}-sensorthings"
        self._client = WireClient(
            settings.host_port, client_id, settings.version, topics, self._received, **settings.connection()
        )

    def start(self, timeout_s: float = 10.0) -> "SensorThingsMqtt":
        try:
            self._client.start(timeout_s)
        except WireError as err:
            raise LogError(str(err)) from err
        self._service.catalog.on_commit.append(self._entities_changed)
        self._feed = threading.Thread(target=self._observations, name="iotstream-sta-mqtt-feed")
        self._feed.start()
        return self

    # creating

    def _received(self, messages: list[Incoming]) -> None:
        for message in messages:
            if _OWN in message.payload:  # MQTT 3.1.1 only: 5 does not send iotstream its own
                self._client.ack([message])
            else:
                self._workers.submit(self._create, message)

    def _create(self, message: Incoming) -> None:
        payload = message.payload
        try:
            body = msgspec.json.decode(payload)
            service, topic = self._service_for(message.topic)
            service.create(parse_path(topic.removeprefix(PREFIX)), body)
        except msgspec.DecodeError as err:
            self._refuse(message, f"the payload is not JSON: {err}")
        except StaError as err:
            self._refuse(message, str(err))
        except Exception:  # the log or catalog is down: no ack, so the broker resends it after a reconnect
            _log.exception("Observation from %s not created", message.topic)
            return
        self._client.ack([message])

    def _service_for(self, topic: str) -> tuple[SensorThings, str]:
        """The API over the tenant whose namespace the topic is in, and the topic within it."""
        if not self._tenants:
            return self._service, topic
        scope, rest = scope_of_topic(topic)
        if scope.system is not None:
            raise Forbidden(f"SensorThings entities belong to a whole tenant, not to system {scope.system!r}")
        return self._service.scoped(scope.tenant), rest

    def _refuse(self, message: Incoming, reason: str) -> None:
        payload, source = message.payload, f"mqtt:{message.topic}"
        self._ingestor.dead_letter(payload, f"SensorThings MQTT: {reason}", source)
        self._ingestor.flush()

    # receiving

    def _entities_changed(self, changes: Changes) -> None:
        self._client.publish(
            (topic, _encode(document)) for topic, document in entity_messages(changes, self._base)
        )

    def _observations(self) -> None:
        """Every new reading, published as an Observation of its Datastream."""
        tables: dict[str, dict[str, Any]] = {}
        datastreams = TableReader(self._log, [DATASTREAMS_TOPIC], tables)
        consumer = self._notifying_consumer()
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    records = consumer.poll(max_records=_MAX_RECORDS, timeout_s=0.2)
                    datastreams.refresh()  # after the poll: a reading's Datastream was published before it
                except LogError:
                    _log.exception("SensorThings MQTT: cannot read new readings; trying again")
                    self._stop.wait(1.0)
                    continue
                known = tables.get(DATASTREAMS_TOPIC, {})
                self._client.publish(self._messages(records, known))
                if len(records) < _MAX_RECORDS:  # gather for a while: a poll costs as much as 100 readings
                    self._stop.wait(_LINGER_S - (time.monotonic() - started))
        finally:
            consumer.close()
            datastreams.close()

    def _notifying_consumer(self) -> BaseConsumer:
        """New readings from now on: all of them, or with `shared_group` the partitions this process
        holds in a consumer group, so each reading is notified by one of the group's processes (from
        the end of a partition it takes over: notifications are QoS 0, best effort)."""
        if self._settings.shared_group:
            group = f"iotstream.sensorthings-mqtt.{self._settings.shared_group}"
            consumer = self._log.consumer(group, auto_offset_reset="latest")
            consumer.subscribe([OBSERVATIONS])
            return consumer
        consumer = self._log.consumer()
        partitions = self._log.describe_topic(OBSERVATIONS).spec.partitions
        consumer.assign([TopicPartition(OBSERVATIONS, p) for p in range(partitions)])
        consumer.seek_to_end()
        return consumer

    def _messages(self, records: list[Record], datastreams: dict[str, Any]) -> Iterator[tuple[str, bytes]]:
        for record in records:
            observation = decode_observation(record)
            if isinstance(observation, str):
                continue  # not a reading: the storage sink dead-letters it
            datastream = datastreams.get(observation.datastream)
            if datastream is not None:
                topics, payload = self._observation_messages(observation, datastream["@iot.id"])
                for topic in topics:
                    yield topic, payload

    def stop(self) -> None:
        self._stop.set()
        if self._feed is not None:
            self._feed.join()
        if self._entities_changed in self._service.catalog.on_commit:
            self._service.catalog.on_commit.remove(self._entities_changed)
        self._workers.shutdown(wait=True)
        self._client.stop()

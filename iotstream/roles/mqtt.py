"""The `mqtt` role: readings from an MQTT broker (started as a child process with `[mqtt] embedded`),
the SensorThings MQTT extension on the same broker, and commands to the platform's own devices."""

from collections.abc import Callable
from typing import Any

from pydantic import SecretStr

from iotstream.ingest.config import MqttSettings
from iotstream.ingest.mqtt import MqttIngest
from iotstream.ingest.mqtt_access import MqttAccess
from iotstream.ingest.mqtt_broker import EmbeddedBroker
from iotstream.registry.access import AccessStore, TokenVerifier
from iotstream.registry.access.accounts import BrokerAccounts
from iotstream.registry.sensorthings.mqtt import SensorThingsMqtt
from iotstream.relay.commands import CommandStore
from iotstream.relay.delivery import CommandDelivery
from iotstream.roles.base import Role
from iotstream.roles.parts import Parts

__all__ = ["MqttRole"]


class MqttRole(Role):
    name = "mqtt"
    description = "MQTT ingestion, the SensorThings MQTT extension and device commands"

    def __init__(self, api_url: Callable[[], str | None] = lambda: None) -> None:
        """`api_url`: where this process serves the API, if it does; the SensorThings notifications
        link to it (else to `[api] public_url`, else to `[api] host` and `port`)."""
        self._api_url = api_url
        self.broker: EmbeddedBroker | None = None
        self._ingest: MqttIngest | None = None
        self._sensorthings: SensorThingsMqtt | None = None
        self._commands: CommandDelivery | None = None
        self._parts: Parts | None = None
        self._verifier: TokenVerifier | None = None

    def start(self, parts: Parts) -> None:
        self._parts = parts
        settings = parts.settings.mqtt
        tenants = parts.settings.auth.enabled
        if settings.embedded:
            settings = self._start_broker(parts, settings, tenants)
        if not (settings.enabled or settings.embedded):
            return
        self._ingest = MqttIngest(settings, parts.ingestor, tenants=tenants).start()
        store = CommandStore(parts.catalog)
        self._commands = CommandDelivery(settings, store, parts.ingestor, tenants=tenants).start()
        if settings.sensorthings:
            api = parts.settings.api
            scheme = "https" if api.tls_cert else "http"
            served = self._api_url() or api.public_url or f"{scheme}://{api.host}:{api.port}"
            base = f"{served.rstrip('/')}/v1.1"
            self._sensorthings = SensorThingsMqtt(
                settings, parts.sensorthings, parts.ingestor, parts.log, base, tenants=tenants
            ).start()

    def _start_broker(self, parts: Parts, settings: MqttSettings, tenants: bool) -> MqttSettings:
        """Starts the embedded broker: only tokens get in with access control on (iotstream's own
        clients with a password made for this start). The settings its clients connect with."""
        access = None
        if tenants:
            self._verifier = TokenVerifier(AccessStore(parts.catalog))
            access = MqttAccess(BrokerAccounts(parts.catalog), self._verifier, settings.topic)
        tls = (settings.tls_cert, settings.tls_key) if settings.tls_cert and settings.tls_key else None
        # a reading's payload may be as large as an HTTP body; its topic and header may add 64 KiB more
        max_packet = parts.settings.ingest.max_body_bytes + 65_600
        self.broker = EmbeddedBroker(*settings.host_port, access, tls, max_packet_bytes=max_packet).start()
        update: dict[str, Any] = {}
        if access is not None:
            update |= {"username": access.user, "password": SecretStr(access.password)}
        if self.broker.kind == "amqtt":  # it speaks MQTT 3.1.1 only
            update["version"] = 3
        return settings.model_copy(update=update)

    def stop(self) -> None:
        if self._commands is not None:
            self._commands.stop()
            self._commands = None
        if self._sensorthings is not None:
            self._sensorthings.stop()
            self._sensorthings = None
        if self._ingest is not None:
            self._ingest.stop()
            self._ingest = None
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
        if self._verifier is not None:
            self._verifier.close()
            self._verifier = None
        if self._parts is not None:
            self._parts.flush_ingestion()

    def problems(self) -> list[str]:
        if self._commands is not None and not self._commands.running:
            return ["the delivery of device commands stopped"]
        return []

    def banner(self) -> list[str]:
        if self._ingest is None or self._parts is None:
            return []
        mqtt = self._parts.settings.mqtt
        broker = "embedded broker" if self.broker is not None else "broker"
        return [f"MQTT: {broker} {mqtt.url}, readings on {mqtt.topic}"]

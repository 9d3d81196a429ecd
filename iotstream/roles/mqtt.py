"""The `mqtt` role: readings from an MQTT broker (started as a child process with `[mqtt] embedded`),
the SensorThings MQTT extension on the same broker, and commands to the platform's own devices."""

from collections.abc import Callable

from iotstream.ingest.mqtt import MqttIngest
from iotstream.ingest.mqtt_broker import EmbeddedBroker
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

    def start(self, parts: Parts) -> None:
        self._parts = parts
        settings = parts.settings.mqtt
        if settings.embedded:
            self.broker = EmbeddedBroker(*settings.host_port).start()
            if self.broker.kind == "amqtt":  # it speaks MQTT 3.1.1 only
                settings = settings.model_copy(update={"version": 3})
        if not (settings.enabled or settings.embedded):
            return
        self._ingest = MqttIngest(settings, parts.ingestor).start()
        self._commands = CommandDelivery(settings, CommandStore(parts.catalog), parts.ingestor).start()
        if settings.sensorthings:
            api = parts.settings.api
            served = self._api_url() or api.public_url or f"http://{api.host}:{api.port}"
            base = f"{served.rstrip('/')}/v1.1"
            self._sensorthings = SensorThingsMqtt(
                settings, parts.sensorthings, parts.ingestor, parts.log, base
            ).start()

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

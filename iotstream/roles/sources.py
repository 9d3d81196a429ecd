"""The `sources` role: readings taken from log topics that gateways produce into (`[[sources]]`) and
from Modbus devices it polls (`[[modbus]]`)."""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from iotstream.config import Settings
from iotstream.ingest.modbus.config import ModbusSettings
from iotstream.ingest.source import TopicSource
from iotstream.log.base import BaseProducer
from iotstream.log.topics import ALERTS
from iotstream.log.types import TopicSpec
from iotstream.roles.base import ThreadedRole
from iotstream.roles.parts import Parts

if TYPE_CHECKING:
    from iotstream.ingest.modbus.poller import ModbusPoller

__all__ = ["SourcesRole"]


class SourcesRole(ThreadedRole):
    name = "sources"
    description = "readings from log topics gateways produce into, and from Modbus devices"

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[TopicSource] = []
        self.pollers: list[ModbusPoller] = []  # its module (and pymodbus) loads when devices are configured
        self._closers: list[Callable[[], None]] = []

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return bool(settings.sources or settings.modbus)

    def start(self, parts: Parts) -> None:
        partitions = parts.settings.log.default_partitions
        for settings in parts.settings.sources:
            parts.log.create_topic(
                TopicSpec(settings.topic, partitions), exist_ok=True
            )  # gateways may come later
            source = TopicSource(settings, parts.log, parts.ingestor, lambda i: parts.schemas.schema(i))
            self.sources.append(source)
            self.spawn(f"iotstream-source:{settings.topic}", source.run)
        if parts.settings.modbus:
            self._poll(parts, parts.settings.modbus)

    def _poll(self, parts: Parts, devices: list[ModbusSettings]) -> None:
        from iotstream.ingest.modbus.poller import ModbusPoller

        producer = parts.log.producer()
        self._closers.append(producer.close)
        for settings in devices:
            poller = ModbusPoller(settings, parts.ingestor, lambda episodes: _raise(producer, episodes))
            self.pollers.append(poller)
            self.spawn(f"iotstream-modbus:{settings.label}", poller.run)

    def stop(self) -> None:
        super().stop()
        while self._closers:
            self._closers.pop()()
        self.sources.clear()
        self.pollers.clear()

    def stats(self) -> dict[str, Any]:
        modbus = {poller.settings.label: dict(poller.counts) for poller in self.pollers}
        return {"sources": {source.settings.topic: dict(source.counts) for source in self.sources}} | (
            {"modbus": modbus} if modbus else {}
        )

    def consumer_groups(self) -> list[str]:
        return [source.settings.group_id for source in self.sources]

    def banner(self) -> list[str]:
        topics = ", ".join(source.settings.topic for source in self.sources)
        devices = ", ".join(poller.settings.label for poller in self.pollers)
        return [f"sources: readings from {topics}"] * bool(topics) + [f"modbus: polling {devices}"] * bool(
            devices
        )


def _raise(producer: BaseProducer, episodes: list[dict[str, Any]]) -> None:
    """Staleness episodes of a silent device onto `alerts`, keyed by datastream as rules' are."""
    for episode in episodes:
        key = episode["datastream"].encode()
        identity = f"{episode['rule']}/{episode['datastream']}/{episode['start']}/{episode['event']}".encode()
        value = msgspec.json.encode(episode)
        producer.produce(ALERTS, value, key, headers=[("id", identity)], timestamp_ms=episode["last"])

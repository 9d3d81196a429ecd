"""The `sources` role: readings taken from log topics that gateways produce into (`[[sources]]`)."""

from typing import Any

from iotstream.config import Settings
from iotstream.ingest.source import TopicSource
from iotstream.log.types import TopicSpec
from iotstream.roles.base import ThreadedRole
from iotstream.roles.parts import Parts

__all__ = ["SourcesRole"]


class SourcesRole(ThreadedRole):
    name = "sources"
    description = "readings from log topics gateways produce into"

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[TopicSource] = []

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return bool(settings.sources)

    def start(self, parts: Parts) -> None:
        partitions = parts.settings.log.default_partitions
        for settings in parts.settings.sources:
            parts.log.create_topic(
                TopicSpec(settings.topic, partitions), exist_ok=True
            )  # gateways may come later
            source = TopicSource(settings, parts.log, parts.ingestor, lambda i: parts.schemas.schema(i))
            self.sources.append(source)
            self.spawn(f"iotstream-source:{settings.topic}", source.run)

    def stop(self) -> None:
        super().stop()
        self.sources.clear()

    def stats(self) -> dict[str, Any]:
        return {"sources": {source.settings.topic: dict(source.counts) for source in self.sources}}

    def consumer_groups(self) -> list[str]:
        return [source.settings.group_id for source in self.sources]

    def banner(self) -> list[str]:
        topics = ", ".join(source.settings.topic for source in self.sources)
        return [f"sources: readings from {topics}"] if topics else []

"""The `registry` role: the catalog's entities published to the compacted registry topics, for stream
jobs that join readings with them (and for other sites and tools that read the log)."""

from iotstream._urls import without_password
from iotstream.registry.publisher import RegistryPublisher
from iotstream.roles.base import Role
from iotstream.roles.parts import Parts

__all__ = ["RegistryRole"]


class RegistryRole(Role):
    name = "registry"
    description = "the catalog published to the registry topics"

    def __init__(self) -> None:
        self.publisher: RegistryPublisher | None = None
        self._catalog = ""

    def start(self, parts: Parts) -> None:
        self.publisher = RegistryPublisher(parts.catalog, parts.log).start()
        self._catalog = without_password(parts.settings.registry.url)

    def stop(self) -> None:
        if self.publisher is not None:
            self.publisher.close()
            self.publisher = None

    def banner(self) -> list[str]:
        return [f"registry: the catalog {self._catalog} → registry topics"]

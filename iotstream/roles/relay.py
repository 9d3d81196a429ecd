"""The `relay` role: an edge site's log forwarded to the central site (`[relay] to`), store-and-forward,
with the link's state for `GET /api/v1/relay`, `/metrics` and the dashboard."""

from typing import Any

from iotstream.config import Settings
from iotstream.relay.channel import CommandChannel
from iotstream.relay.commands import CommandStore
from iotstream.relay.forwarder import RELAY_GROUP, Forwarder
from iotstream.roles.base import ThreadedRole
from iotstream.roles.parts import Parts

__all__ = ["RelayRole"]


class RelayRole(ThreadedRole):
    name = "relay"
    description = "edge → central relay, store-and-forward"

    def __init__(self) -> None:
        super().__init__()
        self.forwarder: Forwarder | None = None
        self.channel: CommandChannel | None = None

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return settings.relay.to is not None and settings.site is not None

    def start(self, parts: Parts) -> None:
        settings = parts.settings
        if settings.relay.to is None or settings.site is None:
            return  # `run relay` refuses this; a role list built by hand may still ask
        self.forwarder = Forwarder(parts.log, settings.site, settings.relay)
        parts.ingest_gates.append(lambda: self.forwarder.full if self.forwarder is not None else None)
        self.spawn("iotstream-relay", self.forwarder.run)
        self.channel = CommandChannel(CommandStore(parts.catalog), settings.site, settings.relay)
        self.spawn("iotstream-relay-commands", self.channel.run)

    def stop(self) -> None:
        super().stop()
        if self.forwarder is not None:
            self.forwarder.close()
            self.forwarder = None
        if self.channel is not None:
            self.channel.close()
            self.channel = None

    def stats(self) -> dict[str, Any]:
        if self.forwarder is None:
            return {}
        status = self.forwarder.status()
        if self.channel is not None:
            status["commands"] = {"received": self.channel.received, "last_error": self.channel.last_error}
        return {"relay": status}

    def consumer_groups(self) -> list[str]:
        return [RELAY_GROUP] if self.forwarder is not None else []

    def banner(self) -> list[str]:
        if self.forwarder is None:
            return []
        topics = ", ".join(self.forwarder.topics)
        return [f"relay: site {self.forwarder.status()['site']} → {self.forwarder.status()['to']} ({topics})"]

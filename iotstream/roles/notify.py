"""The `notify` role: alert events delivered to the configured sinks (webhooks, email, the log)."""

from typing import Any

from iotstream.alerts import deliveries
from iotstream.alerts.delivery import Delivery
from iotstream.roles.base import ThreadedRole
from iotstream.roles.parts import Parts

__all__ = ["NotifyRole"]


class NotifyRole(ThreadedRole):
    name = "notify"
    description = "alert notifications to the configured sinks"

    def __init__(self) -> None:
        super().__init__()
        self.deliveries: list[Delivery] = []
        self._summary: list[str] = []

    def start(self, parts: Parts) -> None:
        notify = parts.settings.notify
        if not notify.sinks:
            return
        for delivery in deliveries(notify, parts.log):
            self.deliveries.append(delivery)
            self.spawn(f"iotstream-notify:{delivery.sink.name}", delivery.run)
        sinks = ", ".join(sink.name or sink.type for sink in notify.sinks)
        self._summary = [f"notifications: {sinks} ({', '.join(notify.events)} events)"]

    def stop(self) -> None:
        super().stop()
        self.deliveries.clear()

    def stats(self) -> dict[str, Any]:
        return {"notify": {d.sink.name: dict(d.counts) for d in self.deliveries}}

    def consumer_groups(self) -> list[str]:
        return [delivery.group for delivery in self.deliveries]

    def banner(self) -> list[str]:
        return self._summary

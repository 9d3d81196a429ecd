"""Notifications of alert episodes: each configured sink delivers the `alerts` topic's events, joined
with the registry, through its own retrying consumer (see `delivery`).

`deliveries` imports the sinks when called: the settings import `alerts.config`, and every command
would otherwise load the mail and HTTP clients with them.
"""

from typing import TYPE_CHECKING

from iotstream.alerts.config import NotifySettings
from iotstream.log.base import BaseLog

if TYPE_CHECKING:
    from iotstream.alerts.delivery import Delivery

__all__ = ["NotifySettings", "deliveries"]


def deliveries(settings: NotifySettings, log: BaseLog) -> "list[Delivery]":
    """One delivery per configured sink; run each in a thread of its own."""
    from iotstream.alerts.delivery import Delivery
    from iotstream.alerts.sinks import open_sink

    return [Delivery(open_sink(sink), log, settings, tenant=sink.tenant) for sink in settings.sinks]

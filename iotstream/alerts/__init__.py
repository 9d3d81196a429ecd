"""Notifications of alert episodes: each configured sink delivers the `alerts` topic's events, joined
with the registry, through its own retrying consumer (see `delivery`)."""

from iotstream.alerts.config import NotifySettings
from iotstream.alerts.delivery import Delivery
from iotstream.alerts.sinks import open_sink
from iotstream.log.base import BaseLog

__all__ = ["Delivery", "NotifySettings", "deliveries"]


def deliveries(settings: NotifySettings, log: BaseLog) -> list[Delivery]:
    """One delivery per configured sink; run each in a thread of its own."""
    return [Delivery(open_sink(sink), log, settings, tenant=sink.tenant) for sink in settings.sinks]

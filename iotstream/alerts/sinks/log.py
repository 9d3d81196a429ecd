"""Log sink: notifications in the platform's own log (the `iotstream.notify` logger)."""

import logging

from iotstream.alerts.config import LogSinkSettings
from iotstream.alerts.sinks.base import BaseSink, Notice

__all__ = ["LogSink"]

_log = logging.getLogger("iotstream.notify")


class LogSink(BaseSink):
    def __init__(self, settings: LogSinkSettings) -> None:
        self.name = settings.name or settings.type

    def send(self, notice: Notice) -> None:
        _log.log(logging.WARNING if notice.alert["event"] == "open" else logging.INFO, "%s", notice.text)

"""Notification destinations, one file each; `open_sink` picks one by its settings' type."""

from iotstream.alerts.config import (
    EmailSettings,
    LogSinkSettings,
    SinkSettings,
    TelegramSettings,
    WebhookSettings,
)
from iotstream.alerts.sinks.base import BaseSink, DeliveryError, Notice
from iotstream.alerts.sinks.email import EmailSink
from iotstream.alerts.sinks.log import LogSink
from iotstream.alerts.sinks.telegram import TelegramSink
from iotstream.alerts.sinks.webhook import WebhookSink

__all__ = ["BaseSink", "DeliveryError", "Notice", "open_sink"]


def open_sink(settings: SinkSettings) -> BaseSink:
    match settings:
        case WebhookSettings():
            return WebhookSink(settings)
        case EmailSettings():
            return EmailSink(settings)
        case TelegramSettings():
            return TelegramSink(settings)
        case LogSinkSettings():
            return LogSink(settings)
    raise AssertionError(f"unknown sink {settings!r}")

"""One interface for every notification destination: `send` delivers one message or raises why not."""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

__all__ = ["BaseSink", "DeliveryError", "Notice"]


@dataclass(frozen=True)
class Notice:
    """One rendered notification: `text` for chat-like sinks, `fields` for structured ones."""

    text: str
    fields: dict[str, Any]
    alert: dict[str, Any]
    id: str = ""  # the same for every delivery of one event, so a receiver can drop a repeated one


class DeliveryError(Exception):
    """The destination did not take the message. `permanent`: trying again cannot help (a 4xx, an
    unknown recipient), so the message is dead-lettered instead of retried."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


class BaseSink(ABC):
    name: str

    @abstractmethod
    def send(self, notice: Notice) -> None:
        """Deliver `notice` or raise `DeliveryError`; called from the sink's own thread only."""

    def close(self) -> None:  # noqa: B027 - most sinks hold nothing to release
        """Release connections."""


def http_failure(status: int, body: str) -> DeliveryError:
    """Server trouble and rate limits are worth retrying; other client errors are not."""
    retry = status >= 500 or status in (408, 425, 429)
    return DeliveryError(f"HTTP {status}: {body[:200]}", permanent=not retry)

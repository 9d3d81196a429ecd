"""MQTT ingestion: readings published to a broker become readings on the log, acknowledged late.

The subscription is QoS 1 with manual acknowledgement: a message's PUBACK goes back to the broker only
once the log holds its readings, so a crash makes the broker deliver it again (and message ids make
the repeat harmless). A payload that is not usable goes to the dead-letter topic with the reason;
when the log falls behind, the network thread waits, and TCP slows the publishers down.
"""

import logging
import threading
from collections.abc import Callable

from iotstream.ingest.config import MqttSettings
from iotstream.ingest.ingestor import IngestBusyError, Ingestor, problem_of
from iotstream.ingest.mqtt_access import scope_of_topic
from iotstream.ingest.mqtt_wire import Incoming, WireClient, WireError
from iotstream.log.exceptions import LogError
from iotstream.registry.access import Scope

__all__ = ["MqttIngest", "datastream_from_topic"]

_log = logging.getLogger(__name__)


def datastream_from_topic(topic_filter: str, topic: str) -> str | None:
    """The topic level where the filter has its first `+`, if any.

    >>> datastream_from_topic("iotstream/+/readings", "iotstream/kitchen-temp/readings")
    'kitchen-temp'
    """
    return _level(topic, _plus_level(topic_filter))


def _plus_level(topic_filter: str) -> int | None:
    levels = topic_filter.split("/")
    return levels.index("+") if "+" in levels else None


def _level(topic: str, index: int | None) -> str | None:
    if index is None:
        return None
    parts = topic.split("/")
    return parts[index] if index < len(parts) and parts[index] else None


class MqttIngest:
    def __init__(self, settings: MqttSettings, ingestor: Ingestor, *, tenants: bool = False) -> None:
        """`tenants`: access control is on, and tenants publish in their namespaces (`@acme/<topic>`;
        see `mqtt_access`), whose readings take their names."""
        self._settings = settings
        self._ingestor = ingestor
        self._datastream_level = _plus_level(settings.topic)  # once, not per message
        self._tenants = tenants
        self._stopping = threading.Event()
        topics = [settings.subscription(settings.topic)]
        if tenants:
            topics.append(settings.subscription(f"+/{settings.topic}"))
        self._client = WireClient(
            settings.host_port,
            settings.client_id,
            settings.version,
            topics,
            self._received,
            **settings.connection(),
        )

    def start(self, timeout_s: float = 10.0) -> "MqttIngest":
        try:
            self._client.start(timeout_s)
        except WireError as err:
            raise LogError(str(err)) from err
        return self

    def _received(self, messages: list[Incoming]) -> None:
        """Acknowledged together once the log has the readings and the dead letters (else not at all:
        the broker sends them again)."""
        acks = _Countdown(2, lambda: self._client.ack(messages))
        items = [self._item(m) for m in messages]
        while True:
            try:
                results = self._ingestor.submit_messages(items, acks.tick)
            except IngestBusyError:
                # The log is behind, or readings are refused for now (a full relay backlog, maybe for
                # hours): wait, but not past a stop; unacknowledged, the messages stay with the broker.
                if self._stopping.wait(0.01):
                    return
                continue
            except LogError as err:
                _log.warning("MQTT readings not taken, the broker will resend them: %s", err)
                return
            break
        bad = [
            (m, reason) for m, result in zip(messages, results, strict=True) if (reason := problem_of(result))
        ]
        for message, reason in bad:
            self._ingestor.dead_letter(message.payload, reason, f"mqtt:{message.topic}")
        acks.tick(LogError("dead letters not on the log") if bad and self._ingestor.flush() else None)

    def _item(self, message: Incoming) -> tuple[bytes, str | None, Scope | None]:
        """The payload, the datastream its topic names, and whose names it carries."""
        if not self._tenants:
            return message.payload, _level(message.topic, self._datastream_level), None
        scope, topic = scope_of_topic(message.topic)
        name = _level(topic, self._datastream_level)
        if name is not None and scope.system is not None:  # a topic level holds no '/': it names one
            name = f"{scope.system}/{name}"  # of the system's datastreams
        return message.payload, name, scope

    def stop(self) -> None:
        self._stopping.set()
        self._client.stop()


class _Countdown:
    """Calls `then` once every one of `count` parts has ticked without an error."""

    def __init__(self, count: int, then: Callable[[], None]) -> None:
        self._left = count
        self._failed = False
        self._then = then
        self._lock = threading.Lock()

    def tick(self, error: Exception | None) -> None:
        with self._lock:
            self._left -= 1
            self._failed = self._failed or error is not None
            finished = self._left == 0 and not self._failed
        if finished:
            self._then()

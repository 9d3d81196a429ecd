"""MQTT ingestion: readings published to a broker become readings on the log, acknowledged late.

The subscription is QoS 1 with manual acknowledgement: a message's PUBACK goes back to the broker only
once the log holds its readings, so a crash makes the broker deliver it again (and message ids make
the repeat harmless). A payload that is not usable goes to the dead-letter topic with the reason;
when the log falls behind, the network thread waits, and TCP slows the publishers down.
"""

import logging
import time

from iotstream.ingest.config import MqttSettings
from iotstream.ingest.ingestor import IngestBusyError, Ingestor
from iotstream.ingest.mqtt_wire import Incoming, WireClient, WireError
from iotstream.ingest.readings import InvalidPayloadError
from iotstream.log.exceptions import LogError

__all__ = ["MqttIngest", "datastream_from_topic"]

_log = logging.getLogger(__name__)


def datastream_from_topic(topic_filter: str, topic: str) -> str | None:
    """The topic level where the filter has its first `+`, if any.

    >>> datastream_from_topic("iotstream/+/readings", "iotstream/kitchen-temp/readings")
    'kitchen-temp'
    """
    levels = topic_filter.split("/")
    if "+" not in levels:
        return None
    parts = topic.split("/")
    index = levels.index("+")
    return parts[index] if index < len(parts) and parts[index] else None


class MqttIngest:
    def __init__(self, settings: MqttSettings, ingestor: Ingestor) -> None:
        self._settings = settings
        self._ingestor = ingestor
        self._client = WireClient(
            settings.host_port, settings.client_id, settings.version, [settings.topic], self._received
        )

    def start(self, timeout_s: float = 10.0) -> "MqttIngest":
        try:
            self._client.start(timeout_s)
        except WireError as err:
            raise LogError(str(err)) from err
        return self

    def _received(self, message: Incoming) -> None:
        datastream = datastream_from_topic(self._settings.topic, message.topic)

        def done(error: Exception | None) -> None:
            if error is None:
                self._client.ack(message)  # else no ack: the broker delivers it again

        while True:
            try:
                result = self._ingestor.submit(message.payload, done, datastream=datastream)
            except IngestBusyError:
                time.sleep(0.01)
                continue
            except InvalidPayloadError as err:
                self._dead_letter(message, str(err))
                return
            except LogError as err:
                _log.warning("MQTT reading not taken, the broker will resend it: %s", err)
                return
            break
        if result.rejected:
            reasons = "; ".join(f"item {e.position}: {e.error}" for e in result.rejected)
            self._ingestor.dead_letter(message.payload, reasons, f"mqtt:{message.topic}")

    def _dead_letter(self, message: Incoming, reason: str) -> None:
        self._ingestor.dead_letter(message.payload, reason, f"mqtt:{message.topic}")
        self._ingestor.flush()
        self._client.ack(message)

    def stop(self) -> None:
        self._client.stop()

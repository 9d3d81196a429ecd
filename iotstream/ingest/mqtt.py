"""MQTT ingestion: readings published to a broker become readings on the log, acknowledged late.

The subscription is QoS 1 with manual acknowledgement: a message's PUBACK goes back to the broker only
once the log holds its readings, so a crash makes the broker deliver it again (and message ids make
the repeat harmless). A payload that is not usable goes to the dead-letter topic with the reason;
when the log falls behind, the network thread waits, and TCP slows the publishers down.
"""

import logging
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from iotstream.ingest.config import MqttSettings
from iotstream.ingest.ingestor import IngestBusyError, Ingestor
from iotstream.ingest.readings import InvalidPayloadError
from iotstream.log.exceptions import LogError

__all__ = ["MqttIngest", "connect", "datastream_from_topic", "durable_client", "subscribe"]

_log = logging.getLogger(__name__)
_SESSION_EXPIRY_S = 7 * 86_400


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


def durable_client(client_id: str, version: int) -> mqtt.Client:
    """A persistent session with manual acknowledgements: a QoS 1 message is acknowledged only once
    handled, so the broker resends what a crash interrupted. MQTT 5 (`version` 5) lets a client share
    a subscription and not hear its own messages; 3 is MQTT 3.1.1, for brokers without 5."""
    callbacks = CallbackAPIVersion.VERSION2
    if version == 5:
        client = mqtt.Client(callbacks, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=True)
    else:
        client = mqtt.Client(callbacks, client_id=client_id, clean_session=False, manual_ack=True)
    client.reconnect_delay_set(1, 5)
    return client


def subscribe(client: mqtt.Client, topics: list[str], version: int, *, no_local: bool = False) -> None:
    """QoS 1; with MQTT 5, optionally without this client's own publications (`no_local`)."""
    if version == 5:
        client.subscribe([(topic, SubscribeOptions(qos=1, noLocal=no_local)) for topic in topics])
    else:
        client.subscribe([(topic, 1) for topic in topics])


def connect(
    client: mqtt.Client, settings: MqttSettings, subscribed: threading.Event, timeout_s: float
) -> None:
    """Connect in the background and wait until the `on_connect` callback has subscribed."""
    host, port = settings.host_port
    if settings.version == 5:  # the session outlives a crash by a week, as clean_session=False does
        session = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        session.SessionExpiryInterval = _SESSION_EXPIRY_S
        client.connect_async(host, port, clean_start=False, properties=session)
    else:
        client.connect_async(host, port)
    client.loop_start()
    if not subscribed.wait(timeout_s):
        client.disconnect()
        client.loop_stop()
        raise LogError(f"cannot reach the MQTT broker at {settings.url} ([mqtt] url)")


class MqttIngest:
    def __init__(self, settings: MqttSettings, ingestor: Ingestor) -> None:
        self._settings = settings
        self._ingestor = ingestor
        self._subscribed = threading.Event()
        self._client = durable_client(settings.client_id, settings.version)
        self._client.on_connect = self._connected
        self._client.on_message = self._received

    def start(self, timeout_s: float = 10.0) -> "MqttIngest":
        connect(self._client, self._settings, self._subscribed, timeout_s)
        return self

    def _connected(
        self, client: mqtt.Client, userdata: object, flags: object, reason: ReasonCode, _: object
    ) -> None:
        if reason.is_failure:
            _log.warning("MQTT broker %s refused the connection: %s", self._settings.url, reason)
            return
        subscribe(client, [self._settings.topic], self._settings.version)
        self._subscribed.set()

    def _received(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        source = f"mqtt:{message.topic}"
        datastream = datastream_from_topic(self._settings.topic, message.topic)

        def done(error: Exception | None) -> None:
            if error is None:
                client.ack(message.mid, message.qos)  # else no ack: the broker delivers it again

        while True:
            try:
                result = self._ingestor.submit(bytes(message.payload), done, datastream=datastream)
            except IngestBusyError:
                time.sleep(0.01)
                continue
            except InvalidPayloadError as err:
                self._dead_letter(message, str(err), source)
                return
            except LogError as err:
                _log.warning("MQTT reading not taken, the broker will resend it: %s", err)
                return
            break
        if result.rejected:
            reasons = "; ".join(f"item {e.position}: {e.error}" for e in result.rejected)
            self._ingestor.dead_letter(bytes(message.payload), reasons, source)

    def _dead_letter(self, message: mqtt.MQTTMessage, reason: str, source: str) -> None:
        self._ingestor.dead_letter(bytes(message.payload), reason, source)
        self._ingestor.flush()
        self._client.ack(message.mid, message.qos)

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

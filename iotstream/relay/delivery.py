"""Commands to this platform's own MQTT devices (site NULL, transport mqtt), and the devices' answers.

A queued command is claimed in the catalog first (one guarded UPDATE: of several `mqtt` processes on
one catalog, one wins) and published after that commit, to `iotstream/<device>/commands` at QoS 1;
the broker's acknowledgement makes it `delivered`. So a command is published at most once: one left
`sent` by a crash, or by a connection lost before the broker acknowledged it, is never published
again and expires at its timeout. paho would publish such a message again on its own after a
reconnect, so every connection gets a new paho client, and one thread runs it: the network loop,
the claims and the answers, with no locks between them.

Devices answer on `iotstream/<device>/responses` with `{"ticket", "status": "ok"|"error", "value"?,
"error"?}`. The subscription is QoS 1 in a session the broker keeps while iotstream is down (shared
with the other `mqtt` processes under `[mqtt] shared_group`), and an answer is acknowledged once it is
applied or dead-lettered: one the catalog could not take arrives again after a reconnect. An answer
that is not JSON, lacks a field, names an unknown ticket or another device's command, or comes for a
final one goes to the dead-letter topic with the reason.

Over MQTT 5 a command nobody is subscribed to is refused by the broker ("no matching subscribers"):
it fails at once, rather than expiring.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import msgspec
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from iotstream.exceptions import IotStreamError
from iotstream.ingest.config import MqttSettings
from iotstream.ingest.ingestor import Ingestor
from iotstream.ingest.mqtt_access import namespace, scope_of_topic
from iotstream.registry.access.principal import Scope, owner_of
from iotstream.relay.command_rules import Command, CommandState
from iotstream.relay.commands import MQTT, CommandStore

__all__ = ["RESPONSES", "CommandDelivery", "DeliveryError", "commands_topic"]

_log = logging.getLogger(__name__)
RESPONSES = "iotstream/+/responses"
_NO_MATCHING_SUBSCRIBERS = 0x10
_SESSION_EXPIRY_S = 7 * 86_400  # answers wait that long at the broker while iotstream is down
_TICK_S = 0.02  # how long the network loop waits: also how soon a new command goes out
_encode = msgspec.json.Encoder().encode


class DeliveryError(IotStreamError):
    """The MQTT broker cannot be reached to deliver commands; it may be later."""

    retriable = True


def commands_topic(device: str) -> str:
    """Where a device hears its commands: in its tenant's namespace (`device` is `@acme/pump-1` for
    tenant acme's pump-1, see `ingest.mqtt_access`)."""
    tenant, name = owner_of(device)
    space = namespace(tenant, None)
    return f"{space}/iotstream/{name}/commands" if space else f"iotstream/{name}/commands"


def _payload(command: Command) -> bytes:
    document: dict[str, Any] = {"ticket": command.ticket, "action": command.action, "path": command.path}
    if command.value is not None:
        document["value"] = command.value
    return _encode(document)


class CommandDelivery:
    def __init__(
        self,
        settings: MqttSettings,
        store: CommandStore,
        ingestor: Ingestor,
        *,
        poll_s: float = 0.5,
        sweep_s: float = 1.0,
        batch: int = 100,
        tenants: bool = False,
    ) -> None:
        """`ingestor` takes the dead letters; `poll_s`: how often the catalog is asked for commands other
        processes created (this process's wake the loop at once); `sweep_s`: how often the commands
        past their expiry are stored as expired."""
        self._settings = settings
        self._store = store
        self._wakeup = store.wakeup(MQTT)
        self._ingestor = ingestor
        self._poll_s, self._sweep_s, self._batch = poll_s, sweep_s, batch
        self._client_id = f"{settings.client_id}-commands"
        # With tenants, their devices answer in their namespaces too (`@acme/iotstream/pump/responses`).
        filters = [RESPONSES, f"+/{RESPONSES}"] if tenants else [RESPONSES]
        self._subscriptions = [settings.subscription(topic) for topic in filters]
        self._in_flight: dict[int, str] = {}  # message id → ticket, until the broker acknowledges
        self._subscribed = False
        self._available: bool | None = None  # for logging a change of the broker's state once
        self._catalog_ok = True  # and of the catalog's
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"iotstream-commands:{self._client_id}")

    def start(self, timeout_s: float = 10.0) -> "CommandDelivery":
        self._thread.start()
        if not self._ready.wait(timeout_s):
            self.stop()
            raise DeliveryError(f"cannot reach the MQTT broker at {self._settings.url} to deliver commands")
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        backoff_s = 0.5
        while not self._stop.is_set():
            self._sweep()
            client = self._client()
            try:
                self._connect(client)
                self._serve(client)
                backoff_s = 0.5
            except OSError as err:
                self._unavailable(str(err))
            except Exception:  # nothing may end the loop: the catalog may be back on the next turn
                _log.exception("delivering commands failed; trying again")
            finally:
                self._in_flight.clear()  # never published again: they expire
                if client.socket() is not None:
                    client.disconnect()
            if self._stop.wait(backoff_s):
                return
            backoff_s = min(backoff_s * 2, 5.0)

    def _client(self) -> mqtt.Client:
        v5 = self._settings.version == 5
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self._client_id,
            clean_session=None if v5 else False,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            manual_ack=True,
        )
        connection = self._settings.connection()
        if connection["credentials"] is not None:
            client.username_pw_set(*connection["credentials"])
        if connection["tls"] is not None:
            client.tls_set_context(connection["tls"])
        client.on_connect = self._connected
        client.on_subscribe = self._subscribed_to
        client.on_publish = self._acknowledged
        client.on_message = self._answered
        return client

    def _connect(self, client: mqtt.Client) -> None:
        self._subscribed = False
        host, port = self._settings.host_port
        if self._settings.version == 5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = _SESSION_EXPIRY_S
            client.connect(host, port, keepalive=30, clean_start=False, properties=properties)
        else:
            client.connect(host, port, keepalive=30)
        deadline = time.monotonic() + 10.0
        while not self._subscribed:
            if self._stop.is_set() or client.loop(_TICK_S) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                raise ConnectionError("the broker closed the connection before the subscription")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the broker did not confirm the subscriptions to {self._subscriptions}")
        if self._available is False:
            _log.info("MQTT broker %s: recovered; delivering commands again", self._settings.url)
        self._available = True
        self._ready.set()

    def _unavailable(self, reason: str) -> None:
        if self._available is not False:
            _log.warning("MQTT broker %s: unavailable for commands (%s)", self._settings.url, reason)
        self._available = False

    def _serve(self, client: mqtt.Client) -> None:
        """Until the connection is lost or the delivery stops."""
        next_poll = next_sweep = 0.0
        while not self._stop.is_set():
            if client.loop(_TICK_S) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                raise ConnectionError("the connection was lost")
            now = time.monotonic()
            if self._wakeup.is_set() or now >= next_poll:
                self._wakeup.clear()  # before the look: what is created meanwhile wakes the next
                self._catalog(lambda: self._deliver(client))
                next_poll = now + self._poll_s
            if now >= next_sweep:
                self._sweep()
                next_sweep = now + self._sweep_s

    def _deliver(self, client: mqtt.Client) -> None:
        queued = self._store.queued_for_site(None, self._batch, MQTT)
        if len(queued) == self._batch:
            self._wakeup.set()  # there may be more: the next turn looks again at once
        for command in queued:
            if self._stop.is_set() or not client.is_connected():
                return
            if not self._store.advance(command.ticket, CommandState.SENT):
                continue  # another process claimed it, or it expired meanwhile
            info = client.publish(commands_topic(command.device), _payload(command), qos=1)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                _log.warning("command %s was not published (%s); it expires", command.ticket, info.rc)
                continue
            self._in_flight[info.mid] = command.ticket

    def _sweep(self) -> None:
        self._catalog(self._store.expire_due)

    def _catalog(self, work: Callable[[], object]) -> None:
        """Runs `work`; a catalog that does not answer is logged once, and the connection stays."""
        try:
            work()
        except Exception as err:
            if self._catalog_ok:
                _log.warning("commands: the catalog does not answer (%s); trying again", err, exc_info=True)
            self._catalog_ok = False
        else:
            if not self._catalog_ok:
                _log.info("commands: the catalog answers again")
            self._catalog_ok = True

    # paho's callbacks, on this object's thread

    def _connected(self, client: mqtt.Client, _data: Any, _flags: Any, code: ReasonCode, _props: Any) -> None:
        if code.is_failure:
            self._unavailable(f"the broker refused the connection: {code}")
        else:
            client.subscribe([(topic, 1) for topic in self._subscriptions])

    def _subscribed_to(
        self, _client: mqtt.Client, _data: Any, _mid: int, codes: list[ReasonCode], _props: Any
    ) -> None:
        if any(code.is_failure for code in codes):
            _log.error("the MQTT broker refused the subscriptions to %s: %s", self._subscriptions, codes)
        else:
            self._subscribed = True

    def _acknowledged(
        self, _client: mqtt.Client, _data: Any, mid: int, code: ReasonCode, _props: Any
    ) -> None:
        ticket = self._in_flight.pop(mid, None)
        if ticket is None:
            return
        try:
            if code.value == _NO_MATCHING_SUBSCRIBERS:
                self._store.advance(ticket, CommandState.FAILED, error="no device is subscribed to its topic")
            elif code.is_failure:
                self._store.advance(ticket, CommandState.FAILED, error=f"the MQTT broker refused it: {code}")
            else:
                self._store.advance(ticket, CommandState.DELIVERED)
        except Exception:  # it stays sent; the device's answer still finishes it
            _log.exception("command %s: the broker's acknowledgement was not stored", ticket)

    def _answered(self, client: mqtt.Client, _data: Any, message: mqtt.MQTTMessage) -> None:
        payload = bytes(message.payload)
        try:
            problem = self._apply(message.topic, payload)
            if problem:
                self._ingestor.dead_letter(payload, f"command response: {problem}", f"mqtt:{message.topic}")
                self._ingestor.flush()
        except Exception:
            _log.exception("the command response on %s was not applied; it comes again", message.topic)
            return
        client.ack(message.mid, message.qos)

    def _apply(self, topic: str, payload: bytes) -> str:
        """Applies a device's answer; returns why not ("" when it was)."""
        try:
            answer = msgspec.json.decode(payload)
        except msgspec.DecodeError as err:
            return f"not JSON: {err}"
        if not isinstance(answer, dict):
            return "not a JSON object"
        ticket, status, error = answer.get("ticket"), answer.get("status"), answer.get("error")
        if not isinstance(ticket, str) or not ticket:
            return "'ticket' is missing or not a string"
        if status not in ("ok", "error"):
            return f"'status' must be 'ok' or 'error'; got {status!r}"
        if error is not None and not isinstance(error, str):
            return f"'error' must be a string; got {error!r}"
        command = self._store.get(ticket)
        scope, rest = scope_of_topic(topic)
        device = Scope(scope.tenant).prefix + rest.split("/")[1]
        if command is None or command.site is not None:
            return f"unknown ticket {ticket!r}"
        if command.device != device:
            return f"ticket {ticket!r} is a command to device {command.device!r}, not to {device!r}"
        if command.state == CommandState.QUEUED:
            return f"command {ticket!r} was not sent yet"
        state = CommandState.SUCCEEDED if status == "ok" else CommandState.FAILED
        if self._store.advance(ticket, state, value=answer.get("value"), error=error):
            return ""
        now = self._store.get(ticket)
        return f"command {ticket!r} is already {now.state if now else 'gone'}"

"""amqtt, the Python MQTT broker: the embedded broker when mosquitto is not installed.

With access control on, two plugins ask `MqttAccess` about every connection and every publication,
subscription and delivery, so a revoked token stops at its next message.

amqtt itself bounds neither the size of a packet nor the waits for one, so its clients are read
through `BoundedReader`.
"""

import asyncio
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amqtt.adapters import StreamWriterAdapter
from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session

from iotstream.ingest._amqtt_reader import BoundedReader
from iotstream.ingest.mqtt_access import MqttAccess

__all__ = ["AmqttBroker", "TokenAuthPlugin", "TokenTopicPlugin"]


class TokenAuthPlugin(BaseAuthPlugin):  # type: ignore[misc] # amqtt has no type information
    @dataclass
    class Config:
        access: Any = None  # MqttAccess

    async def authenticate(self, *, session: Session) -> bool:
        access: MqttAccess = self.config.access
        user, password = session.username, session.password
        return access.internal(user, password) or access.principal(user, password) is not None


class TokenTopicPlugin(BaseTopicPlugin):  # type: ignore[misc]
    @dataclass
    class Config:
        access: Any = None  # MqttAccess

    async def topic_filtering(
        self, *, session: Session | None = None, topic: str | None = None, action: Action | None = None
    ) -> bool:
        if session is None or topic is None:
            return False
        access: MqttAccess = self.config.access
        return access.allowed(session.username, session.password, topic, write=action == Action.PUBLISH)


class _BoundedBroker(Broker):  # type: ignore[misc]
    """amqtt reading its clients through `BoundedReader`, and closing every connection it is done with
    or that is still open at shutdown (amqtt leaves some open past its loop's end: a client whose
    session did not start, one it was still waiting on)."""

    max_packet_bytes: int | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connections: set[asyncio.StreamWriter] = set()

    async def stream_connected(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, listener_name: str
    ) -> None:
        self.connections.add(writer)
        try:
            bounded = BoundedReader(reader, writer, self.max_packet_bytes)
            await self._client_connected(listener_name, bounded, StreamWriterAdapter(writer))
        finally:  # amqtt is done with the client; a session it failed to start leaves it open
            writer.close()
            self.connections.discard(writer)

    async def close(self) -> None:
        await self.shutdown()
        open_ones = list(self.connections)
        for writer in open_ones:
            writer.close()
        await asyncio.wait_for(
            asyncio.gather(*(w.wait_closed() for w in open_ones), return_exceptions=True), 10
        )


class AmqttBroker:
    """amqtt with its event loop on its own thread."""

    def __init__(
        self,
        host: str,
        port: int,
        access: MqttAccess | None = None,
        tls: tuple[Path, Path] | None = None,
        *,
        max_packet_bytes: int | None = None,
    ) -> None:
        """`max_packet_bytes`: a client sending a larger packet is disconnected."""
        self._max_packet_bytes = max_packet_bytes
        listener: dict[str, Any] = {"type": "tcp", "bind": f"{host}:{port}"}
        if tls is not None:
            listener |= {"ssl": True, "certfile": str(tls[0]), "keyfile": str(tls[1])}
        anonymous = {"allow_anonymous": True}
        plugins: dict[str, Any] = {"amqtt.plugins.authentication.AnonymousAuthPlugin": anonymous}
        if access is not None:
            plugins = {f"{__name__}.TokenAuthPlugin": {"access": access}} | {
                f"{__name__}.TokenTopicPlugin": {"access": access}
            }
        self._config = {"listeners": {"default": listener}, "plugins": plugins}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Any = None

    @property
    def pid(self) -> None:
        """None: amqtt runs in this process."""
        return None

    def start(self) -> None:
        """Starts the loop thread and the broker on it."""
        logging.getLogger("amqtt").setLevel(logging.WARNING)
        self._loop = loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name="iotstream-mqtt-broker")
        self._thread.start()
        self._broker = asyncio.run_coroutine_threadsafe(self._start(), loop).result(timeout=30)

    async def _start(self) -> Any:
        broker = _BoundedBroker(self._config)
        broker.max_packet_bytes = self._max_packet_bytes
        await broker.start()
        return broker

    def stop(self) -> None:
        """Shuts the broker down and ends its thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._broker is not None:
            asyncio.run_coroutine_threadsafe(self._broker.close(), loop).result(timeout=40)
            self._broker = None
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
        self._loop = self._thread = None

"""An MQTT broker inside the process (amqtt) for `[mqtt] embedded = true`: no server to install.

It is several times slower than mosquitto; deployments that need more run mosquitto and point
`[mqtt] url` at it.
"""

import asyncio
import logging
import threading

from amqtt.broker import Broker

__all__ = ["EmbeddedBroker"]


class EmbeddedBroker:
    """Runs the broker's event loop on its own thread."""

    def __init__(self, host: str, port: int) -> None:
        self._config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="iotstream-mqtt-broker")
        self._broker: Broker | None = None

    def start(self) -> "EmbeddedBroker":
        logging.getLogger("amqtt").setLevel(logging.WARNING)
        self._thread.start()
        self._broker = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    async def _start(self) -> Broker:
        broker = Broker(self._config)
        await broker.start()
        return broker

    def stop(self) -> None:
        if self._broker is not None:
            asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(timeout=30)
            self._broker = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

"""The `lwm2m` role: the LwM2M server's registration interface on CoAP (`[lwm2m] enabled = true`),
its registration records on `lwm2m.registrations`.

aiocoap runs on an event loop of its own, on the role's thread.
"""

import asyncio
import threading
from typing import Any

import msgspec

from iotstream.config import Settings
from iotstream.ingest.lwm2m.config import REGISTRATIONS
from iotstream.log.base import BaseProducer
from iotstream.log.types import TopicSpec
from iotstream.roles.base import ThreadedRole
from iotstream.roles.parts import Parts

__all__ = ["Lwm2mRole"]


class Lwm2mRole(ThreadedRole):
    name = "lwm2m"
    description = "LwM2M devices over CoAP: their registrations"

    def __init__(self) -> None:
        super().__init__()
        self._server: Any = None  # a RegistrationServer; its module (and aiocoap) loads when configured
        self._producer: BaseProducer | None = None

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return settings.lwm2m.enabled

    def start(self, parts: Parts) -> None:
        from iotstream.ingest.lwm2m.server import RegistrationServer

        settings = parts.settings.lwm2m
        parts.log.create_topic(TopicSpec(REGISTRATIONS, parts.settings.log.default_partitions), exist_ok=True)
        self._producer = producer = parts.log.producer()

        def publish(records: list[dict[str, Any]]) -> None:
            for record in records:
                producer.produce(REGISTRATIONS, msgspec.json.encode(record), record["ep"].encode())

        self._server = RegistrationServer(settings.host, settings.port, publish, settings.grace)
        self.spawn("iotstream-lwm2m", self._serve)

    def _serve(self, stop: threading.Event) -> None:
        async def main() -> None:
            done = asyncio.Event()
            serving = asyncio.create_task(self._server.serve(done))
            while not stop.is_set():  # the role's stop is a thread's event: looked at 5 times a second
                finished, _ = await asyncio.wait({serving}, timeout=0.2)
                if finished:
                    break
            done.set()
            await serving  # raises what ended it early (a port in use), for the role's problems

        asyncio.run(main())

    def stop(self) -> None:
        super().stop()
        if self._producer is not None:
            self._producer.close()
            self._producer = None

    def stats(self) -> dict[str, Any]:
        count = 0 if self._server is None else len(self._server.registrations)
        return {"lwm2m": {"registrations": count}}

    def banner(self) -> list[str]:
        if self._server is None:
            return []
        return [f"lwm2m: CoAP on udp [{self._server.host}]:{self._server.port}, registrations at /rd"]

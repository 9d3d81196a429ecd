"""The `lwm2m` role: the LwM2M server's registration interface on CoAP (`[lwm2m] enabled = true`),
its registration records on `lwm2m.registrations`, the registered devices' sensor values observed
as readings, and the commands API's requests to them.

aiocoap runs on an event loop of its own, on the role's thread; readings go to the ingestor on another
thread, so a registration of new datastreams in the catalog never holds up the CoAP traffic.
"""

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import msgspec

from iotstream.config import Settings
from iotstream.exceptions import IotStreamError
from iotstream.ingest.lwm2m.config import REGISTRATIONS
from iotstream.log.base import BaseProducer
from iotstream.log.types import TopicSpec
from iotstream.roles.base import ThreadedRole
from iotstream.roles.parts import Parts

if TYPE_CHECKING:
    from iotstream.ingest.ingestor import Ingestor
    from iotstream.ingest.lwm2m.registry import Lwm2mRegistry
    from iotstream.ingest.lwm2m.server import RegistrationServer

__all__ = ["Lwm2mRole", "Lwm2mStartError"]

_log = logging.getLogger(__name__)


class Lwm2mStartError(IotStreamError):
    pass


class Lwm2mRole(ThreadedRole):
    name = "lwm2m"
    description = "LwM2M devices over CoAP: their registrations, readings and commands"

    def __init__(self) -> None:
        super().__init__()
        self._server: RegistrationServer | None = None  # its module (and aiocoap) loads when enabled
        self._producer: BaseProducer | None = None
        self._ingesting = ThreadPoolExecutor(1, thread_name_prefix="iotstream-lwm2m-ingest")
        self._listening = threading.Event()  # set once the port is bound, or binding failed
        self._failure: BaseException | None = None

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return settings.lwm2m.enabled

    def start(self, parts: Parts) -> None:
        from iotstream.ingest.lwm2m.commands import Lwm2mCommands
        from iotstream.ingest.lwm2m.observer import Observer, Watch
        from iotstream.ingest.lwm2m.registry import Lwm2mRegistry
        from iotstream.ingest.lwm2m.server import RegistrationServer
        from iotstream.relay.commands import CommandStore

        settings = parts.settings.lwm2m
        parts.log.create_topic(TopicSpec(REGISTRATIONS, parts.settings.log.default_partitions), exist_ok=True)
        self._producer = producer = parts.log.producer()

        watch = Watch(tuple(settings.observe_default), {o: tuple(r) for o, r in settings.observe.items()})
        registry = Lwm2mRegistry(parts.catalog, parts.keys, watch)
        gathered = _Gathered(self._ingesting, parts.ingestor)

        def publish(records: list[dict[str, Any]]) -> None:
            gathered.seal()  # the readings so far go before the registry hears, those that follow after
            self._ingesting.submit(_reflected, registry, records)
            for record in records:
                producer.produce(REGISTRATIONS, msgspec.json.encode(record), record["ep"].encode())

        ingestor = parts.ingestor

        def refuse(payload: bytes, reason: str, where: str) -> None:
            self._ingesting.submit(ingestor.dead_letter, payload, reason, where)

        observer = Observer(gathered.add, refuse, watch)
        commands = Lwm2mCommands(CommandStore(parts.catalog), settings.queue_awake)
        self._server = server = RegistrationServer(
            settings.host, settings.port, publish, settings.grace, observer=observer, on_refused=refuse,
            commands=commands, dtls=settings.dtls,
        )  # fmt: skip
        self.spawn("iotstream-lwm2m", lambda stop: self._serve(server, stop))
        if not self._listening.wait(30) or self._failure is not None:  # devices may register once it returns
            raise Lwm2mStartError(
                f"the LwM2M server could not listen on udp [{settings.host}]:{settings.port}: {self._failure}"
            )

    def _serve(self, server: "RegistrationServer", stop: threading.Event) -> None:
        async def main() -> None:
            done = asyncio.Event()
            serving = asyncio.create_task(server.serve(done))
            ready = asyncio.create_task(server.ready.wait())
            await asyncio.wait({serving, ready}, return_when=asyncio.FIRST_COMPLETED)
            if serving.done():
                self._failure = serving.exception() or RuntimeError("it stopped at once")
            ready.cancel()
            self._listening.set()
            if self._failure is not None:
                return  # `start` raises it
            while not stop.is_set():  # the role's stop is a thread's event: looked at 5 times a second
                finished, _ = await asyncio.wait({serving}, timeout=0.2)
                if finished:
                    break
            done.set()
            await serving  # raises what ended it while it ran, for the role's problems

        asyncio.run(main())

    def stop(self) -> None:
        super().stop()
        self._ingesting.shutdown(wait=True)
        if self._producer is not None:
            self._producer.close()
            self._producer = None

    def stats(self) -> dict[str, Any]:
        if self._server is None:
            return {"lwm2m": {"registrations": 0, "notifications": 0, "commands_sent": 0}}
        observer, commands = self._server.observer, self._server.commands
        return {
            "lwm2m": {
                "registrations": len(self._server.registrations),
                "notifications": 0 if observer is None else observer.notifications,
                "commands_sent": 0 if commands is None else commands.sent,
            }
        }

    def banner(self) -> list[str]:
        if self._server is None:
            return []
        lines = [f"lwm2m: CoAP on udp [{self._server.host}]:{self._server.port}, registrations at /rd"]
        if (dtls := self._server.dtls) is not None:
            lines.append(f"lwm2m: CoAP over DTLS on udp [{dtls.host}]:{dtls.port} ({len(dtls.keys)} keys)")
        return lines


class _Gathered:
    """Readings of notifications, handed over on the CoAP loop and ingested on the ingest thread in
    batches: what arrives while a batch waits for the thread goes in it, so a burst of notifications
    costs a few ingestion calls rather than one each, and the loop is soon free for the next datagram.
    `seal` ends the batch waiting, so what the thread is given after it comes after those readings."""

    def __init__(self, executor: ThreadPoolExecutor, ingestor: "Ingestor") -> None:
        self._executor = executor
        self._ingestor = ingestor
        self._batch: list[dict[str, Any]] | None = None  # waiting for the thread, still growing
        self._lock = threading.Lock()

    def add(self, readings: list[dict[str, Any]]) -> None:
        with self._lock:
            if self._batch is None:
                self._batch = []
                self._executor.submit(self._ingest, self._batch)
            self._batch += readings

    def seal(self) -> None:
        with self._lock:
            self._batch = None

    def _ingest(self, batch: list[dict[str, Any]]) -> None:
        with self._lock:
            if self._batch is batch:
                self._batch = None
        try:
            self._ingestor.offer(batch, "lwm2m")
        except Exception:  # an executor keeps what its jobs raise to itself: say it here
            _log.exception("lwm2m: %d readings were not ingested", len(batch))


def _reflected(registry: "Lwm2mRegistry", records: list[dict[str, Any]]) -> None:
    try:
        registry.reflect(records)
    except Exception:  # the catalog away: the registration stands, its Thing waits for the next record
        _log.exception("lwm2m: %d registration records were not reflected in the registry", len(records))

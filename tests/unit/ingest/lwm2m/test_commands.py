"""Commands to LwM2M devices, through a real registration server and command store (SQLite), to a
device made of aiocoap resources: each operation answered, an error code, no answer by the expiry, a
device that went away, and commands held for a device in queue mode until it next wakes."""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiocoap
from aiocoap import resource

from iotstream.ingest.lwm2m.commands import Lwm2mCommands
from iotstream.ingest.lwm2m.content import encode_tlv
from iotstream.ingest.lwm2m.server import RegistrationServer
from iotstream.registry.catalog import open_catalog
from iotstream.registry.models import Thing
from iotstream.relay.command_rules import Command
from iotstream.relay.commands import CommandStore
from tests.servers import free_port


class Resource(resource.Resource):
    """A resource (or instance, or object) of the test device: answers GET with its text, takes PUT,
    POST (creating `created` when given) and DELETE, and remembers what it heard."""

    def __init__(self, text: str = "", delay_s: float = 0.0, created: str = "") -> None:
        super().__init__()
        self.text, self.delay_s, self.created = text, delay_s, created
        self.heard: list[tuple[str, bytes, int | None]] = []
        self.options: list[tuple[tuple[str, ...], int | None]] = []  # query and accept of each

    def _hear(self, request: aiocoap.Message) -> None:
        self.heard.append((str(request.code), request.payload, request.opt.content_format))
        accept = request.opt.accept
        self.options.append((tuple(request.opt.uri_query), None if accept is None else int(accept)))

    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        self._hear(request)
        await asyncio.sleep(self.delay_s)
        return aiocoap.Message(payload=self.text.encode())

    async def render_put(self, request: aiocoap.Message) -> aiocoap.Message:
        self._hear(request)
        if request.payload:
            self.text = request.payload.decode()
        return aiocoap.Message(code=aiocoap.CHANGED)

    async def render_post(self, request: aiocoap.Message) -> aiocoap.Message:
        self._hear(request)
        if self.created:
            return aiocoap.Message(
                code=aiocoap.CREATED, location_path=tuple(self.created.strip("/").split("/"))
            )
        return aiocoap.Message(code=aiocoap.CHANGED)

    async def render_delete(self, request: aiocoap.Message) -> aiocoap.Message:
        self._hear(request)
        return aiocoap.Message(code=aiocoap.DELETED)


class Device:
    def __init__(self, context: aiocoap.Context, port: int, server: RegistrationServer) -> None:
        self.context, self.port, self.server = context, port, server
        self.location = ""
        self.gone = False

    async def send(self, code: aiocoap.Code, path: str, payload: bytes = b"") -> aiocoap.Message:
        uri = f"coap://127.0.0.1:{self.server.port}{path}"
        request = aiocoap.Message(code=code, uri=uri, payload=payload)
        return await asyncio.wait_for(self.context.request(request).response, 10)

    async def register(self, query: str = "") -> None:
        answer = await self.send(aiocoap.POST, f"/rd?ep=boiler-7&lt=60{query}", b"</3303/0>")
        assert answer.code == aiocoap.CREATED
        self.location = "/" + "/".join(answer.opt.location_path)

    async def update(self) -> None:
        assert (await self.send(aiocoap.POST, self.location)).code == aiocoap.CHANGED

    async def go_away(self) -> None:
        """Its port closes: requests to it are refused by the network."""
        self.gone = True
        await self.context.shutdown()


@asynccontextmanager
async def platform(
    tmp_path: Path, resources: dict[str, Resource], awake_ms: int = 93_000, batch: int = 100
) -> AsyncIterator[tuple[CommandStore, Device]]:
    """A registration server delivering the commands of a store whose catalog knows boiler-7 and
    ghost-1 (which never registers) as LwM2M endpoints, and boiler-7's device (not registered yet)."""
    catalog = open_catalog(f"sqlite:///{tmp_path}/registry.db")
    with catalog.session(write=True) as session:
        for name in ("boiler-7", "ghost-1"):
            session.add(Thing(name=name, description="", tenant="default", properties={"lwm2m": {}}))
    store = CommandStore(catalog)
    commands = Lwm2mCommands(store, awake_ms, poll_s=0.2, batch=batch)
    server = RegistrationServer("127.0.0.1", free_port(), lambda records: None, commands=commands)
    stop = asyncio.Event()
    serving = asyncio.create_task(server.serve(stop))
    await asyncio.wait_for(server.ready.wait(), 10)
    site = resource.Site()
    for path, found in resources.items():
        site.add_resource(tuple(path.strip("/").split("/")), found)
    port = free_port()
    context = await aiocoap.Context.create_server_context(site, bind=("127.0.0.1", port), transports=["udp6"])
    device = Device(context, port, server)
    try:
        yield store, device
    finally:
        if not device.gone:
            await context.shutdown()
        stop.set()
        await serving
        catalog.close()


async def final(store: CommandStore, ticket: str, timeout_s: float = 10) -> Command:
    return await until(store, ticket, lambda command: command.final, timeout_s)


async def until(
    store: CommandStore, ticket: str, check: Callable[[Command], bool], timeout_s: float = 10
) -> Command:
    deadline = time.monotonic() + timeout_s
    while True:
        command = await asyncio.to_thread(store.get, ticket)
        assert command is not None
        if check(command) or time.monotonic() > deadline:
            return command
        await asyncio.sleep(0.05)


def test_read_write_and_execute_reach_the_device_and_its_answers_finish_them(tmp_path: Path) -> None:
    value, name, reset = Resource("21.5"), Resource("boiler"), Resource()

    async def main() -> None:
        resources = {"/3303/0/5700": value, "/3303/0/5750": name, "/3303/0/5605": reset}
        async with platform(tmp_path, resources) as (store, device):
            await device.register()
            read = store.create("boiler-7", "read", "/3303/0/5700", None, 30_000)
            write = store.create("boiler-7", "write", "/3303/0/5750", "kitchen", 30_000)
            execute = store.create("boiler-7", "execute", "/3303/0/5605", "0='all'", 30_000)
            missing = store.create("boiler-7", "read", "/3303/0/5601", None, 30_000)
            done = [await final(store, c.ticket) for c in (read, write, execute, missing)]
            assert [(c.state, c.result, c.error) for c in done] == [
                ("succeeded", 21.5, None),
                ("succeeded", None, None),
                ("succeeded", None, None),
                ("failed", None, "the device answered 4.04 Not Found"),
            ]
            assert all(c.transport == "lwm2m" for c in done)

    asyncio.run(main())
    assert value.heard == [("GET", b"", None)]
    assert (name.heard, name.text) == ([("PUT", b"kitchen", 0)], "kitchen")
    assert reset.heard == [("POST", b"0='all'", 0)]


def test_discover_write_attributes_create_and_delete_reach_the_device(tmp_path: Path) -> None:
    sensor = Resource("</3303/0>,</3303/0/5700>;pmin=10")
    thermometers, value = Resource(created="/3303/1"), Resource("21.5")

    async def main() -> None:
        resources = {"/3303": thermometers, "/3303/0": sensor, "/3303/0/5700": value}
        async with platform(tmp_path, resources) as (store, device):
            await device.register()
            asked = [
                ("discover", "/3303/0", None),
                ("write-attributes", "/3303/0/5700", {"pmin": 5, "gt": 30.5, "lt": None}),
                ("create", "/3303", {"5750": "hall"}),
                ("delete", "/3303/0", None),
            ]
            tickets = [store.create("boiler-7", action, path, v, 30_000).ticket for action, path, v in asked]
            done = [await final(store, ticket) for ticket in tickets]
            assert [(c.state, c.result, c.error) for c in done] == [
                (
                    "succeeded",
                    [{"url": "/3303/0", "at": {}}, {"url": "/3303/0/5700", "at": {"pmin": "10"}}],
                    None,
                ),
                ("succeeded", None, None),
                ("succeeded", "/3303/1", None),
                ("succeeded", None, None),
            ]

    asyncio.run(main())
    assert sensor.heard == [("GET", b"", None), ("DELETE", b"", None)]
    assert sensor.options[0] == ((), 40)  # asked for link format
    assert (value.heard, value.options, value.text) == (
        [("PUT", b"", None)],
        [(("pmin=5", "gt=30.5", "lt"), None)],
        "21.5",
    )
    assert thermometers.heard == [("POST", encode_tlv(5750, "hall"), 11542)]


def test_a_command_no_answer_finishes_by_its_expiry_expires(tmp_path: Path) -> None:
    async def main() -> None:
        async with platform(tmp_path, {"/3303/0/5700": Resource("1", delay_s=30)}) as (store, device):
            await device.register()
            ticket = store.create("boiler-7", "read", "/3303/0/5700", None, 1_000).ticket
            assert (await until(store, ticket, lambda c: c.state == "sent", 5)).state == "sent"
            assert (await final(store, ticket)).state == "expired"

    asyncio.run(main())


def test_a_command_to_a_device_that_went_away_fails_with_the_reason(tmp_path: Path) -> None:
    async def main() -> None:
        async with platform(tmp_path, {}) as (store, device):
            await device.register()
            await device.go_away()
            command = await final(store, store.create("boiler-7", "read", "/3/0/1", None, 30_000).ticket, 20)
            assert command.state == "failed"
            refused = "the device could not be reached: [Errno 111] Connection refused"
            assert (command.error or "").startswith(refused), command.error

    asyncio.run(main())


def test_commands_wait_for_the_registration_and_for_a_queue_mode_device_to_wake(tmp_path: Path) -> None:
    name = Resource("boiler")

    async def main() -> None:
        async with platform(tmp_path, {"/3303/0/5750": name}, awake_ms=300) as (store, device):
            first = store.create("boiler-7", "write", "/3303/0/5750", "hall", 30_000).ticket
            await asyncio.sleep(0.5)
            assert (await final(store, first, 0)).state == "queued"  # not registered: it waits
            await device.register("&b=UQ")
            assert (await final(store, first)).state == "succeeded"  # awake after its registration
            await asyncio.sleep(0.5)  # asleep again
            second = store.create("boiler-7", "write", "/3303/0/5750", "attic", 30_000).ticket
            await asyncio.sleep(0.7)
            assert (await final(store, second, 0)).state == "queued"
            await device.update()
            assert (await final(store, second)).state == "succeeded"

    asyncio.run(main())
    assert [payload for _, payload, _ in name.heard] == [b"hall", b"attic"]


def test_commands_waiting_for_other_devices_never_hold_up_a_listening_ones(tmp_path: Path) -> None:
    async def main() -> None:
        async with platform(tmp_path, {"/3303/0/5700": Resource("21.5")}, batch=2) as (store, device):
            waiting = [store.create("ghost-1", "read", "/3/0/1", None, 30_000).ticket for _ in range(3)]
            await device.register()
            ticket = store.create("boiler-7", "read", "/3303/0/5700", None, 30_000).ticket
            assert (await final(store, ticket)).state == "succeeded"
            assert {(await final(store, t, 0)).state for t in waiting} == {"queued"}

    asyncio.run(main())


def test_a_queue_mode_devices_later_commands_wait_when_it_falls_asleep_meanwhile(tmp_path: Path) -> None:
    slow, name = Resource("1", delay_s=0.6), Resource("boiler")

    async def main() -> None:
        resources = {"/3303/0/5700": slow, "/3303/0/5750": name}
        async with platform(tmp_path, resources, awake_ms=400) as (store, device):
            read = store.create("boiler-7", "read", "/3303/0/5700", None, 30_000).ticket
            write = store.create("boiler-7", "write", "/3303/0/5750", "hall", 30_000).ticket
            await device.register("&b=UQ")
            assert (await final(store, read)).state == "succeeded"  # answered after it fell asleep
            await asyncio.sleep(0.3)
            assert (await final(store, write, 0)).state == "queued"
            await device.update()
            assert (await final(store, write)).state == "succeeded"

    asyncio.run(main())
    assert name.heard == [("PUT", b"hall", 0)]

"""The registration interface on a real aiocoap server, spoken to by an aiocoap client: the peer
server's registration cases, the recorded lwm2m-node-lib registration, update, de-registration, an
unknown registration, lifetime expiry, a bad request answered 4.00 with the reason, and a registered
device's sensor value observed as readings."""

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiocoap
from aiocoap import resource

from iotstream.ingest.lwm2m.observer import Observer
from iotstream.ingest.lwm2m.server import RegistrationServer
from tests.servers import free_port

FIXTURES = Path(__file__).parents[3] / "fixtures"
NOW_S = 1_767_225_600.0


class Clock:
    def __init__(self) -> None:
        self.now_s = 1_000.0

    def __call__(self) -> float:
        return self.now_s


Scenario = Callable[[RegistrationServer, aiocoap.Context, list[dict[str, Any]], Clock], Awaitable[None]]


def run(scenario: Scenario, refused: list[tuple[bytes, str, str]] | None = None) -> None:
    """The scenario against a started server, with a client; the server stops after it. What the
    server refuses goes to `refused`, if given."""

    async def main() -> None:
        records: list[dict[str, Any]] = []
        clock = Clock()
        server = RegistrationServer(
            "127.0.0.1",
            free_port(),
            records.extend,
            grace_ms=0,
            clock=clock,
            on_refused=None if refused is None else lambda *dead: refused.append(dead),
        )
        stop = asyncio.Event()
        serving = asyncio.create_task(server.serve(stop))
        await asyncio.wait_for(server.ready.wait(), 10)
        client = await aiocoap.Context.create_client_context(transports=["udp6"])
        try:
            await scenario(server, client, records, clock)
        finally:
            await client.shutdown()
            stop.set()
            await serving

    asyncio.run(main())


async def send(
    client: aiocoap.Context,
    server: RegistrationServer,
    code: Any,
    path: str,
    query: str = "",
    payload: str = "",
) -> aiocoap.Message:
    uri = f"coap://127.0.0.1:{server.port}{path}" + (f"?{query}" if query else "")
    request = aiocoap.Message(code=code, uri=uri, payload=payload.encode())
    return await asyncio.wait_for(client.request(request).response, 10)


def test_the_peer_servers_registration_cases() -> None:
    run(_peer_cases)


async def _peer_cases(
    registry: RegistrationServer, client: aiocoap.Context, records: list[Any], _: Clock
) -> None:
    cases = json.loads((FIXTURES / "lwm2m_registration_cases.json").read_text())["cases"]
    for case in cases:
        request = case["request"]
        answer = await send(
            client, registry, aiocoap.POST, request["path"], request["query"], request["payload"]
        )
        assert str(answer.code).startswith(case["expect_code"]), (case["why"], answer.code, answer.payload)
        if case["expect_code"] == "2.01":
            [rd, reg_id] = answer.opt.location_path
            assert rd == "rd"
            assert registry.registrations.get(reg_id).endpoint == "ROOM001"
        else:
            assert answer.payload == b"a registration needs its endpoint name: ?ep=<name>"
    assert [r["event"] for r in records] == [
        "new",
        "delete",
        "new",
        "delete",
        "new",
    ]  # ROOM001 again and again


def test_the_recorded_client_registers_updates_and_deregisters() -> None:
    run(_recorded_client)


async def _recorded_client(
    registry: RegistrationServer, client: aiocoap.Context, records: list[Any], clock: Clock
) -> None:
    [recorded] = json.loads((FIXTURES / "lwm2m_node_lib_client_capture.json").read_text())[
        "registration_traffic"
    ]
    query = "&".join(recorded["uri_query"])
    created = await send(client, registry, aiocoap.POST, "/rd", query, recorded["payload"])
    assert created.code == aiocoap.CREATED
    location = "/" + "/".join(created.opt.location_path)
    [new] = records
    assert (new["ep"], new["lt"], new["ver"], new["bnd"], new["address"]) == (
        "testEp01",
        85_671,
        "1.0",
        "U",
        "127.0.0.1",
    )
    assert new["links"] == [{"url": "/3303/0", "at": {}}]
    clock.now_s += 10
    updated = await send(client, registry, aiocoap.POST, location, "lt=20", "</3303/0>, </3304/0>")
    assert updated.code == aiocoap.CHANGED
    assert (records[-1]["event"], records[-1]["lt"], len(records[-1]["links"])) == ("update", 20, 2)
    deleted = await send(client, registry, aiocoap.DELETE, location)
    assert deleted.code == aiocoap.DELETED
    assert records[-1]["event"] == "delete"
    gone = await send(client, registry, aiocoap.POST, location)
    assert gone.code == aiocoap.NOT_FOUND


def test_a_registration_expires_after_its_lifetime() -> None:
    run(_expiry)


async def _expiry(
    registry: RegistrationServer, client: aiocoap.Context, records: list[Any], clock: Clock
) -> None:
    created = await send(client, registry, aiocoap.POST, "/rd", "ep=sleepy&lt=5", "</3303/0>")
    location = "/" + "/".join(created.opt.location_path)
    clock.now_s += 6
    for _ in range(50):
        if records[-1]["event"] == "expired":
            break
        await asyncio.sleep(0.1)
    assert records[-1]["event"] == "expired"
    assert (await send(client, registry, aiocoap.DELETE, location)).code == aiocoap.NOT_FOUND


def test_bad_requests_are_answered_with_the_reason() -> None:
    run(_bad_requests)


async def _bad_requests(
    registry: RegistrationServer, client: aiocoap.Context, records: list[Any], _: Clock
) -> None:
    bad_lifetime = await send(client, registry, aiocoap.POST, "/rd", "ep=x&lt=soon", "</1>")
    assert bad_lifetime.code == aiocoap.BAD_REQUEST
    assert bad_lifetime.payload == b"lt='soon': the lifetime is a whole number of seconds above 0"
    bad_links = await send(client, registry, aiocoap.POST, "/rd", "ep=x", "3303/0")
    assert bad_links.payload.startswith(b"the object links cannot be read: not a link at character 1")
    assert (await send(client, registry, aiocoap.GET, "/rd")).code == aiocoap.METHOD_NOT_ALLOWED
    assert records == []
    assert (await send(client, registry, aiocoap.POST, "/rd", "ep=ok", "</1>")).code == aiocoap.CREATED


def test_bad_requests_and_datagrams_that_are_not_coap_are_dead_letters_with_the_reason() -> None:
    refused: list[tuple[bytes, str, str]] = []

    async def scenario(
        registry: RegistrationServer, client: aiocoap.Context, records: list[Any], _: Clock
    ) -> None:
        await send(client, registry, aiocoap.POST, "/rd", "ep=x&lt=60", "3303/0")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
            raw.sendto(b"\xff\x00 not CoAP", ("127.0.0.1", registry.port))
        registered = await send(client, registry, aiocoap.POST, "/rd", "ep=ok", "</1>")
        assert registered.code == aiocoap.CREATED  # the server goes on, having read the datagram first

    run(scenario, refused)
    [(request, reason, where), (datagram, why, sender)] = refused
    assert json.loads(request) == {
        "code": "POST",
        "path": "/rd",
        "query": ["ep=x", "lt=60"],
        "payload": "3303/0",
    }
    assert reason.startswith("the object links cannot be read: not a link at character 1")
    assert where.startswith("lwm2m:127.0.0.1:")
    assert (datagram, why) == (b"", "a datagram that is not a CoAP message")
    assert sender.startswith("lwm2m:")
    assert "127.0.0.1" in sender


class Temperature(resource.ObservableResource):
    """/3303/0/5700 of a test device, in plain text as lwm2m-node-lib answers."""

    def __init__(self) -> None:
        super().__init__()
        self.value = "21.5"
        self.content_format: int | None = None
        self.observers = 0

    def update_observation_count(self, newcount: int) -> None:
        self.observers = newcount

    def set(self, value: str, content_format: int | None = None) -> None:
        self.value, self.content_format = value, content_format
        self.updated_state()

    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        answer = aiocoap.Message(payload=self.value.encode())
        if self.content_format is not None:
            answer.opt.content_format = self.content_format
        return answer


def test_a_registered_devices_sensor_values_are_observed_as_readings() -> None:
    readings: list[dict[str, Any]] = []
    refused: list[tuple[bytes, str, str]] = []
    observer = Observer(readings.extend, lambda *letter: refused.append(letter), clock=lambda: NOW_S)

    async def main() -> None:
        server = RegistrationServer("127.0.0.1", free_port(), lambda records: None, observer=observer)
        stop = asyncio.Event()
        serving = asyncio.create_task(server.serve(stop))
        await asyncio.wait_for(server.ready.wait(), 10)
        temperature = Temperature()
        site = resource.Site()
        site.add_resource(("3303", "0", "5700"), temperature)
        device = await aiocoap.Context.create_server_context(
            site, bind=("127.0.0.1", free_port()), transports=["udp6"]
        )
        try:
            register = aiocoap.Message(
                code=aiocoap.POST,
                uri=f"coap://127.0.0.1:{server.port}/rd?ep=dev&lt=60",
                payload=b"</3303/0>, </1/0>",
            )
            created = await asyncio.wait_for(device.request(register).response, 10)
            assert created.code == aiocoap.CREATED
            await until(lambda: len(readings) == 1)
            assert temperature.observers == 1
            temperature.set("22.25")
            await until(lambda: len(readings) == 2)
            temperature.set("warm")  # not a float: refused with the reason
            await until(lambda: len(refused) == 1)
            temperature.set("22.5", content_format=50)  # application/json is not an LwM2M format
            await until(lambda: len(refused) == 2)
            location = "/".join(created.opt.location_path)
            deregister = aiocoap.Message(
                code=aiocoap.DELETE, uri=f"coap://127.0.0.1:{server.port}/{location}"
            )
            assert (await asyncio.wait_for(device.request(deregister).response, 10)).code == aiocoap.DELETED
            for _ in range(50):  # aiocoap stops listening at the next notification, resets the one after
                temperature.set("23.0")
                if temperature.observers == 0:
                    break
                await asyncio.sleep(0.1)
            assert temperature.observers == 0  # the observation ended at the device too
        finally:
            await device.shutdown()
            stop.set()
            await serving

    asyncio.run(main())
    assert readings == [
        {"datastream": "dev/3303/0/5700", "time": int(NOW_S * 1000), "value": 21.5},
        {"datastream": "dev/3303/0/5700", "time": int(NOW_S * 1000), "value": 22.25},
    ]
    assert refused == [
        (b"warm", "'warm' is not a float", "lwm2m:dev/3303/0/5700"),
        (b"22.5", "content format 50 is not one LwM2M uses", "lwm2m:dev/3303/0/5700"),
    ]
    assert observer.notifications == 4


async def until(check: Callable[[], bool], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "not in time"
        await asyncio.sleep(0.05)


class Burst(resource.ObservableResource):
    """/3303/0/5700 sending SenML, each rendering a value and time of its own; `padding` records
    make each notification larger than one block."""

    def __init__(self, padding: int = 0) -> None:
        super().__init__()
        self.rendered, self.padding = 0, padding

    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        self.rendered += 1
        records = [{"bn": "/3303/0/", "n": "5700", "v": self.rendered, "t": NOW_S + self.rendered}]
        records += [{"n": "5701", "vs": "Cel" * 20}] * self.padding  # text: no reading
        answer = aiocoap.Message(payload=json.dumps(records).encode(), content_format=110)
        if self.rendered > 1:
            answer.mtype = aiocoap.NON
        return answer


def observed_burst(resource_under_test: Burst, updates: int) -> list[dict[str, Any]]:
    """The readings of a device that registers and then updates `updates` times without pause."""
    readings: list[dict[str, Any]] = []
    observer = Observer(readings.extend, lambda *letter: None, clock=lambda: NOW_S)

    async def main() -> None:
        server = RegistrationServer("127.0.0.1", free_port(), lambda records: None, observer=observer)
        stop = asyncio.Event()
        serving = asyncio.create_task(server.serve(stop))
        await asyncio.wait_for(server.ready.wait(), 10)
        site = resource.Site()
        site.add_resource(("3303", "0", "5700"), resource_under_test)
        device = await aiocoap.Context.create_server_context(
            site, bind=("127.0.0.1", free_port()), transports=["udp6"]
        )
        try:
            uri = f"coap://127.0.0.1:{server.port}/rd?ep=dev&lt=60"
            register = aiocoap.Message(code=aiocoap.POST, uri=uri, payload=b"</3303/0>")
            assert (await asyncio.wait_for(device.request(register).response, 10)).code == aiocoap.CREATED
            await until(lambda: len(readings) == 1)
            for _ in range(updates):
                resource_under_test.updated_state()
                await asyncio.sleep(0)  # its rendering: each update a notification of its own
            await until(lambda: resource_under_test.rendered == 1 + updates)
            with contextlib.suppress(AssertionError):  # what did not arrive in time is missing below
                await until(lambda: len(readings) >= resource_under_test.rendered, timeout_s=3)
        finally:
            await device.shutdown()
            stop.set()
            await serving

    asyncio.run(main())
    return readings


def test_every_notification_of_a_burst_is_a_reading() -> None:
    readings = observed_burst(Burst(), 50)
    assert sorted(r["value"] for r in readings) == list(range(1, 52))
    assert len({r["time"] for r in readings}) == 51


def test_a_notification_too_large_for_one_block_arrives_whole() -> None:
    readings = observed_burst(Burst(padding=30), 1)  # about 2 KB: two blocks of 1024 bytes
    assert [r["value"] for r in readings][:1] == [1]
    assert readings[1]["value"] >= 2  # its later blocks are asked for: the device's value then
    assert {r["datastream"] for r in readings} == {"dev/3303/0/5700"}


def test_a_device_not_listening_yet_when_it_registers_is_observed_on_a_later_try() -> None:
    """lwm2m-node-lib opens its port a moment after its registration: the first observe meets a closed
    port (aiocoap cancels the observation itself then, which must not end the observing) and a later
    one finds the device."""
    readings: list[dict[str, Any]] = []
    observer = Observer(readings.extend, lambda *letter: None, clock=lambda: NOW_S)

    async def main() -> None:
        server = RegistrationServer("127.0.0.1", free_port(), lambda records: None, observer=observer)
        stop = asyncio.Event()
        serving = asyncio.create_task(server.serve(stop))
        await asyncio.wait_for(server.ready.wait(), 10)
        port = free_port()
        register = aiocoap.Message(
            code=aiocoap.POST, uri_path=("rd",), uri_query=("ep=late", "lt=60"), payload=b"</3303/0>"
        )
        register.mtype, register.mid, register.token = aiocoap.CON, 1, b"\x01"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:  # a device not ready to answer
            raw.bind(("127.0.0.1", port))
            raw.settimeout(10)
            raw.sendto(register.encode(), ("127.0.0.1", server.port))
            created = aiocoap.Message.decode(await asyncio.to_thread(raw.recv, 1500))
            observe = aiocoap.Message.decode(await asyncio.to_thread(raw.recv, 1500))
        assert (created.code, observe.opt.observe) == (aiocoap.CREATED, 0)
        site = resource.Site()
        site.add_resource(("3303", "0", "5700"), Temperature())
        await asyncio.sleep(3.5)  # the observe's first retransmission (2 to 3 s) meets a closed port
        device = await aiocoap.Context.create_server_context(
            site, bind=("127.0.0.1", port), transports=["udp6"]
        )
        try:
            await until(lambda: len(readings) == 1)
        finally:
            await device.shutdown()
            stop.set()
            await serving

    asyncio.run(main())
    assert readings == [{"datastream": "late/3303/0/5700", "time": int(NOW_S * 1000), "value": 21.5}]

"""The `lwm2m` role in a running platform: a device registering, updating and de-registering over CoAP
leaves its records on `lwm2m.registrations` (keyed by endpoint name), and a registered device's
temperature, observed, is stored as readings of `<endpoint>/3303/0/5700`."""

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiocoap
import httpx
import msgspec
import pytest
from aiocoap import resource

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform
from iotstream.ingest.lwm2m.config import REGISTRATIONS
from iotstream.log.topics import DEADLETTER
from iotstream.roles.lwm2m import Lwm2mStartError
from tests.integration._topics import topic_records
from tests.servers import free_port


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[EmbeddedPlatform]:
    settings = load_settings(
        data_dir=tmp_path, api={"port": 0}, lwm2m={"enabled": True, "host": "127.0.0.1", "port": free_port()}
    )
    platform = EmbeddedPlatform(settings).start()
    yield platform
    platform.stop()


def coap(port: int, *requests: tuple[aiocoap.Code, str, str]) -> list[aiocoap.Message]:
    async def main() -> list[aiocoap.Message]:
        client = await aiocoap.Context.create_client_context(transports=["udp6"])
        answers = []
        try:
            for code, path, payload in requests:
                location = "/".join(answers[-1].opt.location_path) if answers and "{rd}" in path else ""
                uri = f"coap://127.0.0.1:{port}{path.replace('{rd}', location)}"
                request = aiocoap.Message(code=code, uri=uri, payload=payload.encode())
                answers.append(await asyncio.wait_for(client.request(request).response, 10))
        finally:
            await client.shutdown()
        return answers

    return asyncio.run(main())


def test_a_devices_registration_update_and_deregistration_are_records(platform: EmbeddedPlatform) -> None:
    port = platform.settings.lwm2m.port
    assert any(f"lwm2m: CoAP on udp [127.0.0.1]:{port}" in line for line in platform.running())
    [created] = coap(port, (aiocoap.POST, "/rd?ep=boiler-7&lt=300&lwm2m=1.1&b=U", "</1/0>, </3303/0>"))
    assert created.code == aiocoap.CREATED
    assert platform.stats()["lwm2m"]["registrations"] == 1
    location = "/" + "/".join(created.opt.location_path)
    updated, deleted = coap(port, (aiocoap.POST, f"{location}?lt=600", ""), (aiocoap.DELETE, location, ""))
    assert (updated.code, deleted.code) == (aiocoap.CHANGED, aiocoap.DELETED)
    records = []
    with platform.log.consumer("check", auto_offset_reset="earliest") as consumer:
        consumer.subscribe([REGISTRATIONS])
        deadline = time.monotonic() + 10
        while len(records) < 3 and time.monotonic() < deadline:
            records += consumer.poll(100, 0.2)
    assert {r.key for r in records} == {b"boiler-7"}
    documents = [msgspec.json.decode(r.value) for r in records]
    assert [(d["event"], d["lt"]) for d in documents] == [("new", 300), ("update", 600), ("delete", 600)]
    assert documents[0]["links"] == [{"url": "/1/0", "at": {}}, {"url": "/3303/0", "at": {}}]
    assert platform.stats()["lwm2m"]["registrations"] == 0


class Temperature(resource.ObservableResource):
    def __init__(self) -> None:
        super().__init__()
        self.value = b"21.5"

    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        return aiocoap.Message(payload=self.value)


def test_a_registered_devices_temperature_is_observed_and_stored(platform: EmbeddedPlatform) -> None:
    assert platform.api is not None
    port = platform.settings.lwm2m.port

    async def device() -> list[Any]:
        temperature = Temperature()
        site = resource.Site()
        site.add_resource(("3303", "0", "5700"), temperature)
        context = await aiocoap.Context.create_server_context(
            site, bind=("127.0.0.1", free_port()), transports=["udp6"]
        )
        try:
            uri = f"coap://127.0.0.1:{port}/rd?ep=thermo-1&lt=300&b=U"
            register = aiocoap.Message(code=aiocoap.POST, uri=uri, payload=b"</3303/0>")
            assert (await asyncio.wait_for(context.request(register).response, 10)).code == aiocoap.CREATED
            seen = [await stored(platform.api.url, "thermo-1/3303/0/5700", 21.5)]
            temperature.value = b"23.0"
            temperature.updated_state()
            seen.append(await stored(platform.api.url, "thermo-1/3303/0/5700", 23.0))
            return seen
        finally:
            await context.shutdown()

    assert asyncio.run(device()) == [21.5, 23.0]
    assert platform.stats()["lwm2m"]["notifications"] >= 2


def test_the_resources_observed_of_an_object_are_configured(tmp_path: Path) -> None:
    """`[lwm2m.observe] "3303" = [5601]`: a thermometer's minimum, not its value, becomes readings of
    a Datastream the registry names after the resource."""
    lwm2m = {"enabled": True, "host": "127.0.0.1", "port": free_port(), "observe": {"3303": [5601]}}
    platform = EmbeddedPlatform(load_settings(data_dir=tmp_path, api={"port": 0}, lwm2m=lwm2m)).start()
    try:
        assert platform.api is not None
        url = platform.api.url

        async def device() -> float | None:
            site = resource.Site()
            site.add_resource(("3303", "0", "5601"), Temperature())
            context = await aiocoap.Context.create_server_context(
                site, bind=("127.0.0.1", free_port()), transports=["udp6"]
            )
            try:
                uri = f"coap://127.0.0.1:{lwm2m['port']}/rd?ep=thermo-2&lt=300"
                register = aiocoap.Message(code=aiocoap.POST, uri=uri, payload=b"</3303/0>")
                assert (
                    await asyncio.wait_for(context.request(register).response, 10)
                ).code == aiocoap.CREATED
                return await stored(url, "thermo-2/3303/0/5601", 21.5)
            finally:
                await context.shutdown()

        assert asyncio.run(device()) == 21.5
        named = {"$filter": "properties/key eq 'thermo-2/3303/0/5601'"}
        [datastream] = httpx.get(f"{url}/v1.1/Datastreams", params=named).json()["value"]
        assert (datastream["name"], datastream["unitOfMeasurement"]["symbol"]) == (
            "thermo-2 Temperature Min Measured Value",
            "Cel",
        )
    finally:
        platform.stop()


async def stored(url: str, key: str, value: float, timeout_s: float = 20) -> float | None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=url, timeout=10) as api:
        while time.monotonic() < deadline:
            latest = {d["key"]: d["latest"] for d in (await api.get("/api/v1/datastreams")).json()}
            if (latest.get(key) or {}).get("value") == value:
                return value
            await asyncio.sleep(0.2)
    return None


def test_bad_registrations_and_datagrams_that_are_not_coap_are_dead_letters(
    platform: EmbeddedPlatform,
) -> None:
    port = platform.settings.lwm2m.port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        raw.sendto(b"\x40", ("127.0.0.1", port))  # a header cut short
    bad, good = coap(  # the good one's objects are not observed: its client is gone when it returns
        port, (aiocoap.POST, "/rd?ep=x&lt=0", "</3303/0>"), (aiocoap.POST, "/rd?ep=ok&lt=60", "</1/0>")
    )
    assert (bad.code, good.code) == (aiocoap.BAD_REQUEST, aiocoap.CREATED)  # and the server goes on
    dead = dead_letters(platform, 2)
    assert [(reason, source.split(":")[0]) for _, reason, source in dead] == [
        ("a datagram that is not a CoAP message", "lwm2m"),
        ("lt='0': the lifetime is a whole number of seconds above 0", "lwm2m"),
    ]
    assert msgspec.json.decode(dead[1][0])["query"] == ["ep=x", "lt=0"]


def dead_letters(platform: EmbeddedPlatform, count: int) -> list[tuple[bytes, str, str]]:
    got = topic_records(platform, DEADLETTER, count, timeout_s=10)
    headers = [dict(record.headers) for record in got]
    return [
        (r.value or b"", h["reason"].decode(), h["source"].decode())
        for r, h in zip(got, headers, strict=True)
    ]


def test_a_port_already_taken_fails_the_start_with_the_reason(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as taken:
        taken.bind(("::", 0))
        port = taken.getsockname()[1]
        lwm2m = {"enabled": True, "host": "::", "port": port}
        platform = EmbeddedPlatform(load_settings(data_dir=tmp_path, api={"port": 0}, lwm2m=lwm2m))
        with pytest.raises(
            Lwm2mStartError, match=rf"the LwM2M server could not listen on udp \[::\]:{port}: .*in use"
        ):
            platform.start()


def test_a_device_registers_over_dtls_with_its_key_in_a_running_platform(tmp_path: Path) -> None:
    client = shutil.which("coap-client-openssl") or shutil.which("coap-client-gnutls")
    assert client, "the DTLS case needs libcoap's coap-client with DTLS: sudo apt-get install libcoap3-bin"
    dtls = {"host": "127.0.0.1", "port": free_port(), "keys": {"boiler-7": "hex:" + b"s3cret".hex()}}
    lwm2m = {"enabled": True, "host": "127.0.0.1", "port": free_port(), "dtls": dtls}
    platform = EmbeddedPlatform(load_settings(data_dir=tmp_path, api={"port": 0}, lwm2m=lwm2m)).start()
    try:
        assert any(
            f"CoAP over DTLS on udp [127.0.0.1]:{dtls['port']} (1 keys)" in line
            for line in platform.running()
        )
        uri = f"coaps://127.0.0.1:{dtls['port']}/rd?ep=boiler-7&lt=60"
        key = ["-u", "boiler-7", "-k", "s3cret"]
        done = subprocess.run(
            [client, "-m", "post", *key, "-e", "</3303/0>", uri], capture_output=True, timeout=30
        )
        assert done.returncode == 0, done.stderr
        [record] = topic_records(platform, REGISTRATIONS, 1, timeout_s=10)
        assert msgspec.json.decode(record.value or b"")["ep"] == "boiler-7"
        [plain] = coap(lwm2m["port"], (aiocoap.POST, "/rd?ep=boiler-7&lt=60", "</3303/0>"))
        assert plain.code == aiocoap.FORBIDDEN
    finally:
        platform.stop()

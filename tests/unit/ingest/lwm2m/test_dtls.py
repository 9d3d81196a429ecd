"""CoAP over DTLS with pre-shared keys: a device (aiocoap's tinydtls client) registers over DTLS with its
key, is observed and gets a command over its DTLS session; an endpoint with a key may not register over
plain CoAP nor in another endpoint's session; a wrong key gets no session; libcoap's coap-client
registers with `-u`/`-k`."""

import asyncio
import shutil
import socket
import subprocess
import sys
import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiocoap
import pytest
from aiocoap import resource
from pydantic import ValidationError

from iotstream.ingest.lwm2m.commands import Lwm2mCommands
from iotstream.ingest.lwm2m.config import Lwm2mDtlsSettings, Lwm2mSettings
from iotstream.ingest.lwm2m.dtls import DtlsUnavailableError, dtls_context
from iotstream.ingest.lwm2m.observer import Observer
from iotstream.ingest.lwm2m.server import RegistrationServer
from iotstream.registry.catalog import open_catalog
from iotstream.registry.models import Thing
from iotstream.relay.commands import CommandStore
from tests.servers import free_port
from tests.unit.ingest.lwm2m.test_commands import final
from tests.unit.ingest.lwm2m.test_server import Temperature, until

try:
    import DTLSSocket  # noqa: F401
except ImportError:  # a test that needs it fails and says how to install it; it does not skip
    HAVE_DTLS = False
else:
    HAVE_DTLS = True

KEYS = {"boiler-7": "secret-7", "valve-2": "hex:00112233445566778899aabbccddeeff"}


@pytest.fixture(autouse=True)
def _dtls_socket() -> None:
    assert HAVE_DTLS, "the DTLS tests need DTLSSocket: `make dtls` (gcc, autoconf and automake build it)"


class Served:
    def __init__(
        self, server: RegistrationServer, store: CommandStore, readings: list[dict[str, Any]]
    ) -> None:
        self.server, self.store, self.readings = server, store, readings
        self.refused: list[tuple[bytes, str, str]] = []

    @property
    def dtls_uri(self) -> str:
        assert self.server.dtls is not None
        return f"coaps://127.0.0.1:{self.server.dtls.port}"


@asynccontextmanager
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    catalog = open_catalog(f"sqlite:///{tmp_path}/registry.db")
    with catalog.session(write=True) as session:
        session.add(Thing(name="boiler-7", description="", tenant="default", properties={"lwm2m": {}}))
    store, readings = CommandStore(catalog), []
    dtls = Lwm2mDtlsSettings(host="127.0.0.1", port=free_port(), keys=KEYS)  # type: ignore[arg-type]
    server = RegistrationServer(
        "127.0.0.1",
        free_port(),
        lambda records: None,
        observer=Observer(readings.extend, lambda *letter: None),
        commands=Lwm2mCommands(store, poll_s=0.2),
        dtls=dtls,
    )
    found = Served(server, store, readings)
    server._on_refused = lambda *letter: found.refused.append(letter)  # the test's dead letters
    stop = asyncio.Event()
    serving = asyncio.create_task(server.serve(stop))
    await asyncio.wait_for(server.ready.wait(), 10)
    try:
        yield found
    finally:
        stop.set()
        await serving
        catalog.close()


async def device(served: Served, identity: str, key: str, site: resource.Site) -> aiocoap.Context:
    """A device that speaks CoAP over DTLS to the server with `identity` and `key`."""
    context = await aiocoap.Context.create_server_context(
        site, bind=("127.0.0.1", free_port()), transports=["tinydtls", "udp6"]
    )
    psk = {"hex": key[4:]} if key.startswith("hex:") else {"ascii": key}
    credentials = {"dtls": {"psk": psk, "client-identity": {"ascii": identity}}}
    context.client_credentials.load_from_dict({f"{served.dtls_uri}/*": credentials})
    return context


async def register(
    context: aiocoap.Context, uri: str, endpoint: str, links: bytes = b"</1/0>", timeout_s: float = 15
) -> aiocoap.Message:
    """`links`: none observed unless asked for."""
    request = aiocoap.Message(code=aiocoap.POST, uri=f"{uri}/rd?ep={endpoint}&lt=60", payload=links)
    return await asyncio.wait_for(context.request(request).response, timeout_s)


def test_a_device_registers_over_dtls_is_observed_and_gets_its_commands_over_its_session(
    tmp_path: Path,
) -> None:
    temperature = Temperature()
    site = resource.Site()
    site.add_resource(("3303", "0", "5700"), temperature)

    async def main() -> None:
        async with served(tmp_path) as found:
            boiler = await device(found, "boiler-7", KEYS["boiler-7"], site)
            try:
                answer = await register(boiler, found.dtls_uri, "boiler-7", b"</3303/0>")
                assert answer.code == aiocoap.CREATED
                await until(lambda: len(found.readings) == 1)
                temperature.set("23.5")
                await until(lambda: len(found.readings) == 2)
                assert [(r["datastream"], r["value"]) for r in found.readings] == [
                    ("boiler-7/3303/0/5700", 21.5),
                    ("boiler-7/3303/0/5700", 23.5),
                ]
                ticket = found.store.create("boiler-7", "read", "/3303/0/5700", None, 30_000).ticket
                command = await final(found.store, ticket)
                assert (command.state, command.result) == ("succeeded", 23.5)
                location = "/".join(answer.opt.location_path)
                update = aiocoap.Message(code=aiocoap.POST, uri=f"{found.dtls_uri}/{location}")
                assert (await asyncio.wait_for(boiler.request(update).response, 10)).code == aiocoap.CHANGED
            finally:
                await boiler.shutdown()

    asyncio.run(main())


def test_an_endpoint_with_a_key_may_not_register_over_plain_coap_nor_in_another_endpoints_session(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        async with served(tmp_path) as found:
            valve = await device(found, "valve-2", KEYS["valve-2"], resource.Site())
            try:
                plain = f"coap://127.0.0.1:{found.server.port}"
                refused = await register(valve, plain, "boiler-7")
                assert (refused.code, refused.payload) == (
                    aiocoap.FORBIDDEN,
                    b"endpoint 'boiler-7' has a pre-shared key: it registers over DTLS (coaps)",
                )
                other = await register(valve, found.dtls_uri, "boiler-7")
                assert (other.code, other.payload) == (
                    aiocoap.FORBIDDEN,
                    b"the DTLS session is 'valve-2''s, not endpoint 'boiler-7''s",
                )
                created = await register(valve, found.dtls_uri, "valve-2")
                assert created.code == aiocoap.CREATED
                assert (await register(valve, plain, "sensor-without-key")).code == aiocoap.CREATED
                location = "/".join(created.opt.location_path)
                for code in (aiocoap.POST, aiocoap.DELETE):  # its registration, over plain CoAP
                    request = aiocoap.Message(code=code, uri=f"{plain}/{location}")
                    answer = await asyncio.wait_for(valve.request(request).response, 10)
                    assert (answer.code, answer.payload) == (
                        aiocoap.FORBIDDEN,
                        b"endpoint 'valve-2' has a pre-shared key: it registers over DTLS (coaps)",
                    )
                update = aiocoap.Message(code=aiocoap.POST, uri=f"{found.dtls_uri}/{location}")
                assert (await asyncio.wait_for(valve.request(update).response, 10)).code == aiocoap.CHANGED
            finally:
                await valve.shutdown()
            assert len(found.server.registrations) == 2
            assert [reason for _, reason, _ in found.refused] == [
                "endpoint 'boiler-7' has a pre-shared key: it registers over DTLS (coaps)",
                "the DTLS session is 'valve-2''s, not endpoint 'boiler-7''s",
                "endpoint 'valve-2' has a pre-shared key: it registers over DTLS (coaps)",
                "endpoint 'valve-2' has a pre-shared key: it registers over DTLS (coaps)",
            ]

    asyncio.run(main())


def test_a_device_with_a_wrong_key_gets_no_session(tmp_path: Path) -> None:
    async def main() -> None:
        async with served(tmp_path) as found:
            impostor = await device(found, "boiler-7", "guessed", resource.Site())
            try:
                with pytest.raises((aiocoap.error.Error, TimeoutError)):
                    await register(impostor, found.dtls_uri, "boiler-7", timeout_s=3)
            finally:
                await impostor.shutdown()
            assert len(found.server.registrations) == 0
            boiler = await device(found, "boiler-7", KEYS["boiler-7"], resource.Site())
            try:  # the server is well: the key's holder gets in
                assert (await register(boiler, found.dtls_uri, "boiler-7")).code == aiocoap.CREATED
            finally:
                await boiler.shutdown()

    asyncio.run(main())


def test_libcoaps_coap_client_registers_over_dtls_with_its_identity_and_key(tmp_path: Path) -> None:
    client = shutil.which("coap-client-openssl") or shutil.which("coap-client-gnutls")
    assert client, (
        "the raw DTLS case needs libcoap's coap-client with DTLS: sudo apt-get install libcoap3-bin"
    )

    async def main() -> None:
        async with served(tmp_path) as found:
            command = [client, "-m", "post", "-u", "boiler-7", "-k", KEYS["boiler-7"], "-e", "</3303/0>"]
            command.append(f"{found.dtls_uri}/rd?ep=boiler-7&lt=60")
            done = await asyncio.to_thread(subprocess.run, command, capture_output=True, timeout=30)
            assert done.returncode == 0, done.stderr
            registration = found.server.registrations.of_endpoint("boiler-7")
            assert registration is not None
            assert registration.lifetime_s == 60
            wrong = [client, "-m", "post", "-u", "boiler-7", "-k", "guessed", "-B", "3"]
            wrong.append(f"{found.dtls_uri}/rd?ep=boiler-7&lt=90")
            await asyncio.to_thread(subprocess.run, wrong, capture_output=True, timeout=30)
            assert found.server.registrations.of_endpoint("boiler-7") == registration  # unchanged

    asyncio.run(main())


def test_dtls_listens_on_one_address_and_says_what_is_missing_without_dtlssocket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for everywhere in ("::", "0.0.0.0"):  # noqa: S104
        with pytest.raises(ValidationError, match="DTLS listens on one address, not on every one"):
            Lwm2mSettings.model_validate({"dtls": {"host": everywhere}})
    monkeypatch.setitem(sys.modules, "DTLSSocket", None)  # as if it were not installed
    with pytest.raises(DtlsUnavailableError, match=r"needs the DTLSSocket package: `make dtls`"):
        asyncio.run(dtls_context(resource.Site(), "127.0.0.1", free_port(), {}, "test"))


def test_the_docs_dtls_example_is_valid_settings() -> None:
    guide = (Path(__file__).parents[4] / "docs/guides/send/lwm2m.md").read_text()
    section = guide[guide.index("```toml\n[lwm2m.dtls]") + len("```toml") :]
    settings = Lwm2mSettings.model_validate(tomllib.loads(section[: section.index("```\n")])["lwm2m"])
    assert settings.dtls is not None
    assert (settings.dtls.host, settings.dtls.port, sorted(settings.dtls.keys)) == (
        "192.0.2.10",
        5684,
        ["boiler-7", "valve-2"],
    )


def test_a_dtls_port_already_taken_fails_the_start_with_the_reason(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        dtls = Lwm2mDtlsSettings(host="127.0.0.1", port=port, keys={})
        server = RegistrationServer("127.0.0.1", free_port(), lambda records: None, dtls=dtls)
        with pytest.raises(OSError, match="in use"):
            asyncio.run(server.serve(asyncio.Event()))

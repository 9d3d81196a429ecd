"""Raw CoAP cases against the registration interface with libcoap's `coap-client` (Debian's
libcoap3-bin), a CoAP implementation other than the server's own: register, update and de-register,
a registration too long for one datagram (block-wise), bad links, an unknown critical option, a method
the directory does not take and an unknown registration."""

import asyncio
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from iotstream.ingest.lwm2m.server import RegistrationServer
from tests.servers import free_port

_ANSWER = re.compile(r"t:(?:ACK|CON|NON) c:(\d\.\d\d) i:\w+ \{\w*\} \[(.*?)\](?: :: '(.*)')?$")


@dataclass
class Served:
    server: RegistrationServer
    records: list[dict[str, Any]] = field(default_factory=list)
    refused: list[tuple[bytes, str, str]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"coap://127.0.0.1:{self.server.port}"


@pytest.fixture
def served() -> Iterator[Served]:
    """A registration server on its own event loop and thread."""
    records: list[dict[str, Any]] = []
    refused: list[tuple[bytes, str, str]] = []
    server = RegistrationServer(
        "127.0.0.1", free_port(), records.extend, on_refused=lambda *dead: refused.append(dead)
    )
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(stop),), daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(asyncio.wait_for(server.ready.wait(), 10), loop).result(15)
    yield Served(server, records, refused)
    loop.call_soon_threadsafe(stop.set)
    thread.join(15)
    loop.close()


def coap_client(*args: str) -> tuple[str, str, str]:
    """Run coap-client; the final answer's code, options and payload."""
    binary = shutil.which("coap-client-notls") or shutil.which("coap-client")
    assert binary, "these tests need libcoap's coap-client: sudo apt-get install libcoap3-bin"
    run = subprocess.run([binary, "-v", "6", *args], capture_output=True, text=True, timeout=30, check=False)
    answers = [m for line in run.stdout.splitlines() if (m := _ANSWER.search(line))]  # not the requests
    assert answers, f"coap-client printed no answer: {run.stdout}{run.stderr}"
    code, options, payload = answers[-1].groups()
    return code, options, payload or ""


def test_register_update_and_deregister(served: Served) -> None:
    code, options, _ = coap_client(
        "-m", "post", "-e", "</1/0>,</3303/0>", f"{served.url}/rd?ep=raw-1&lt=60&b=U"
    )
    assert code == "2.01"
    [reg_id] = re.findall(r"Location-Path:rd, Location-Path:(\w+)", options)
    assert coap_client("-m", "post", f"{served.url}/rd/{reg_id}?lt=120")[0] == "2.04"
    assert coap_client("-m", "delete", f"{served.url}/rd/{reg_id}")[0] == "2.02"
    assert [(r["event"], r["ep"], r["lt"]) for r in served.records] == [
        ("new", "raw-1", 60),
        ("update", "raw-1", 120),
        ("delete", "raw-1", 120),
    ]
    assert coap_client("-m", "post", f"{served.url}/rd/{reg_id}?lt=120")[0] == "4.04"  # gone


def test_a_registration_longer_than_a_block_arrives_whole(served: Served) -> None:
    links = ",".join(f"</{3300 + i}/0>" for i in range(60))  # 660 bytes, blocks of 64
    assert coap_client("-b", "64", "-m", "post", "-e", links, f"{served.url}/rd?ep=raw-2")[0] == "2.01"
    [record] = served.records
    assert len(record["links"]) == 60


def test_bad_requests_are_answered_with_the_reason_and_dead_lettered(served: Served) -> None:
    code, _, payload = coap_client("-m", "post", "-e", "3303/0", f"{served.url}/rd?ep=raw-3")
    assert (code, payload) == ("4.00", "the object links cannot be read: not a link at character 1: '3303/0'")
    code, _, payload = coap_client("-O", "65001,x", "-m", "post", "-e", "</1>", f"{served.url}/rd?ep=raw-4")
    assert (code, payload) == ("4.02", "the critical option 65001 is not understood here")
    assert coap_client("-O", "65000,x", "-m", "post", "-e", "</1>", f"{served.url}/rd?ep=raw-5")[0] == "2.01"
    assert coap_client("-m", "get", f"{served.url}/rd")[0] == "4.05"
    assert [reason for _, reason, _ in served.refused] == [
        "the object links cannot be read: not a link at character 1: '3303/0'",
        "the critical option 65001 is not understood here",
    ]
    assert [r["ep"] for r in served.records] == ["raw-5"]  # an unknown elective option is ignored

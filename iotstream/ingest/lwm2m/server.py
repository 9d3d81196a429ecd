"""The LwM2M registration interface over CoAP (aiocoap): `/rd` takes registrations, `/rd/<id>` their
updates and de-registrations, and registrations expire when their lifetime passes unrenewed.

It runs on its own event loop (`serve`), UDP only: aiocoap would otherwise also open TCP on the port
and a WebSocket server beside it. Every change becomes a record (`Registrations`) handed to
`on_records`, which the role puts on `lwm2m.registrations`. Bad requests get CoAP's 4.00 with the
reason as the payload, and never stop the server.
"""

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

import aiocoap
from aiocoap import resource
from aiocoap.util import hostportsplit

from iotstream.ingest.lwm2m.observer import Observer
from iotstream.ingest.lwm2m.registrations import Registration, RegistrationError, Registrations

__all__ = ["RegistrationServer", "query_of"]

_log = logging.getLogger(__name__)
Records = Callable[[list[dict[str, Any]]], None]


def query_of(options: tuple[str, ...]) -> dict[str, str]:
    """CoAP Uri-Query options as a mapping; a bare option (`Q`) maps to "".

    >>> query_of(("ep=dev", "lt=60", "Q"))
    {'ep': 'dev', 'lt': '60', 'Q': ''}
    """
    return {name: value for name, _, value in (option.partition("=") for option in options)}


class RegistrationServer:
    def __init__(
        self,
        host: str,
        port: int,
        on_records: Records,
        grace_ms: int = 30_000,
        clock: Callable[[], float] = time.time,
        observer: Observer | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.observer = observer
        self._context: aiocoap.Context | None = None
        self.registrations = Registrations(grace_ms)
        self._on_records = on_records
        self._clock = clock
        self._site = resource.Site()
        self._site.add_resource(("rd",), _Directory(self))
        self.ready = asyncio.Event()

    async def serve(self, stop: asyncio.Event) -> None:
        _check_free(self.host, self.port)
        context = self._context = await aiocoap.Context.create_server_context(
            self._site, bind=(self.host, self.port), transports=["udp6"]
        )
        self.ready.set()
        try:
            while not stop.is_set():
                self._expire()
                with contextlib.suppress(TimeoutError):  # the next registration may be due
                    await asyncio.wait_for(stop.wait(), timeout=self._until_next_expiry_s())
        finally:
            if self.observer is not None:
                self.observer.close()
            await context.shutdown()

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def registered(self, registration: Registration, records: list[dict[str, Any]], remote: Any) -> None:
        self._site.add_resource(("rd", registration.id), _Registration(self, registration.id))
        for record in records:
            if record["event"] == "delete" and record["regId"] != registration.id:  # replaced
                self._site.remove_resource(("rd", record["regId"]))
                self._forget(record["regId"])
        self._publish(records)
        self._watch(registration, remote)

    def updated(self, before: Registration, after: Registration, record: dict[str, Any], remote: Any) -> None:
        self._publish([record])
        if (after.address, after.links) != (before.address, before.links):  # moved: observe it anew
            self._watch(after, remote)

    def removed(self, reg_id: str, record: dict[str, Any]) -> None:
        self._site.remove_resource(("rd", reg_id))
        self._forget(reg_id)
        self._publish([record])

    def _watch(self, registration: Registration, remote: Any) -> None:
        if self.observer is not None and self._context is not None:
            self.observer.watch(self._context, registration, remote)

    def _forget(self, reg_id: str) -> None:
        if self.observer is not None:
            self.observer.forget(reg_id)

    def _publish(self, records: list[dict[str, Any]]) -> None:
        try:
            self._on_records(records)
        except Exception:  # the log being away must not fail the device's request
            _log.exception("lwm2m: %d registration records were not published", len(records))

    def _expire(self) -> None:
        for registration, record in self.registrations.expire(self.now_ms()):
            _log.info("lwm2m: %s's registration expired", registration.endpoint)
            self.removed(registration.id, record)

    def _until_next_expiry_s(self) -> float:
        due = self.registrations.next_expiry_ms()
        return 1.0 if due is None else min(max((due - self.now_ms()) / 1000, 0.05), 1.0)


class _Directory(resource.Resource):
    """`POST /rd?ep=..`: Register."""

    def __init__(self, server: RegistrationServer) -> None:
        super().__init__()
        self._server = server

    async def render_post(self, request: aiocoap.Message) -> aiocoap.Message:
        try:
            registration, records = self._server.registrations.register(
                query_of(request.opt.uri_query),
                request.payload.decode(),
                _address(request),
                self._server.now_ms(),
            )
        except (RegistrationError, UnicodeDecodeError) as err:
            return aiocoap.Message(code=aiocoap.BAD_REQUEST, payload=str(err).encode())
        self._server.registered(registration, records, request.remote)
        _log.info("lwm2m: %s registered as rd/%s", registration.endpoint, registration.id)
        return aiocoap.Message(code=aiocoap.CREATED, location_path=("rd", registration.id))


class _Registration(resource.Resource):
    """`POST /rd/<id>`: Update; `DELETE /rd/<id>`: De-register."""

    def __init__(self, server: RegistrationServer, reg_id: str) -> None:
        super().__init__()
        self._server = server
        self._id = reg_id

    async def render_post(self, request: aiocoap.Message) -> aiocoap.Message:
        before = self._server.registrations.get(self._id)
        try:
            updated = self._server.registrations.update(
                self._id, query_of(request.opt.uri_query), request.payload.decode(), _address(request),
                self._server.now_ms(),
            )  # fmt: skip
        except (RegistrationError, UnicodeDecodeError) as err:
            return aiocoap.Message(code=aiocoap.BAD_REQUEST, payload=str(err).encode())
        if updated is None or before is None:
            return aiocoap.Message(code=aiocoap.NOT_FOUND)
        self._server.updated(before, *updated, request.remote)
        return aiocoap.Message(code=aiocoap.CHANGED)

    async def render_delete(self, request: aiocoap.Message) -> aiocoap.Message:
        record = self._server.registrations.deregister(self._id, self._server.now_ms())
        if record is None:
            return aiocoap.Message(code=aiocoap.NOT_FOUND)
        self._server.removed(self._id, record)
        return aiocoap.Message(code=aiocoap.DELETED)


def _check_free(host: str, port: int) -> None:
    """Raise OSError if the UDP port is taken. aiocoap binds with SO_REUSEPORT, so a second server
    would silently share the port with the first (each getting part of the datagrams); and when its
    bind fails, it leaves the socket it made open."""
    if port == 0:
        return
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    with socket.socket(family, kind, proto) as probe:
        probe.bind(address)


def _address(request: aiocoap.Message) -> tuple[str, int]:
    host, port = hostportsplit(request.remote.hostinfo)
    return host, 5683 if port is None else port

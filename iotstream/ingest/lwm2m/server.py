"""The LwM2M registration interface over CoAP (aiocoap): `/rd` takes registrations, `/rd/<id>` their
updates and de-registrations, and registrations expire when their lifetime passes unrenewed.

It runs on its own event loop (`serve`), UDP only: aiocoap would otherwise also open TCP on the port
and a WebSocket server beside it. Every change becomes a record (`Registrations`) handed to
`on_records`, which the role puts on `lwm2m.registrations`. Bad requests get CoAP's 4.00 with the
reason as the payload, and go to `on_refused` (the dead-letter topic) as JSON with the reason; so do
datagrams that are not CoAP at all, which aiocoap drops with a warning on the server's own logger.
Neither ever stops the server. With `commands`, the commands API's requests go to registered devices
(`commands.Lwm2mCommands`), at the address each device last spoke from. With `dtls`, devices may also
speak CoAP over DTLS with their pre-shared keys (`dtls`), and one with a key must.
"""

import asyncio
import contextlib
import itertools
import logging
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import aiocoap
import msgspec
from aiocoap import resource
from aiocoap.numbers.optionnumbers import OptionNumber

from iotstream.ingest.lwm2m.config import Lwm2mDtlsSettings
from iotstream.ingest.lwm2m.directory import Directory, Entry
from iotstream.ingest.lwm2m.dtls import dtls_context, identity_of
from iotstream.ingest.lwm2m.observer import Observer, Refused
from iotstream.ingest.lwm2m.registrations import Registration, Registrations

if TYPE_CHECKING:
    from iotstream.ingest.lwm2m.commands import Lwm2mCommands

__all__ = ["RegistrationServer"]

_log = logging.getLogger(__name__)
Records = Callable[[list[dict[str, Any]]], None]
_servers = itertools.count()  # each server logs CoAP on a logger of its own (`_Unparsable`)
_UNDERSTOOD = {
    OptionNumber.URI_HOST,
    OptionNumber.URI_PORT,
    OptionNumber.URI_PATH,
    OptionNumber.URI_QUERY,
    OptionNumber.ACCEPT,
    OptionNumber.BLOCK1,
    OptionNumber.BLOCK2,
}


class RegistrationServer:
    def __init__(
        self,
        host: str,
        port: int,
        on_records: Records,
        grace_ms: int = 30_000,
        clock: Callable[[], float] = time.time,
        observer: Observer | None = None,
        on_refused: Refused | None = None,
        commands: "Lwm2mCommands | None" = None,
        dtls: Lwm2mDtlsSettings | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.observer = observer
        self.commands = commands
        self.dtls = dtls
        self._keys = set() if dtls is None else set(dtls.keys)  # the endpoints that must use DTLS
        self._remotes: dict[str, Any] = {}  # registration id → where its last request came from
        self._dtls_context: aiocoap.Context | None = None
        self._on_refused = on_refused or (lambda payload, reason, where: None)
        self._coap_log = logging.getLogger(f"{__name__}.coap{next(_servers)}")
        self._coap_log.setLevel(logging.WARNING)  # the filter sees warnings whatever the root's level
        self._context: aiocoap.Context | None = None
        self.registrations = Registrations(grace_ms)
        self._on_records = on_records
        self._clock = clock
        self._site = resource.Site()
        self._site.add_resource(("rd",), Directory(self))
        self.ready = asyncio.Event()

    async def serve(self, stop: asyncio.Event) -> None:
        _check_free(self.host, self.port)
        unparsable = _Unparsable(self._on_refused)
        self._coap_log.addFilter(unparsable)
        context = self._context = await aiocoap.Context.create_server_context(
            self._site, bind=(self.host, self.port), transports=["udp6"], loggername=self._coap_log.name
        )
        if self.dtls is not None:
            try:
                _check_free(self.dtls.host, self.dtls.port)  # aiocoap would share a taken port silently
                self._dtls_context = await dtls_context(
                    self._site, self.dtls.host, self.dtls.port, self.dtls.keys, self._coap_log.name
                )
            except BaseException:
                await context.shutdown()
                raise
        self.ready.set()
        delivering = None
        if self.commands is not None:
            delivering = asyncio.create_task(
                self.commands.run(self.reach, self.registrations.endpoints, stop)
            )
        try:
            while not stop.is_set():
                self._expire()
                with contextlib.suppress(TimeoutError):  # the next registration may be due
                    await asyncio.wait_for(stop.wait(), timeout=self._until_next_expiry_s())
        finally:
            if delivering is not None:  # also when the loop above failed, and `stop` is not set
                delivering.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await delivering
            if self.observer is not None:
                self.observer.close()
            await context.shutdown()
            if self._dtls_context is not None:
                await self._dtls_context.shutdown()
            self._coap_log.removeFilter(unparsable)

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def reach(self, endpoint: str) -> tuple[Registration, aiocoap.Context, Any] | None:
        """A registered endpoint, and the context and address to send it requests (None: not
        registered)."""
        registration = self.registrations.of_endpoint(endpoint)
        if registration is None or registration.id not in self._remotes:
            return None
        remote = self._remotes[registration.id]
        return registration, self._context_of(remote), remote

    def _context_of(self, remote: Any) -> aiocoap.Context:
        """The DTLS server's context for a device in a DTLS session, else plain CoAP's."""
        if getattr(remote, "scheme", None) == "coaps" and self._dtls_context is not None:
            return self._dtls_context
        assert self._context is not None  # noqa: S101 - devices speak only once it serves
        return self._context

    def forbidden(self, request: aiocoap.Message, path: str, endpoint: str) -> aiocoap.Message | None:
        """4.03 for a request about `endpoint` without the security its key asks for: over plain CoAP
        when it has a key, or in another endpoint's DTLS session."""
        identity = identity_of(request.remote)
        if identity is None and endpoint in self._keys:
            reason = f"endpoint {endpoint!r} has a pre-shared key: it registers over DTLS (coaps)"
        elif identity is not None and identity != endpoint:
            reason = f"the DTLS session is {identity!r}'s, not endpoint {endpoint!r}'s"
        else:
            return None
        return self.refused(request, path, reason, aiocoap.FORBIDDEN)

    def registered(self, registration: Registration, records: list[dict[str, Any]], remote: Any) -> None:
        self._site.add_resource(("rd", registration.id), Entry(self, registration.id))
        for record in records:
            if record["event"] == "delete" and record["regId"] != registration.id:  # replaced
                self._site.remove_resource(("rd", record["regId"]))
                self._forget(record["regId"])
        self._publish(records)
        self._watch(registration, remote)
        self._awake(registration.id, remote)

    def updated(self, before: Registration, after: Registration, record: dict[str, Any], remote: Any) -> None:
        self._publish([record])
        if (after.address, after.links) != (before.address, before.links):  # moved: observe it anew
            self._watch(after, remote)
        self._awake(after.id, remote)

    def _awake(self, reg_id: str, remote: Any) -> None:
        """The device spoke: it listens now (in queue mode, for a while), at the address it spoke from."""
        self._remotes[reg_id] = remote
        if self.commands is not None:
            self.commands.wake()

    def removed(self, reg_id: str, record: dict[str, Any]) -> None:
        self._site.remove_resource(("rd", reg_id))
        self._forget(reg_id)
        self._publish([record])

    def _watch(self, registration: Registration, remote: Any) -> None:
        if self.observer is not None and self._context is not None:
            self.observer.watch(self._context_of(remote), registration, remote)

    def _forget(self, reg_id: str) -> None:
        self._remotes.pop(reg_id, None)
        if self.observer is not None:
            self.observer.forget(reg_id)

    def refused(
        self, request: aiocoap.Message, path: str, reason: str, code: aiocoap.Code = aiocoap.BAD_REQUEST
    ) -> aiocoap.Message:
        """A bad request's answer (4.00 unless `code` says); the request goes to `on_refused` with the
        reason. `path`: the resource's (aiocoap leaves only what follows it in the request)."""
        where = f"lwm2m:{request.remote.hostinfo}"
        _log.warning("%s: %s %s refused: %s", where, request.code, path, reason)
        described = {
            "code": str(request.code),
            "path": path,
            "query": list(request.opt.uri_query),
            "payload": request.payload.decode("utf-8", "replace"),
        }
        self._on_refused(msgspec.json.encode(described), reason, where)
        return aiocoap.Message(code=code, payload=reason.encode())

    def checked(self, request: aiocoap.Message, path: str) -> aiocoap.Message | None:
        """4.02 for a critical option the registration interface does not understand (RFC 7252
        5.4.1: it must not act on such a request), which aiocoap lets through."""
        for option in request.opt.option_list():
            number = option.number
            if number.is_critical() and number not in _UNDERSTOOD:
                reason = f"the critical option {int(number)} is not understood here"
                return self.refused(request, path, reason, aiocoap.BAD_OPTION)
        return None

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


class _Unparsable(logging.Filter):
    """Datagrams aiocoap cannot read as CoAP: it drops them with a warning, the only trace they leave,
    which this filter on the server's CoAP logger turns into a dead letter."""

    def __init__(self, on_refused: Refused) -> None:
        super().__init__()
        self._on_refused = on_refused

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "Ignoring unparsable message from %s" and record.args:
            sender = record.args[0] if isinstance(record.args, tuple) else record.args
            address = f"{sender[0]}:{sender[1]}" if isinstance(sender, tuple) else str(sender)
            try:
                self._on_refused(b"", "a datagram that is not a CoAP message", f"lwm2m:{address}")
            except Exception:  # a dead letter lost must not stop aiocoap's receiving
                _log.exception("lwm2m: an unparsable datagram from %s was not dead-lettered", address)
        return True


def _check_free(host: str, port: int) -> None:
    """Raise OSError if the UDP port is taken. aiocoap binds with SO_REUSEPORT, so a second server
    would silently share the port with the first (each getting part of the datagrams); and when its
    bind fails, it leaves the socket it made open."""
    if port == 0:
        return
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    with socket.socket(family, kind, proto) as probe:
        probe.bind(address)

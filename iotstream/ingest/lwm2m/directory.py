"""The registration interface's two CoAP resources: `/rd`, where a device registers, and `/rd/<id>`,
where it updates and de-registers its registration. Each refuses what it must not act on (an option it
does not understand, a request without the security the endpoint's key asks for) through the server,
which answers and dead-letters it with the reason.
"""

import logging
from typing import TYPE_CHECKING

import aiocoap
from aiocoap import resource
from aiocoap.util import hostportsplit

from iotstream.ingest.lwm2m.registrations import RegistrationError

if TYPE_CHECKING:
    from iotstream.ingest.lwm2m.server import RegistrationServer

__all__ = ["Directory", "Entry", "query_of"]

_log = logging.getLogger(__name__)


def query_of(options: tuple[str, ...]) -> dict[str, str]:
    """CoAP Uri-Query options as a mapping; a bare option (`Q`) maps to "".

    >>> query_of(("ep=dev", "lt=60", "Q"))
    {'ep': 'dev', 'lt': '60', 'Q': ''}
    """
    return {name: value for name, _, value in (option.partition("=") for option in options)}


class Directory(resource.Resource):
    """`POST /rd?ep=..`: Register."""

    def __init__(self, server: "RegistrationServer") -> None:
        super().__init__()
        self._server = server

    async def render_post(self, request: aiocoap.Message) -> aiocoap.Message:
        if (bad := self._server.checked(request, "/rd")) is not None:
            return bad
        endpoint = query_of(request.opt.uri_query).get("ep", "")
        if (forbidden := self._server.forbidden(request, "/rd", endpoint)) is not None:
            return forbidden
        try:
            registration, records = self._server.registrations.register(
                query_of(request.opt.uri_query),
                request.payload.decode(),
                _address(request),
                self._server.now_ms(),
            )
        except (RegistrationError, UnicodeDecodeError) as err:
            return self._server.refused(request, "/rd", str(err))
        self._server.registered(registration, records, request.remote)
        _log.info("lwm2m: %s registered as rd/%s", registration.endpoint, registration.id)
        return aiocoap.Message(code=aiocoap.CREATED, location_path=("rd", registration.id))


class Entry(resource.Resource):
    """`POST /rd/<id>`: Update; `DELETE /rd/<id>`: De-register."""

    def __init__(self, server: "RegistrationServer", reg_id: str) -> None:
        super().__init__()
        self._server = server
        self._id = reg_id

    async def render_post(self, request: aiocoap.Message) -> aiocoap.Message:
        if (bad := self._allowed(request)) is not None:
            return bad
        before = self._server.registrations.get(self._id)
        try:
            updated = self._server.registrations.update(
                self._id, query_of(request.opt.uri_query), request.payload.decode(), _address(request),
                self._server.now_ms(),
            )  # fmt: skip
        except (RegistrationError, UnicodeDecodeError) as err:
            return self._server.refused(request, f"/rd/{self._id}", str(err))
        if updated is None or before is None:
            return aiocoap.Message(code=aiocoap.NOT_FOUND)
        self._server.updated(before, *updated, request.remote)
        return aiocoap.Message(code=aiocoap.CHANGED)

    async def render_delete(self, request: aiocoap.Message) -> aiocoap.Message:
        if (bad := self._allowed(request)) is not None:
            return bad
        record = self._server.registrations.deregister(self._id, self._server.now_ms())
        if record is None:
            return aiocoap.Message(code=aiocoap.NOT_FOUND)
        self._server.removed(self._id, record)
        return aiocoap.Message(code=aiocoap.DELETED)

    def _allowed(self, request: aiocoap.Message) -> aiocoap.Message | None:
        """The refusal of a request with an option it does not understand, or from someone other than
        the registered endpoint's key holder; None when it may go on."""
        path = f"/rd/{self._id}"
        if (bad := self._server.checked(request, path)) is not None:
            return bad
        registration = self._server.registrations.get(self._id)
        return None if registration is None else self._server.forbidden(request, path, registration.endpoint)


def _address(request: aiocoap.Message) -> tuple[str, int]:
    host, port = hostportsplit(request.remote.hostinfo)
    return host, 5683 if port is None else port

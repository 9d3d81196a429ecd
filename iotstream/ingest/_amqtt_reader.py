"""What amqtt reads a client's bytes through in the embedded broker: bounds that amqtt does not set.

amqtt gathers a packet of any announced size (up to MQTT's 256 MB) in memory, waits forever for the
rest of a packet once it has begun (or for a CONNECT that never comes), and lets a client stay silent
past its keepalive (it notices, and reads on). Each lets one client hold memory or a connection for
good. This reader follows the packets amqtt reads, a fixed header a byte at a time and then the body,
and ends the connection of a client that announces too much, pauses too long inside a packet, or is
silent for two keepalives (MQTT allows one and a half; amqtt's wait is one, the second a margin).
"""

import asyncio
import logging
from collections.abc import Awaitable
from typing import NoReturn

from amqtt.adapters import StreamReaderAdapter

__all__ = ["BoundedReader"]

_log = logging.getLogger(__name__)

# The longest pause inside a packet, and before a new connection's first packet; longer ends it.
PACKET_STALL_S = 30.0
_CHUNK = 65_536


class BoundedReader(StreamReaderAdapter):  # type: ignore[misc]  # amqtt has no type information here
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, max_packet_bytes: int | None
    ) -> None:
        super().__init__(reader)
        self._stream, self._writer, self._max_packet_bytes = reader, writer, max_packet_bytes
        self._body_left = 0  # bytes of the current packet still to read; 0: a fixed header comes next
        self._length: list[int] | None = None  # the remaining-length bytes of a fixed header being read
        self._connected = False  # a first packet (CONNECT) was read whole
        self._silent_waits = 0  # amqtt's keepalive waits in a row that ended without a byte

    async def read(self, n: int = -1) -> bytes:
        if n < 0:
            self._end("a read to the end of the stream, which amqtt does not make")
        if self._body_left:
            return await self._body(n)
        return await self._header_byte(n)

    async def _header_byte(self, n: int) -> bytes:
        try:
            if self._connected:  # amqtt bounds this wait by the client's keepalive
                data: bytes = await self._stream.readexactly(n)
            else:
                data = await self._paced(self._stream.readexactly(n), "before a first packet")
        except asyncio.CancelledError:
            self._note_silence()
            raise
        self._silent_waits = 0
        self._follow_header(data)
        return data

    def _note_silence(self) -> None:
        """amqtt cancels a fixed header's read when the keepalive passes; within a header's length
        bytes its next read would be out of step, and a second silence in a row is past MQTT's 1.5."""
        self._silent_waits += 1
        if self._length or self._silent_waits >= 2:
            self._close("silent past its keepalive")  # amqtt's next read finds the end

    def _follow_header(self, data: bytes) -> None:
        if self._length is None:  # the packet type: the remaining length follows
            self._length = []
            return
        self._length.append(data[0])
        if data[0] & 0x80:
            return
        size = sum((byte & 0x7F) << (7 * i) for i, byte in enumerate(self._length))
        self._length = None
        if self._max_packet_bytes is not None and size > self._max_packet_bytes:
            self._end(f"a packet of {size} bytes, past {self._max_packet_bytes}")
        self._body_left = size
        self._connected = self._connected or size == 0

    async def _body(self, n: int) -> bytes:
        if n > self._body_left:
            self._end(f"a read of {n} bytes past its packet's end, out of step")
        parts: list[bytes] = []
        wanted = n
        while wanted:
            part = await self._paced(self._stream.read(min(wanted, _CHUNK)), "inside a packet")
            if not part:
                raise asyncio.IncompleteReadError(b"".join(parts), n)
            parts.append(part)
            wanted -= len(part)
        self._body_left -= n
        self._connected = self._connected or not self._body_left
        return b"".join(parts)

    async def _paced(self, reading: Awaitable[bytes], where: str) -> bytes:
        try:
            return await asyncio.wait_for(reading, PACKET_STALL_S)
        except TimeoutError:
            self._end(f"no byte for {PACKET_STALL_S:g} s {where}")

    def _end(self, why: str) -> NoReturn:
        self._close(why)
        raise ConnectionResetError(why)  # amqtt takes it as the client gone (its NoDataError)

    def _close(self, why: str) -> None:
        """Closes the connection; the reads after it find its end, as when a client goes."""
        _log.warning("MQTT connection ended: %s", why)
        self._writer.close()

"""A lean MQTT 3.1.1 QoS 1 publisher on asyncio protocols, one reading per message.

On two cores the load generator shares the machine with the broker and the platform, so it has to be
cheap: paho-mqtt spends ~30 µs of CPU per QoS 1 publish, which alone would take a whole core at 30,000
messages/s. Here a PUBLISH packet is three byte strings joined: a cached head (fixed header and topic,
per topic and payload length), a pre-built packet identifier and the payload. A window of packets goes
out in one write, and PUBACKs are counted off in a tight loop over the bytes read: ~2 µs per message.
"""

import asyncio
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["PublishError", "PublishResult", "publish_many"]

Messages = Callable[[int], tuple[str, bytes]]  # message number -> (topic, payload)

_CONNECT, _CONNACK, _PUBLISH_QOS1, _PUBACK, _PINGRESP = 0x10, 0x20, 0x32, 0x40, 0xD0
_DISCONNECT = b"\xe0\x00"
_KEEP_ALIVE_S = 60
_MAX_ID = 65535
_IDS = [i.to_bytes(2, "big") for i in range(_MAX_ID + 1)]  # packet identifier -> its two bytes
_REFUSALS = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}


class PublishError(ConnectionError):
    """The broker refused the connection, broke the protocol or dropped it before every PUBACK."""


@dataclass(frozen=True)
class PublishResult:
    """What one `publish_many` run got acknowledged."""

    sent: int  # messages published and acknowledged
    last: int  # highest message number acknowledged; every lower number was too (-1: none)
    elapsed_s: float  # first CONNECT sent to last PUBACK received


def _varint(value: int) -> bytes:
    """MQTT's remaining length: 7 bits a byte, low first, the top bit set when more follow."""
    out = bytearray()
    while True:
        value, digit = value >> 7, value & 0x7F
        out.append(digit | 0x80 if value else digit)
        if not value:
            return bytes(out)


def _string(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def _connect_packet(client_id: str) -> bytes:
    """CONNECT: protocol level 4 (3.1.1), clean session, no will, no credentials."""
    body = _string("MQTT") + bytes([4, 0x02]) + _KEEP_ALIVE_S.to_bytes(2, "big") + _string(client_id)
    return bytes([_CONNECT]) + _varint(len(body)) + body


def _publish_head(topic: str, payload_length: int) -> bytes:
    """A QoS 1 PUBLISH up to its packet identifier; the identifier (2 bytes) and payload follow."""
    name = _string(topic)
    return bytes([_PUBLISH_QOS1]) + _varint(len(name) + 2 + payload_length) + name


def _packet_at(data: bytes, pos: int) -> tuple[int, int, int] | None:
    """(first byte, body start, body end) of the packet at pos, or None while it is incomplete."""
    length, shift, at = 0, 0, pos + 1
    while at < len(data) and shift <= 21:
        byte = data[at]
        length |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return (data[pos], at, at + length) if at + length <= len(data) else None
    if shift > 21:
        raise PublishError("malformed remaining length from the broker")
    return None


class _Numbers:
    """Hands out message numbers in blocks to all connections, until `count` or the deadline.

    The clock starts at the first block, after a connection is up, so a timed run lasts at least
    `seconds` from the first CONNECT (which is where the elapsed time is measured from)."""

    def __init__(self, count: int | None, seconds: float | None) -> None:
        self.next = 0
        self._limit = sys.maxsize if count is None else count
        self._seconds = float("inf") if seconds is None else seconds
        self._deadline: float | None = None

    def take(self, most: int) -> range:
        now = time.perf_counter()
        if self._deadline is None:
            self._deadline = now + self._seconds
        if now >= self._deadline:
            self._limit = self.next  # for good: no connection starts another block
        start = self.next
        self.next = min(start + most, self._limit)
        return range(start, self.next)


class _Connection(asyncio.Protocol):
    """One client: keeps up to `inflight` QoS 1 messages unacknowledged, topped up after each read."""

    def __init__(self, client_id: str, messages: Messages, numbers: _Numbers, inflight: int) -> None:
        self._connect = _connect_packet(client_id)
        self._messages, self._numbers, self._inflight = messages, numbers, inflight
        self._in_flight = bytearray(_MAX_ID + 1)  # 1 where that packet identifier awaits its PUBACK
        self._next_id, self._outstanding = 1, 0
        self._heads: dict[str, dict[int, bytes]] = {}  # topic -> payload length -> PUBLISH head
        self._buffer = b""
        self._connected = False
        self.acked = 0
        self.connected_at = self.last_ack_at = 0.0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # noqa: S101
        self._transport = transport
        self.connected_at = time.perf_counter()
        transport.write(self._connect)

    def data_received(self, data: bytes) -> None:
        data = self._buffer + data if self._buffer else data
        try:
            end = self._read(data)
        except PublishError as err:
            self._fail(err)
            return
        self._buffer = data[end:]
        if self._connected and not self.done.done():
            self._refill()

    def _read(self, data: bytes) -> int:
        """Handles every whole packet in data; returns where the incomplete rest starts."""
        pos, size, acked, flags = 0, len(data), 0, self._in_flight
        while pos < size:
            if data[pos] == _PUBACK and pos + 4 <= size and data[pos + 1] == 2:  # the hot path
                packet_id = data[pos + 2] << 8 | data[pos + 3]
                if not flags[packet_id]:
                    raise PublishError(f"PUBACK for packet identifier {packet_id}, which is not in flight")
                flags[packet_id] = 0
                acked, pos = acked + 1, pos + 4
                continue
            packet = _packet_at(data, pos)
            if packet is None:
                break
            self._other(data, *packet)
            pos = packet[2]
        if acked:
            self.acked, self._outstanding = self.acked + acked, self._outstanding - acked
            self.last_ack_at = time.perf_counter()
        return pos

    def _other(self, data: bytes, first: int, start: int, end: int) -> None:
        """Any packet but a well-formed PUBACK: the CONNACK, a PINGRESP, or a protocol error."""
        if first == _CONNACK and end - start == 2 and not self._connected:
            if data[start + 1]:
                code = data[start + 1]
                reason = _REFUSALS.get(code, "unknown reason")
                raise PublishError(f"the broker refused the connection: code {code}, {reason}")
            self._connected = True
        elif first != _PINGRESP:
            raise PublishError(f"unexpected packet from the broker: type {first >> 4}, {end - start} bytes")

    def _refill(self) -> None:
        # After every read, not once a larger block is free: a broker without TCP_NODELAY holds its
        # PUBACKs until our TCP ACK, which the kernel delays (~40 ms) unless we send data; waiting for
        # more acks before writing stalls at ~2,000 messages/s.
        numbers = self._numbers.take(self._inflight - self._outstanding)
        if numbers:
            assert self._transport is not None  # noqa: S101
            self._transport.write(self._publish(numbers))
        elif not self._outstanding:
            self._finish()

    def _publish(self, numbers: range) -> bytes:
        """The PUBLISH packets of these message numbers, as one byte string; marks their ids in flight."""
        messages, heads, ids, flags = self._messages, self._heads, _IDS, self._in_flight
        packet_id, parts = self._next_id, list[bytes]()
        for number in numbers:  # the hot loop: no objects made but the list's slots
            topic, payload = messages(number)
            by_length = heads.get(topic)
            if by_length is None:
                by_length = heads[topic] = {}
            head = by_length.get(len(payload))
            if head is None:
                head = by_length[len(payload)] = _publish_head(topic, len(payload))
            while flags[packet_id]:  # acknowledged out of order: skip ids still in flight
                packet_id = packet_id % _MAX_ID + 1
            flags[packet_id] = 1
            parts += (head, ids[packet_id], payload)
            packet_id = packet_id % _MAX_ID + 1
        self._next_id = packet_id
        self._outstanding += len(numbers)
        return b"".join(parts)

    def _finish(self) -> None:
        assert self._transport is not None  # noqa: S101
        self._transport.write(_DISCONNECT)
        self._transport.close()
        self.done.set_result(None)

    def _fail(self, err: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(err)
        self.close()

    def close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            what = "before its CONNACK" if not self._connected else f"{self._outstanding} unacknowledged"
            err = PublishError(f"the broker closed the connection, {what}")
            err.__cause__ = exc
            self.done.set_exception(err)


async def _run(
    host: str, port: int, messages: Messages, numbers: _Numbers, inflight: int, connections: int
) -> list[_Connection]:
    loop = asyncio.get_running_loop()
    run = uuid.uuid4().hex[:8]
    protocols = [
        _Connection(f"iotstream-bench-{run}-{n}", messages, numbers, inflight) for n in range(connections)
    ]
    try:
        for protocol in protocols:
            await loop.create_connection(lambda p=protocol: p, host, port)  # type: ignore[misc]
        await asyncio.gather(*(p.done for p in protocols))
    finally:
        for protocol in protocols:
            protocol.close()
    return protocols


def publish_many(
    host: str,
    port: int,
    messages: Messages,
    *,
    count: int | None = None,
    seconds: float | None = None,
    inflight: int = 1000,
    connections: int = 1,
) -> PublishResult:
    """Publishes `messages(0)`, `messages(1)`, ... at QoS 1 until `count` messages or `seconds` have
    passed, whichever comes first, then waits for every PUBACK.

    Each number goes to one of `connections` clean-session clients, in blocks, each client keeping at
    most `inflight` messages unacknowledged; so each client publishes its numbers in increasing order.
    Raises PublishError if the broker refuses a client or drops one before all its PUBACKs.
    """
    if count is None and seconds is None:
        raise ValueError("give count, seconds or both")
    if not 1 <= inflight <= _MAX_ID:
        raise ValueError(f"inflight must be within 1..{_MAX_ID}, not {inflight}")
    if connections < 1:
        raise ValueError(f"connections must be at least 1, not {connections}")
    numbers = _Numbers(count, seconds)
    protocols = asyncio.run(_run(host, port, messages, numbers, inflight, connections))
    sent = sum(p.acked for p in protocols)
    elapsed_s = max(p.last_ack_at for p in protocols) - min(p.connected_at for p in protocols)
    return PublishResult(sent=sent, last=sent - 1, elapsed_s=max(0.0, elapsed_s) if sent else 0.0)

"""A small MQTT client for what arrives and leaves by the thousand: readings and their notifications.

Devices send one reading per message, and the SensorThings extension sends two notifications per
reading. paho builds message and property objects, a lock, and wakes its network thread for every
message in or out: 30 to 150 µs of CPU, more than the rest of a reading's way to storage. Here a message
in is a slice of the receive buffer, and a poll's worth of notifications is one `sendall` (~2 µs each).
The client speaks only what iotstream needs: a persistent session, QoS 1 subscriptions ("no local"
over MQTT 5, so the broker does not send iotstream its own notifications), incoming QoS 0/1
publications acknowledged when the handler says so, QoS 0 publications, keep-alive and reconnection.
"""

import functools
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from typing import NamedTuple

__all__ = ["Incoming", "WireClient", "WireError"]

_log = logging.getLogger(__name__)
_CONNACK, _PUBLISH, _SUBACK, _PINGRESP = 2, 3, 9, 13
_SESSION_EXPIRY_S = 7 * 86_400  # as long as iotstream may be down and still get what it missed
_MAX_BATCH = 1_000  # messages handed over together at most


class WireError(OSError):
    """The broker refused or broke the protocol."""


class Incoming(NamedTuple):
    topic: str
    payload: bytes
    packet_id: int  # 0 for QoS 0: nothing to acknowledge
    connection: int  # acknowledgements count only on the connection that received the message


_ONE_BYTE = [bytes((n,)) for n in range(128)]


def _varint(n: int) -> bytes:
    if n < 128:  # the common cases first: this runs for every packet
        return _ONE_BYTE[n]
    if n < 16_384:
        return bytes((n & 127 | 128, n >> 7))
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(text: bytes) -> bytes:
    return len(text).to_bytes(2, "big") + text


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes((first_byte,)) + _varint(len(body)) + body


@functools.lru_cache(maxsize=4096)
def _publish_head(topic: str, v5: bool) -> bytes:
    """What follows a QoS 0 PUBLISH's remaining length up to its payload: the topic, and in MQTT 5 an
    empty property list. The same few topics carry every reading's notification."""
    return _string(topic.encode()) + (b"\x00" if v5 else b"")


class WireClient:
    def __init__(
        self,
        address: tuple[str, int],
        client_id: str,
        version: int,
        subscriptions: list[str],
        on_messages: Callable[[list[Incoming]], None],
        keepalive_s: int = 60,
        *,
        credentials: tuple[str, str] | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """`credentials`: user name and password at a broker with access control; `tls`: speak TLS."""
        self._address = address
        self._credentials = credentials
        self._tls = tls
        self._client_id = client_id.encode()
        self._v5 = version == 5
        self._subscriptions = subscriptions
        self._on_messages = on_messages  # all that one read brought, to be handled together
        self._keepalive_s = keepalive_s
        self._sock: socket.socket | None = None
        self._sent_at = 0.0
        self._send_lock = threading.Lock()
        self._connection = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"iotstream-mqtt:{client_id}", daemon=True)

    def start(self, timeout_s: float) -> "WireClient":
        self._thread.start()
        if not self._ready.wait(timeout_s):
            self.stop()
            host, port = self._address
            scheme = "mqtts" if self._tls else "mqtt"
            raise WireError(f"cannot reach the MQTT broker at {scheme}://{host}:{port} ([mqtt] url)")
        return self

    def publish(self, messages: Iterable[tuple[str, bytes]]) -> None:
        """QoS 0, in one write; while disconnected they are dropped, as QoS 0 allows."""
        parts: list[bytes] = []
        for topic, payload in messages:
            head = _publish_head(topic, self._v5)
            parts += (b"\x30", _varint(len(head) + len(payload)), head, payload)
        data = b"".join(parts)
        if data:
            self._send(data)

    def ack(self, messages: Iterable[Incoming]) -> None:
        """PUBACKs in one write, for the QoS 1 messages of the current connection (the broker resends
        the others after a reconnect)."""
        current = self._connection
        data = b"".join(
            b"\x40\x02" + m.packet_id.to_bytes(2, "big")
            for m in messages
            if m.packet_id and m.connection == current
        )
        if data:
            self._send(data)

    def stop(self) -> None:
        self._stop.set()
        sock = self._sock
        if sock is not None:
            try:
                self._send(b"\xe0\x00")  # DISCONNECT: the session stays for the next start
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread.is_alive():
            self._thread.join()

    def _send(self, data: bytes) -> None:
        with self._send_lock:
            sock = self._sock
            if sock is None:
                return
            try:
                sock.sendall(data)
                self._sent_at = time.monotonic()
            except OSError as err:
                _log.warning("MQTT broker %s: write failed (%s); reconnecting", self._address, err)
                sock.close()  # the reader notices and reconnects

    def _run(self) -> None:
        backoff_s = 0.5
        while not self._stop.is_set():
            try:
                self._session()
                backoff_s = 0.5
            except (OSError, ValueError, IndexError) as err:  # gone, or broke the protocol
                if not self._stop.is_set():
                    _log.warning("MQTT broker %s: %s; reconnecting in %.1f s", self._address, err, backoff_s)
            finally:
                if self._sock is not None:
                    self._sock.close()
                    self._sock = None
            if self._stop.wait(backoff_s):
                return
            backoff_s = min(backoff_s * 2, 5.0)

    def _session(self) -> None:
        sock = socket.create_connection(self._address, timeout=self._keepalive_s / 2)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._tls is not None:
            sock = self._tls.wrap_socket(sock, server_hostname=self._address[0])
        reader = _Reader(sock)
        sock.sendall(self._connect_packet())
        kind, body = reader.packet()
        if kind != _CONNACK or body[1] != 0:
            raise WireError(f"the broker refused the connection (CONNACK {body[1:2].hex()})")
        self._connection += 1
        self._sock, self._sent_at = sock, time.monotonic()
        sock.sendall(self._subscribe_packet())
        while (kind := reader.packet()[0]) != _SUBACK:  # what the session kept may come first
            if kind == _PUBLISH:
                self._hand_over([self._incoming(reader.flags, reader.body)])
        body = reader.body
        if any(code >= 0x80 for code in body[-len(self._subscriptions) :]):
            raise WireError(f"the broker refused the subscriptions {self._subscriptions}")
        self._ready.set()
        self._read(reader)

    def _read(self, reader: "_Reader") -> None:
        batch: list[Incoming] = []
        while not self._stop.is_set():
            if batch and (len(batch) >= _MAX_BATCH or not reader.ready()):
                self._hand_over(batch)
                batch = []
            try:
                kind, body = reader.packet()
            except TimeoutError:
                kind, body = 0, b""
            if kind == _PUBLISH:
                batch.append(self._incoming(reader.flags, body))
            if time.monotonic() - self._sent_at > self._keepalive_s / 2:
                self._send(b"\xc0\x00")  # PINGREQ: only what iotstream sends keeps it alive

    def _hand_over(self, messages: list[Incoming]) -> None:
        """A handler that fails leaves its messages unacknowledged (the broker sends them again after a
        reconnect); it must not end the connection for everyone else's."""
        try:
            self._on_messages(messages)
        except Exception:
            _log.exception("MQTT: handling %d messages failed; they stay unacknowledged", len(messages))

    def _incoming(self, flags: int, body: bytes) -> Incoming:
        length = int.from_bytes(body[:2], "big")
        topic, at = body[2 : 2 + length].decode(), 2 + length
        packet_id = 0
        if flags & 0x06:
            packet_id, at = int.from_bytes(body[at : at + 2], "big"), at + 2
        if self._v5:
            properties, at = _read_varint(body, at)
            at += properties
        return Incoming(topic, body[at:], packet_id, self._connection)

    def _connect_packet(self) -> bytes:
        keepalive = self._keepalive_s.to_bytes(2, "big")
        flags, login = b"\x00", b""  # clean start (session) off: the broker keeps it a week
        if self._credentials is not None:
            user, password = self._credentials
            flags, login = b"\xc0", _string(user.encode()) + _string(password.encode())
        if self._v5:
            properties = b"\x11" + _SESSION_EXPIRY_S.to_bytes(4, "big")
            header = _string(b"MQTT") + b"\x05" + flags + keepalive + _varint(len(properties)) + properties
        else:
            header = _string(b"MQTT") + b"\x04" + flags + keepalive
        return _packet(0x10, header + _string(self._client_id) + login)

    def _subscribe_packet(self) -> bytes:
        topics = b"".join(_string(topic.encode()) + self._options(topic) for topic in self._subscriptions)
        return _packet(0x82, b"\x00\x01" + (b"\x00" if self._v5 else b"") + topics)

    def _options(self, topic: str) -> bytes:
        """QoS 1, and "no local" in MQTT 5 except on a shared subscription, where it is a protocol
        error (there the SensorThings extension recognises its own notifications instead)."""
        no_local = self._v5 and not topic.startswith("$share/")
        return bytes((0x01 | (0x04 if no_local else 0),))


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7


class _Reader:
    """Whole packets from a socket: (packet type, body); `flags` and `body` are the last packet's."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""
        self._at = 0  # where the next packet starts: no copying of the rest per packet
        self.flags, self.body = 0, b""

    def ready(self) -> bool:
        """Whether a whole packet is buffered, so `packet` would not wait for the network."""
        buffer, start = self._buffer, self._at
        if len(buffer) - start < 2:
            return False
        try:
            length, at = _read_varint(buffer, start + 1)
        except IndexError:
            return False
        return len(buffer) >= at + length

    def packet(self) -> tuple[int, bytes]:
        while not self.ready():
            chunk = self._sock.recv(65536)
            if not chunk:
                raise WireError("the broker closed the connection")
            self._buffer, self._at = self._buffer[self._at :] + chunk, 0
        buffer, start = self._buffer, self._at
        length, at = _read_varint(buffer, start + 1)
        self._at = at + length
        self.flags, self.body = buffer[start] & 0x0F, buffer[at : at + length]
        return buffer[start] >> 4, self.body

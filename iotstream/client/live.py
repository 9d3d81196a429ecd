"""Live events over the WebSocket `/api/v1/live`, kept flowing across dropped connections.

A subscription names datastreams or glob patterns (`room-*`); the platform pushes their new readings,
window results and alerts from the moment the socket is open. When the connection drops (the server
restarts, the network goes, or the platform closes a client that fell too far behind, code 4008) the
subscription connects again: at once, then after 0.1 s, 0.2 s, ... doubling up to `max_wait_s`, until
it is closed. Refusals that waiting will not cure (401/403, a bad URL) are raised instead.

Live push is at most once: what happened while the socket was down is not replayed (the platform
follows its log from the end for each connection). `reconnects` counts the gaps; `readings()` over
the gap's time range fills them in.
"""

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Self
from urllib.parse import urlencode

from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI, WebSocketException
from websockets.sync.client import ClientConnection, connect

from iotstream.client.events import Event, decode
from iotstream.client.exceptions import AuthError, ClientError, NotFoundError, RequestError

__all__ = ["MAX_MESSAGE_BYTES", "Backoff", "ClosedError", "Subscription", "fatal", "live_url"]

MAX_MESSAGE_BYTES = 64 * 1024**2  # one message is one batch of the log: thousands of events
_FATAL_CLOSE = {4401: 401, 4403: 403}  # the access gate's close codes where it cannot answer HTTP
_log = logging.getLogger(__name__)


class ClosedError(ClientError):
    """The subscription was closed: it gives no more events."""


def live_url(base_url: str, patterns: Sequence[str]) -> str:
    """`ws(s)://host/api/v1/live?datastream=P1&datastream=P2` for an http(s) base URL."""
    if not patterns:
        raise ValueError("subscribe to at least one datastream name or pattern")
    scheme, rest = base_url.rstrip("/").split("://", 1)
    socket_scheme = {"http": "ws", "https": "wss"}.get(scheme, scheme)
    return f"{socket_scheme}://{rest}/api/v1/live?" + urlencode([("datastream", p) for p in patterns])


def fatal(err: Exception) -> ClientError | None:
    """The error to raise for a connection failure that retrying will not cure; None to retry."""
    status = None
    if isinstance(err, InvalidStatus):
        status = err.response.status_code
    elif isinstance(err, ConnectionClosed) and err.rcvd is not None:
        status = _FATAL_CLOSE.get(err.rcvd.code)
    elif isinstance(err, InvalidURI):
        return ClientError(f"cannot subscribe: {err}")
    if status is None or status >= 500 or status == 429:
        return None
    kind = AuthError if status in (401, 403) else NotFoundError if status == 404 else RequestError
    return kind(status, "the live WebSocket was refused", "GET", "/api/v1/live")


class Backoff:
    """Waits between connection attempts, and the two log lines of an outage: "lost" and "back"."""

    def __init__(self, where: str, first_wait_s: float = 0.1, max_wait_s: float = 30.0) -> None:
        self._where = where
        self._first_wait_s = first_wait_s
        self._max_wait_s = max_wait_s
        self._wait_s = 0.0  # the first attempt after a drop is at once
        self.next_try = 0.0  # time.monotonic() of the next attempt
        self.down = False

    def failed(self, err: BaseException) -> None:
        if not self.down:
            _log.warning("live connection to %s lost (%s); reconnecting", self._where, err)
            self.down = True
        self.next_try = time.monotonic() + self._wait_s
        self._wait_s = min(max(self._wait_s * 2, self._first_wait_s), self._max_wait_s)

    def connected(self) -> None:
        if self.down:
            _log.info("live connection to %s is back", self._where)
        self.down = False
        self._wait_s = 0.0


class Subscription:
    """An iterator of live events that reconnects by itself; close it (or use `with`) when done.

    Example::

        with client.subscribe(["house/*"]) as live:
            for event in live:
                if isinstance(event, ReadingEvent):
                    print(event.datastream, event.time, event.value)
    """

    def __init__(
        self,
        base_url: str,
        patterns: Sequence[str],
        headers: dict[str, str],
        *,
        max_wait_s: float = 30.0,
        open_timeout_s: float = 10.0,
    ) -> None:
        self.url = live_url(base_url, patterns)
        self.reconnects = 0  # connections made again after one dropped
        self._headers = headers
        self._open_timeout_s = open_timeout_s
        self._backoff = Backoff(base_url, max_wait_s=max_wait_s)
        self._pending: deque[Event] = deque()
        self._connection: ClientConnection | None = None
        self._connected_once = False
        self._closed = threading.Event()
        self._try_connect()  # now, so that events from here on are seen; else when read

    def receive(self, timeout_s: float | None = None) -> Event:
        """The next event; TimeoutError if none came within `timeout_s`, ClosedError once closed."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not self._pending:
            self._pending.extend(self._next_batch(deadline))
        return self._pending.popleft()

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        try:
            return self.receive()
        except ClosedError:
            raise StopIteration from None

    def close(self) -> None:
        self._closed.set()
        connection = self._connection
        if connection is not None:
            connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def _next_batch(self, deadline: float | None) -> list[Event]:
        connection = self._connection or self._reconnect(deadline)
        try:
            message = connection.recv(timeout=_remaining(deadline))
        except ConnectionClosed as err:
            self._dropped(err)
            return []
        return decode(message)

    def _reconnect(self, deadline: float | None) -> ClientConnection:
        while True:
            if self._closed.is_set():
                raise ClosedError("the subscription is closed")
            wait_s = self._backoff.next_try - time.monotonic()
            if deadline is not None and time.monotonic() + max(wait_s, 0) > deadline:
                raise TimeoutError("no live event in time (the platform is not reachable)")
            if wait_s > 0 and self._closed.wait(wait_s):
                continue
            connection = self._try_connect()
            if connection is not None:
                return connection

    def _try_connect(self) -> ClientConnection | None:
        try:
            connection = connect(
                self.url,
                additional_headers=self._headers,
                open_timeout=self._open_timeout_s,
                max_size=MAX_MESSAGE_BYTES,
            )
        except (OSError, TimeoutError, WebSocketException) as err:
            self._failed(err)
            return None
        if self._connected_once:
            self.reconnects += 1
        self._connected_once = True
        self._backoff.connected()
        self._connection = connection
        if self._closed.is_set():  # closed meanwhile, from another thread
            connection.close()
        return connection

    def _dropped(self, err: ConnectionClosed) -> None:
        self._connection = None
        if self._closed.is_set():
            raise ClosedError("the subscription is closed") from err
        self._failed(err)

    def _failed(self, err: Exception) -> None:
        refusal = fatal(err)
        if refusal is not None:
            raise refusal from err
        self._backoff.failed(err)


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(deadline - time.monotonic(), 0.0)

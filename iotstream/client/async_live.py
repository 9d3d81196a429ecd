"""`Subscription` for asyncio: the same live events and the same reconnection policy (see `live`)."""

import asyncio
import time
from collections import deque
from collections.abc import Sequence
from types import TracebackType
from typing import Self

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from iotstream.client.events import Event, decode
from iotstream.client.live import MAX_MESSAGE_BYTES, Backoff, ClosedError, fatal, live_url

__all__ = ["AsyncSubscription"]


class AsyncSubscription:
    """An async iterator of live events that reconnects by itself; it connects when entered (`async
    with`) or first read.

    Example::

        async with client.subscribe(["house/*"]) as live:
            async for event in live:
                print(event)
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
        self.reconnects = 0
        self._headers = headers
        self._open_timeout_s = open_timeout_s
        self._backoff = Backoff(base_url, max_wait_s=max_wait_s)
        self._pending: deque[Event] = deque()
        self._connection: ClientConnection | None = None
        self._connected_once = False
        self._closed = asyncio.Event()

    async def connect(self) -> None:
        """Try to connect now (the first read retries when this fails); refusals are raised."""
        if self._connection is None:
            await self._try_connect()

    async def receive(self, timeout_s: float | None = None) -> Event:
        """The next event; TimeoutError if none came within `timeout_s`, ClosedError once closed."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not self._pending:
            self._pending.extend(await self._next_batch(deadline))
        return self._pending.popleft()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        try:
            return await self.receive()
        except ClosedError:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        self._closed.set()
        if self._connection is not None:
            await self._connection.close()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.aclose()

    async def _next_batch(self, deadline: float | None) -> list[Event]:
        connection = self._connection or await self._reconnect(deadline)
        try:
            async with asyncio.timeout(_remaining(deadline)):
                message = await connection.recv()
        except ConnectionClosed as err:
            self._dropped(err)
            return []
        return decode(message)

    async def _reconnect(self, deadline: float | None) -> ClientConnection:
        while True:
            if self._closed.is_set():
                raise ClosedError("the subscription is closed")
            wait_s = self._backoff.next_try - time.monotonic()
            if deadline is not None and time.monotonic() + max(wait_s, 0) > deadline:
                raise TimeoutError("no live event in time (the platform is not reachable)")
            if wait_s > 0 and await _closed_within(self._closed, wait_s):
                continue
            connection = await self._try_connect()
            if connection is not None:
                return connection

    async def _try_connect(self) -> ClientConnection | None:
        try:
            connection = await connect(
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


async def _closed_within(closed: asyncio.Event, wait_s: float) -> bool:
    try:
        async with asyncio.timeout(wait_s):
            await closed.wait()
    except TimeoutError:
        return False
    return True


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(deadline - time.monotonic(), 0.0)

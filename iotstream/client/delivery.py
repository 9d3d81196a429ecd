"""Getting readings to the platform: straight away, or through the disk buffer (store and forward).

Without a buffer, readings are posted in batches and each batch is retried with backoff while the
platform is unreachable or busy, up to `give_up_after_s`; then `UnreachableError` is raised.

With a buffer, every reading is first written to it (durably), then the buffer is drained oldest
first, one batch per request, each batch deleted once acknowledged. A failed attempt leaves the
readings where they are and pauses delivery (0.5 s, doubling up to 30 s), so that while the platform
is away `send` only writes to disk and returns at once; the first `send` or `flush` after the pause
tries again. The outage is logged once when it starts and once when it ends. One drain runs at a
time, so readings go out in the order they were sent, each once.
"""

import asyncio
import logging
import threading
import time
from typing import Any

import msgspec

from iotstream.client._readings import Rejected, encode
from iotstream.client.buffer import BufferedReading, DiskBuffer
from iotstream.client.exceptions import UnreachableError
from iotstream.client.sending import AsyncSender, Sender

__all__ = ["AsyncDelivery", "Delivery", "Outage"]

_log = logging.getLogger(__name__)


class Outage:
    """When delivery from the buffer may be tried again, and the log lines of an outage."""

    def __init__(self, where: str, first_pause_s: float = 0.5, max_pause_s: float = 30.0) -> None:
        self._where = where
        self._first_pause_s = first_pause_s
        self._max_pause_s = max_pause_s
        self._pause_s = first_pause_s
        self._next_try = 0.0
        self.down = False

    def pause_s(self) -> float:
        return max(self._next_try - time.monotonic(), 0.0)

    def failed(self, err: Exception) -> None:
        if not self.down:
            _log.warning(
                "platform %s unavailable (%s); keeping readings in the disk buffer", self._where, err
            )
            self.down = True
        self._next_try = time.monotonic() + self._pause_s
        self._pause_s = min(self._pause_s * 2, self._max_pause_s)

    def recovered(self, buffered: int) -> None:
        if self.down:
            _log.info("platform %s available again; sending %d buffered readings", self._where, buffered)
            self.down = False
        self._pause_s = self._first_pause_s


def _rejected(batch: list[BufferedReading], refused: list[tuple[int, str]]) -> list[Rejected]:
    found = [Rejected(msgspec.json.decode(batch[index].body), reason) for index, reason in refused]
    if found:
        _log.warning("the platform rejected %d buffered readings; the first: %s", len(found), found[0].reason)
    return found


def _batches(documents: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [documents[start : start + size] for start in range(0, len(documents), size)]


class Delivery:
    """Readings to the platform, through `buffer` when there is one."""

    def __init__(self, sender: Sender, buffer: DiskBuffer | None, batch_size: int, where: str) -> None:
        self.buffer = buffer
        self._sender = sender
        self._batch_size = batch_size
        self.outage = Outage(where)
        self._draining = threading.Lock()

    def send(self, documents: list[dict[str, Any]]) -> list[Rejected]:
        """Deliver (or buffer) the readings; those the platform rejected in this call."""
        if self.buffer is None:
            return self._direct(documents)
        self.buffer.append([encode(document) for document in documents])
        return self.drain(0.0)

    def drain(self, timeout_s: float) -> list[Rejected]:
        """Send buffered readings until none are left or the platform stayed away `timeout_s`."""
        buffer, deadline, rejected = self.buffer, time.monotonic() + timeout_s, []
        if buffer is None:
            return []
        with self._draining:
            while batch := buffer.oldest(self._batch_size):
                pause_s = self.outage.pause_s()
                if pause_s > 0 and time.monotonic() + pause_s > deadline:
                    break  # not paused: a batch is always tried, whatever the time left
                time.sleep(pause_s)
                try:  # one try: the pause between tries is the outage's, not the request's
                    refused = self._sender.send_encoded([r.body for r in batch], give_up_after_s=0)
                except UnreachableError as err:
                    self.outage.failed(err)
                    continue
                self.outage.recovered(len(buffer))
                buffer.ack(batch[-1].seq)
                rejected += _rejected(batch, refused)
        return rejected

    def _direct(self, documents: list[dict[str, Any]]) -> list[Rejected]:
        rejected = []
        for batch in _batches(documents, self._batch_size):
            rejected += [Rejected(batch[index], reason) for index, reason in self._sender.send(batch)]
        return rejected


class AsyncDelivery:
    """`Delivery` for asyncio; the buffer's disk writes run in a worker thread."""

    def __init__(self, sender: AsyncSender, buffer: DiskBuffer | None, batch_size: int, where: str) -> None:
        self.buffer = buffer
        self._sender = sender
        self._batch_size = batch_size
        self.outage = Outage(where)
        self._draining = asyncio.Lock()

    async def send(self, documents: list[dict[str, Any]]) -> list[Rejected]:
        """Deliver (or buffer) the readings; those the platform rejected in this call."""
        if self.buffer is None:
            return await self._direct(documents)
        await asyncio.to_thread(self.buffer.append, [encode(document) for document in documents])
        return await self.drain(0.0)

    async def drain(self, timeout_s: float) -> list[Rejected]:
        """Send buffered readings until none are left or the platform stayed away `timeout_s`."""
        buffer, deadline, rejected = self.buffer, time.monotonic() + timeout_s, []
        if buffer is None:
            return []
        async with self._draining:
            while batch := await asyncio.to_thread(buffer.oldest, self._batch_size):
                pause_s = self.outage.pause_s()
                if pause_s > 0 and time.monotonic() + pause_s > deadline:
                    break  # not paused: a batch is always tried, whatever the time left
                await asyncio.sleep(pause_s)
                try:
                    refused = await self._sender.send_encoded([r.body for r in batch], give_up_after_s=0)
                except UnreachableError as err:
                    self.outage.failed(err)
                    continue
                self.outage.recovered(len(buffer))
                await asyncio.to_thread(buffer.ack, batch[-1].seq)
                rejected += _rejected(batch, refused)
        return rejected

    async def _direct(self, documents: list[dict[str, Any]]) -> list[Rejected]:
        rejected = []
        for batch in _batches(documents, self._batch_size):
            refused = await self._sender.send(batch)
            rejected += [Rejected(batch[index], reason) for index, reason in refused]
        return rejected

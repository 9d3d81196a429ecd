"""Live push: `/api/v1/live?datastream=NAME[&datastream=PATTERN...]` streams new readings, window
results and alert events over a WebSocket as they reach the log.

One reader thread follows the log for every client (from the end, committing nothing) and hands each
client the events it asked for, as one JSON array per batch. Each client has a bounded queue of
batches; a client that falls that far behind is closed with code 4008 and never slows the reader, the
other clients or the pipeline.
"""

import asyncio
import fnmatch
import logging
import threading
from collections.abc import Sequence
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect

from iotstream.api.access import principal_of
from iotstream.log.base import BaseLog
from iotstream.log.types import Record, TopicPartition
from iotstream.registry.access import OPEN, Scope

__all__ = ["TOO_SLOW", "LiveClient", "LiveHub", "router"]

TOO_SLOW = 4008
_CLOSE_TIMEOUT_S = 10.0
_log = logging.getLogger(__name__)
_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


class LiveClient:
    """One WebSocket's subscription; `offer` is called by the hub thread, `next` by the socket's task."""

    def __init__(
        self,
        patterns: Sequence[str],
        loop: asyncio.AbstractEventLoop,
        max_queued: int,
        scope: Scope = OPEN.scope,
    ) -> None:
        """`patterns` are in the names `scope` gives: a client sees only its tenant's datastreams."""
        self.scope = scope
        self._exact = {p for p in patterns if not any(c in p for c in "*?[")}
        self._globs = [p for p in patterns if p not in self._exact]
        self._loop = loop
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._max_queued = max_queued
        self._queued = 0  # batches offered and not yet taken; changed under `_lock`
        self._lock = threading.Lock()
        self.too_slow = False
        self.dropped = asyncio.Event()  # set (on the socket's loop) once the client is too slow

    def wants(self, key: str) -> bool:
        name = self.scope.name(key)
        if name is None:
            return False
        return name in self._exact or any(fnmatch.fnmatchcase(name, g) for g in self._globs)

    def offer(self, frame: bytes) -> bool:
        """Queue a batch; False once the client has fallen `max_queued` batches behind (it is dropped)."""
        with self._lock:
            if self.too_slow:
                return False
            self.too_slow = self._queued >= self._max_queued
            if not self.too_slow:
                self._queued += 1
        if self.too_slow:
            self._loop.call_soon_threadsafe(self.dropped.set)
            return False
        self._loop.call_soon_threadsafe(self._queue.put_nowait, frame)
        return True

    async def next(self) -> bytes:
        frame = await self._queue.get()
        with self._lock:
            self._queued -= 1
        return frame


class LiveHub:
    """Follows `topics` (topic → event type) from their end and fans events out to the clients."""

    def __init__(self, log: BaseLog, topics: dict[str, str], max_queued: int = 64) -> None:
        self._types = {topic: kind.encode() for topic, kind in topics.items()}
        self._max_queued = max_queued
        self._clients: set[LiveClient] = set()
        self.dropped = 0  # clients closed for being too slow
        self._lock = threading.Lock()
        self._consumer = log.consumer()
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in range(log.describe_topic(topic).spec.partitions)
        ]
        self._consumer.assign(partitions)
        self._consumer.seek_to_end()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="iotstream-live")

    def start(self) -> "LiveHub":
        self._thread.start()
        return self

    @property
    def clients(self) -> int:
        return len(self._clients)

    def join(
        self, patterns: Sequence[str], loop: asyncio.AbstractEventLoop, scope: Scope = OPEN.scope
    ) -> LiveClient:
        client = LiveClient(patterns, loop, self._max_queued, scope)
        with self._lock:
            self._clients.add(client)
        return client

    def leave(self, client: LiveClient) -> None:
        with self._lock:
            self._clients.discard(client)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if not self._clients:
                    self._wait_for_clients()
                    continue
                records = self._consumer.poll(5_000, 0.2)
                if records:
                    self._fan_out(records)
            except Exception:  # a live view must never take the platform down
                _log.exception("live push failed on a batch; going on with the next")

    def _wait_for_clients(self) -> None:
        """Nobody watches: skip what arrives instead of reading it (a reading read for nobody cost more
        than a reading stored). A client that joins meanwhile gets events from at most 50 ms before."""
        self._consumer.seek_to_end()
        self._stop.wait(_IDLE_S)

    def _fan_out(self, records: list[Record]) -> None:
        with self._lock:
            clients = list(self._clients)
        events = _Events(self._types)
        for record in records:
            if record.key is not None and record.value is not None:
                events.add(record.key, record.value, record.topic)
        for client in clients:
            wanted = events.wanted_by(client)
            if wanted and not client.offer(b"[" + b",".join(wanted) + b"]"):
                self.leave(client)
                self.dropped += 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._consumer.close()


class _Events:
    """One batch's events by stream key, as each client is sent them: a tenant's client sees its
    datastreams by its own names, so their events are renamed (once per batch, for all its clients)."""

    def __init__(self, types: dict[str, bytes]) -> None:
        self._types = types
        self._raw: dict[str, list[tuple[bytes, bytes]]] = {}  # key → (type, value) in log order
        self._framed: dict[tuple[str, str], list[bytes]] = {}  # (key, name) → framed events

    def add(self, key: bytes, value: bytes, topic: str) -> None:
        self._raw.setdefault(key.decode("utf-8", "replace"), []).append((self._types[topic], value))

    def wanted_by(self, client: LiveClient) -> list[bytes]:
        return [event for key in self._raw if client.wants(key) for event in self._of(key, client.scope)]

    def _of(self, key: str, scope: Scope) -> list[bytes]:
        name = scope.name(key) or key
        framed = self._framed.get((key, name))
        if framed is None:
            raw = self._raw[key]
            framed = [_frame(kind, value if name == key else _renamed(value, name)) for kind, value in raw]
            self._framed[key, name] = framed
        return framed


def _frame(kind: bytes, value: bytes) -> bytes:
    return b'{"type":"' + kind + b'","event":' + value + b"}"


def _renamed(value: bytes, name: str) -> bytes:
    try:
        event = _decode(value)
    except msgspec.DecodeError:
        return value
    if isinstance(event, dict):
        for field in ("datastream", "key"):  # readings and alerts name it so, window results the other
            if field in event:
                event[field] = name
    return _encode(event)


_IDLE_S = 0.05
router = APIRouter(tags=["live"])


@router.websocket("/api/v1/live")
async def live(
    websocket: WebSocket,
    datastream: Annotated[list[str], Query(description="Names or glob patterns; repeat for several")],
) -> None:
    """Each message is a JSON array of `{"type": "reading" | "window" | "alert", "event": {...}}` in log order
    per datastream. A client that falls 64 batches behind is closed with code 4008."""
    hub: LiveHub = websocket.app.state.live
    scope = principal_of(websocket).scope
    await websocket.accept()
    client = hub.join(datastream, asyncio.get_running_loop(), scope)
    try:
        await _push(websocket, client)
    except WebSocketDisconnect:
        return
    finally:
        hub.leave(client)


async def _push(websocket: WebSocket, client: LiveClient) -> None:
    """Send batches until the client leaves or is dropped. A send waits while the client does not read;
    being dropped cancels that wait (nothing of the frame is written yet), and the close frame follows
    what the client has not read, bounded by `_CLOSE_TIMEOUT_S`."""
    gone = asyncio.ensure_future(websocket.receive())  # completes when the client goes away
    dropped = asyncio.ensure_future(client.dropped.wait())
    step: asyncio.Future[Any] | None = None
    try:
        while True:
            step = asyncio.ensure_future(client.next())
            await asyncio.wait({step, gone, dropped}, return_when=asyncio.FIRST_COMPLETED)
            if step.done() and not (gone.done() or dropped.done()):
                step = asyncio.ensure_future(websocket.send_text(step.result().decode()))
                await asyncio.wait({step, gone, dropped}, return_when=asyncio.FIRST_COMPLETED)
            if gone.done():
                return
            if dropped.done():
                step.cancel()
                close = websocket.close(TOO_SLOW, "too slow: the client fell too far behind the live stream")
                await asyncio.wait_for(close, _CLOSE_TIMEOUT_S)
                return
            step.result()  # a failed send ends the connection
    except TimeoutError:
        _log.info("a dropped live client did not read its close frame in %s s", _CLOSE_TIMEOUT_S)
    finally:
        for future in (gone, dropped, step):
            if future is not None:
                future.cancel()

"""`AsyncClient`: `Client` for asyncio, with the same methods (awaited) and the same settings.

Example::

    async with AsyncClient("http://localhost:8000", token) as client:
        await client.send("pump-1/flow", 12.5)
        frame = await client.readings("pump-1/flow")
        async with client.subscribe("pump-1/*") as live:
            async for event in live:
                print(event)
"""

import asyncio
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self, overload

import httpx

from iotstream.client import queries, registry
from iotstream.client._base import BaseClient, patterns_of
from iotstream.client._http import Plan, T, aexecute, arun, check
from iotstream.client._readings import DatastreamRef, ReadingLike, Rejected, name_of, reading, readings_of
from iotstream.client._time import TimeLike
from iotstream.client.async_live import AsyncSubscription
from iotstream.client.buffer import OnFull
from iotstream.client.commands import Action, AsyncTicket, command_plan
from iotstream.client.delivery import AsyncDelivery
from iotstream.client.exceptions import RejectedError
from iotstream.client.frames import FrameKind
from iotstream.client.registry import (
    Datastream,
    ObservedProperty,
    RegisteredDatastream,
    RegisteredThing,
    Sensor,
    Thing,
)
from iotstream.client.sending import AsyncSender

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

__all__ = ["AsyncClient"]

Format = Literal["csv", "parquet"]
AlertState = Literal["open", "closed"]
Rollup = Literal["1m", "1h", "1d"]


class AsyncClient(BaseClient):
    """`Client` for asyncio; the arguments are `Client`'s (`transport`: an `httpx.AsyncBaseTransport`)."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        buffer: str | Path | None = None,
        buffer_max_readings: int = 1_000_000,
        buffer_max_bytes: int = 256 * 1024**2,
        on_buffer_full: OnFull = "drop_oldest",
        batch_size: int = 1_000,
        give_up_after_s: float = 60.0,
        timeout_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            url,
            token,
            buffer=buffer,
            buffer_max_readings=buffer_max_readings,
            buffer_max_bytes=buffer_max_bytes,
            on_buffer_full=on_buffer_full,
            batch_size=batch_size,
            give_up_after_s=give_up_after_s,
            timeout_s=timeout_s,
        )
        self._http = httpx.AsyncClient(**self._http_options(), transport=transport)
        sender = AsyncSender(self._http, give_up_after_s=give_up_after_s)
        self._delivery = AsyncDelivery(sender, self.disk_buffer, batch_size, self.url)

    async def _run(self, plan: Plan[T]) -> T:
        return await arun(plan, self._http, self.give_up_after_s)

    async def register(self, thing: Thing, datastreams: Sequence[Datastream]) -> RegisteredThing:
        """`Client.register`."""
        return await self._run(registry.register_plan(thing, datastreams))

    async def register_thing(self, thing: Thing) -> int:
        return await self._run(registry.create_plan("Things", thing.document()))

    async def register_sensor(self, sensor: Sensor) -> int:
        return await self._run(registry.create_plan("Sensors", sensor.document()))

    async def register_observed_property(self, observed_property: ObservedProperty) -> int:
        return await self._run(registry.create_plan("ObservedProperties", observed_property.document()))

    async def register_datastream(self, thing_id: int, datastream: Datastream) -> RegisteredDatastream:
        return await self._run(registry.datastream_plan(thing_id, datastream))

    async def send(self, datastream: DatastreamRef, value: Any, time: TimeLike | None = None) -> None:
        """`Client.send`."""
        document = reading(datastream, value, time)
        for refused in await self._delivery.send([document]):
            if refused.reading == document:
                raise RejectedError(refused.reason, document)

    async def send_many(self, readings: Iterable[ReadingLike]) -> list[Rejected]:
        """`Client.send_many`."""
        return await self._delivery.send(readings_of(readings))

    async def flush(self, timeout_s: float = 30.0) -> int:
        """`Client.flush`."""
        await self._delivery.drain(timeout_s)
        return self.buffered

    def subscribe(self, patterns: str | Sequence[str], *, max_wait_s: float = 30.0) -> AsyncSubscription:
        """`Client.subscribe`; connects when entered (`async with`) or first read."""
        return AsyncSubscription(self.url, patterns_of(patterns), self.headers, max_wait_s=max_wait_s)

    @overload
    async def readings(
        self, datastream: DatastreamRef, start: TimeLike | None = ..., end: TimeLike | None = ...,
        *, frame: Literal["pandas"] = ..., page_size: int = ...,
    ) -> "pd.DataFrame": ...  # fmt: skip
    @overload
    async def readings(
        self, datastream: DatastreamRef, start: TimeLike | None = ..., end: TimeLike | None = ...,
        *, frame: Literal["polars"], page_size: int = ...,
    ) -> "pl.DataFrame": ...  # fmt: skip
    async def readings(
        self,
        datastream: DatastreamRef,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        *,
        frame: FrameKind = "pandas",
        page_size: int = 10_000,
    ) -> "pd.DataFrame | pl.DataFrame":
        """`Client.readings`."""
        rows = await self._run(queries.readings_plan(name_of(datastream), start, end, page_size))
        return self._frame(rows, queries.READING_COLUMNS, frame)

    @overload
    async def aggregates(
        self, datastream: DatastreamRef, window: str = ..., start: TimeLike | None = ...,
        end: TimeLike | None = ..., *, frame: Literal["pandas"] = ...,
    ) -> "pd.DataFrame": ...  # fmt: skip
    @overload
    async def aggregates(
        self, datastream: DatastreamRef, window: str = ..., start: TimeLike | None = ...,
        end: TimeLike | None = ..., *, frame: Literal["polars"],
    ) -> "pl.DataFrame": ...  # fmt: skip
    async def aggregates(
        self,
        datastream: DatastreamRef,
        window: str = "1d",
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        *,
        frame: FrameKind = "pandas",
    ) -> "pd.DataFrame | pl.DataFrame":
        """`Client.aggregates`."""
        rows = await self._run(queries.aggregates_plan(name_of(datastream), window, start, end))
        return self._frame(rows, queries.AGGREGATE_COLUMNS, frame)

    @overload
    async def series(
        self, datastream: DatastreamRef, start: TimeLike | None = ..., end: TimeLike | None = ...,
        *, span: str = ..., points: int = ..., max_points: int | None = ..., frame: Literal["pandas"] = ...,
    ) -> "pd.DataFrame": ...  # fmt: skip
    @overload
    async def series(
        self, datastream: DatastreamRef, start: TimeLike | None = ..., end: TimeLike | None = ...,
        *, span: str = ..., points: int = ..., max_points: int | None = ..., frame: Literal["polars"],
    ) -> "pl.DataFrame": ...  # fmt: skip
    async def series(
        self,
        datastream: DatastreamRef,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        *,
        span: str = "1d",
        points: int = 500,
        max_points: int | None = None,
        frame: FrameKind = "pandas",
    ) -> "pd.DataFrame | pl.DataFrame":
        """`Client.series`."""
        plan = queries.series_plan(name_of(datastream), start, end, span, points, max_points)
        return self._frame((await self._run(plan))["points"], queries.SERIES_COLUMNS, frame)

    @overload
    async def alerts(
        self, datastream: DatastreamRef | None = ..., start: TimeLike | None = ...,
        end: TimeLike | None = ..., *, state: AlertState | None = ..., frame: Literal["pandas"] = ...,
    ) -> "pd.DataFrame": ...  # fmt: skip
    @overload
    async def alerts(
        self, datastream: DatastreamRef | None = ..., start: TimeLike | None = ...,
        end: TimeLike | None = ..., *, state: AlertState | None = ..., frame: Literal["polars"],
    ) -> "pl.DataFrame": ...  # fmt: skip
    async def alerts(
        self,
        datastream: DatastreamRef | None = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        *,
        state: AlertState | None = None,
        frame: FrameKind = "pandas",
    ) -> "pd.DataFrame | pl.DataFrame":
        """`Client.alerts`."""
        name = None if datastream is None else name_of(datastream)
        rows = await self._run(queries.alerts_plan(name, state, start, end))
        return self._frame(rows, queries.ALERT_COLUMNS, frame)

    @overload
    async def export(
        self, datastream: str, path: None = ..., *, start: TimeLike | None = ..., end: TimeLike | None = ...,
        format: Format = ..., window: Rollup | None = ...,
    ) -> bytes: ...  # fmt: skip
    @overload
    async def export(
        self, datastream: str, path: str | Path, *, start: TimeLike | None = ..., end: TimeLike | None = ...,
        format: Format = ..., window: Rollup | None = ...,
    ) -> Path: ...  # fmt: skip
    async def export(
        self,
        datastream: str,
        path: str | Path | None = None,
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        format: Format = "csv",
        window: Rollup | None = None,
    ) -> bytes | Path:
        """`Client.export`."""
        call = queries.export_call(datastream, start, end, format, window)
        if path is None:
            return check(await aexecute(self._http, call, self.give_up_after_s)).content
        target, partial = Path(path), Path(f"{path}.part")
        async with self._http.stream(call.method, call.path, params=call.query) as answer:
            if not answer.is_success:
                await answer.aread()
                check(answer)
            file = await asyncio.to_thread(partial.open, "wb")  # disk writes off the event loop
            try:
                async for chunk in answer.aiter_bytes():
                    await asyncio.to_thread(file.write, chunk)
            finally:
                await asyncio.to_thread(file.close)
        await asyncio.to_thread(partial.replace, target)
        return target

    async def command(
        self,
        device: str,
        action: Action,
        path: str,
        value: Any = None,
        *,
        timeout_s: float = 30.0,
        site: str | None = None,
    ) -> AsyncTicket:
        """`Client.command`."""
        ticket = await self._run(command_plan(device, action, path, value, timeout_s, site))
        return AsyncTicket(ticket, self._run)

    async def aclose(self, flush_timeout_s: float = 0.0) -> None:
        """`Client.close`."""
        try:
            if self.disk_buffer is not None and len(self.disk_buffer):
                await self._delivery.drain(flush_timeout_s)
        finally:
            await self._http.aclose()
            if self.disk_buffer is not None:
                self.disk_buffer.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.aclose()

"""`Client`: the platform from a device, a script or a notebook (for asyncio, `AsyncClient`).

Example::

    from iotstream.client import Client, Datastream, ObservedProperty, Sensor, Thing

    with Client("http://localhost:8000", token, buffer="/var/lib/pump-1") as client:
        flow = Datastream("flow", "l/min", Sensor("F3"), ObservedProperty("flow", "urn:f"), key="pump-1/q")
        pump = client.register(Thing("pump-1"), [flow])
        client.send("pump-1/q", 12.5)  # now; kept on disk while the platform is away
        frame = client.readings("pump-1/q", start="2024-05-01T00:00:00Z")  # a pandas DataFrame
"""

from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self, overload

import httpx

from iotstream.client import queries, registry
from iotstream.client._base import BaseClient, patterns_of
from iotstream.client._http import Plan, T, check, execute, run
from iotstream.client._readings import DatastreamRef, ReadingLike, Rejected, name_of, reading, readings_of
from iotstream.client._time import TimeLike
from iotstream.client.buffer import OnFull
from iotstream.client.commands import Action, Ticket, command_plan
from iotstream.client.delivery import Delivery
from iotstream.client.exceptions import RejectedError
from iotstream.client.frames import FrameKind
from iotstream.client.live import Subscription
from iotstream.client.registry import (
    Datastream,
    ObservedProperty,
    RegisteredDatastream,
    RegisteredThing,
    Sensor,
    Thing,
)
from iotstream.client.sending import Sender

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

__all__ = ["Client"]

Format = Literal["csv", "parquet"]
AlertState = Literal["open", "closed"]
Rollup = Literal["1m", "1h", "1d"]


class Client(BaseClient):
    """A connection to one platform: registration, sending, live events, queries, commands.

    Args:
        url: The platform's HTTP address, e.g. `http://localhost:8000`.
        token: An API token (`Authorization: Bearer`), when the platform has `[auth] enabled`.
        buffer: A file or directory for the disk buffer: readings are kept there while the platform
            is unreachable and sent, in order, when it returns. None: no buffer; a send that cannot be
            delivered within `give_up_after_s` raises `UnreachableError`.
        buffer_max_readings: The buffer's bound in readings.
        buffer_max_bytes: Its bound in bytes of the readings' JSON.
        on_buffer_full: `"drop_oldest"` (make room, count and log the drop) or `"error"`
            (`BufferFullError`); see `iotstream.client.buffer`.
        batch_size: Readings per request.
        give_up_after_s: How long a request is retried while the platform is unreachable or busy.
        timeout_s: Of one request (connecting: at most 5 s).
        transport: An httpx transport, e.g. `httpx.MockTransport` in tests.
    """

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
        transport: httpx.BaseTransport | None = None,
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
        self._http = httpx.Client(**self._http_options(), transport=transport)
        sender = Sender(self.url, give_up_after_s=give_up_after_s, http=self._http)
        self._delivery = Delivery(sender, self.disk_buffer, batch_size, self.url)

    def _run(self, plan: Plan[T]) -> T:
        return run(plan, self._http, self.give_up_after_s)

    # Registration (SensorThings) -------------------------------------------------------------------

    def register(self, thing: Thing, datastreams: Sequence[Datastream]) -> RegisteredThing:
        """Create a Thing with its Datastreams (and their Sensors and ObservedProperties) at once.

        Returns:
            The Thing's `@iot.id` and its Datastreams with the `key` to send readings to.
        """
        return self._run(registry.register_plan(thing, datastreams))

    def register_thing(self, thing: Thing) -> int:
        """Create a Thing; its `@iot.id`."""
        return self._run(registry.create_plan("Things", thing.document()))

    def register_sensor(self, sensor: Sensor) -> int:
        """Create a Sensor (to share between Datastreams); its `@iot.id`."""
        return self._run(registry.create_plan("Sensors", sensor.document()))

    def register_observed_property(self, observed_property: ObservedProperty) -> int:
        """Create an ObservedProperty; its `@iot.id`."""
        return self._run(registry.create_plan("ObservedProperties", observed_property.document()))

    def register_datastream(self, thing_id: int, datastream: Datastream) -> RegisteredDatastream:
        """Create a Datastream of the Thing `thing_id`; with the `key` to send its readings to."""
        return self._run(registry.datastream_plan(thing_id, datastream))

    # Sending --------------------------------------------------------------------------------------

    def send(self, datastream: DatastreamRef, value: Any, time: TimeLike | None = None) -> None:
        """Send one reading, timed now unless `time` (epoch ms, aware datetime, ISO-8601) says when.

        Raises:
            RejectedError: The platform refused the reading (e.g. a datastream the token may not use).
            UnreachableError: Without a buffer: the platform stayed away `give_up_after_s`.
        """
        document = reading(datastream, value, time)
        for refused in self._delivery.send([document]):
            if refused.reading == document:
                raise RejectedError(refused.reason, document)

    def send_many(self, readings: Iterable[ReadingLike]) -> list[Rejected]:
        """Send readings (`{"datastream", "value", "time"?}` or `(datastream, value[, time])`), in
        batches, in order; returns those the platform rejected (with a buffer: of any sent now)."""
        return self._delivery.send(readings_of(readings))

    def flush(self, timeout_s: float = 30.0) -> int:
        """Send what the disk buffer holds, waiting up to `timeout_s` for the platform; how many are
        still buffered."""
        self._delivery.drain(timeout_s)
        return self.buffered

    # Live -----------------------------------------------------------------------------------------

    def subscribe(self, patterns: str | Sequence[str], *, max_wait_s: float = 30.0) -> Subscription:
        """Live readings, window results and alerts of the datastreams matching `patterns` (names or
        globs such as `house/*`), reconnecting after drops, waiting at most `max_wait_s` between tries."""
        return Subscription(self.url, patterns_of(patterns), self.headers, max_wait_s=max_wait_s)

    # Queries --------------------------------------------------------------------------------------

    @overload
    def readings(
        self, datastream: DatastreamRef, start: TimeLike | None = ..., end: TimeLike | None = ...,
        *, frame: Literal["pandas"] = ..., page_size: int = ...,
    ) -> "pd.DataFrame": ...  # fmt: skip
    @overload
    def readings(
        self, datastream: DatastreamRef, start: TimeLike | None = ..., end: TimeLike | None = ...,
        *, frame: Literal["polars"], page_size: int = ...,
    ) -> "pl.DataFrame": ...  # fmt: skip
    def readings(
        self,
        datastream: DatastreamRef,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        *,
        frame: FrameKind = "pandas",
        page_size: int = 10_000,
    ) -> "pd.DataFrame | pl.DataFrame":
        """Every raw reading in [start, end), oldest first: columns `time`, `value`, `id` (message id)."""
        rows = self._run(queries.readings_plan(name_of(datastream), start, end, page_size))
        return self._frame(rows, queries.READING_COLUMNS, frame)

    @overload
    def aggregates(
        self, datastream: DatastreamRef, window: str = ..., start: TimeLike | None = ...,
        end: TimeLike | None = ..., *, frame: Literal["pandas"] = ...,
    ) -> "pd.DataFrame": ...  # fmt: skip
    @overload
    def aggregates(
        self, datastream: DatastreamRef, window: str = ..., start: TimeLike | None = ...,
        end: TimeLike | None = ..., *, frame: Literal["polars"],
    ) -> "pl.DataFrame": ...  # fmt: skip
    def aggregates(
        self,
        datastream: DatastreamRef,
        window: str = "1d",
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        *,
        frame: FrameKind = "pandas",
    ) -> "pd.DataFrame | pl.DataFrame":
        """Window results (e.g. `"1d"`, the daily meter values): columns `time` (the window's start),
        `end`, `value` (the job's aggregate for this datastream), `count`, `min`, `max`, `sum`, `avg`."""
        rows = self._run(queries.aggregates_plan(name_of(datastream), window, start, end))
        return self._frame(rows, queries.AGGREGATE_COLUMNS, frame)

    @overload
    def series(
        self, datastream: DatastreamRef, start: TimeLike | None = ..., end: TimeLike | None = ...,
        *, span: str = ..., points: int = ..., max_points: int | None = ..., frame: Literal["pandas"] = ...,
    ) -> "pd.DataFrame": ...  # fmt: skip
    @overload
    def series(
        self, datastream: DatastreamRef, start: TimeLike | None = ..., end: TimeLike | None = ...,
        *, span: str = ..., points: int = ..., max_points: int | None = ..., frame: Literal["polars"],
    ) -> "pl.DataFrame": ...  # fmt: skip
    def series(
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
        """A datastream downsampled for a chart (at least `points` buckets if it has them; `span`
        before `end` when `start` is absent): columns `time`, `value` (the average), `min`, `max`, `count`."""
        document = self._run(queries.series_plan(name_of(datastream), start, end, span, points, max_points))
        return self._frame(document["points"], queries.SERIES_COLUMNS, frame)

    @overload
    def alerts(
        self, datastream: DatastreamRef | None = ..., start: TimeLike | None = ...,
        end: TimeLike | None = ..., *, state: AlertState | None = ..., frame: Literal["pandas"] = ...,
    ) -> "pd.DataFrame": ...  # fmt: skip
    @overload
    def alerts(
        self, datastream: DatastreamRef | None = ..., start: TimeLike | None = ...,
        end: TimeLike | None = ..., *, state: AlertState | None = ..., frame: Literal["polars"],
    ) -> "pl.DataFrame": ...  # fmt: skip
    def alerts(
        self,
        datastream: DatastreamRef | None = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        *,
        state: AlertState | None = None,
        frame: FrameKind = "pandas",
    ) -> "pd.DataFrame | pl.DataFrame":
        """Alert episodes that started in the range (of every datastream when none is named): columns
        `time` (the start), `rule`, `datastream`, `state`, `last`, `closed_at`, `duration_s`, `max`,
        `avg`, `threshold`."""
        name = None if datastream is None else name_of(datastream)
        rows = self._run(queries.alerts_plan(name, state, start, end))
        return self._frame(rows, queries.ALERT_COLUMNS, frame)

    @overload
    def export(
        self, datastream: str, path: None = ..., *, start: TimeLike | None = ..., end: TimeLike | None = ...,
        format: Format = ..., window: Rollup | None = ...,
    ) -> bytes: ...  # fmt: skip
    @overload
    def export(
        self, datastream: str, path: str | Path, *, start: TimeLike | None = ..., end: TimeLike | None = ...,
        format: Format = ..., window: Rollup | None = ...,
    ) -> Path: ...  # fmt: skip
    def export(
        self,
        datastream: str,
        path: str | Path | None = None,
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        format: Format = "csv",
        window: Rollup | None = None,
    ) -> bytes | Path:
        """The readings (or, with `window`, rollups) of every datastream matching `datastream` (a name
        or a glob) as a CSV or Parquet file: written to `path` as it streams in, or returned as bytes."""
        call = queries.export_call(datastream, start, end, format, window)
        if path is None:
            return check(execute(self._http, call, self.give_up_after_s)).content
        target, partial = Path(path), Path(f"{path}.part")
        with self._http.stream(call.method, call.path, params=call.query) as answer:
            if not answer.is_success:
                answer.read()
                check(answer)
            with partial.open("wb") as file:
                for chunk in answer.iter_bytes():
                    file.write(chunk)
        partial.replace(target)  # a failed download leaves no half file under the name asked for
        return target

    # Commands -------------------------------------------------------------------------------------

    def command(
        self,
        device: str,
        action: Action,
        path: str,
        value: Any = None,
        *,
        timeout_s: float = 30.0,
        site: str | None = None,
    ) -> Ticket:
        """Send a command to a device (over MQTT, or LwM2M to a device registered there; see
        `iotstream.client.commands`).

        Args:
            device: The device's id (one MQTT topic level).
            action: `"read"`, `"write"`, `"execute"`, `"discover"`, `"write-attributes"`, `"create"`
                or `"delete"`: LwM2M's operations, which an MQTT device gets by name.
            path: What on the device, e.g. the LwM2M path `"/3311/0/5850"`.
            value: Required for write, write-attributes and create; optional for execute.
            timeout_s: The command expires when the device has not answered by then (at most a day).
            site: The edge site the device belongs to, when it is not this platform's.

        Returns:
            A `Ticket`: `ticket.wait()` returns the final `CommandStatus`.
        """
        ticket = self._run(command_plan(device, action, path, value, timeout_s, site))
        return Ticket(ticket, self._run)

    # Lifecycle ------------------------------------------------------------------------------------

    def close(self, flush_timeout_s: float = 0.0) -> None:
        """Try once more to send the buffered readings (waiting up to `flush_timeout_s`), then close;
        what is left stays in the buffer file for the next client."""
        try:
            if self.disk_buffer is not None and len(self.disk_buffer):
                self._delivery.drain(flush_timeout_s)
        finally:
            self._http.close()
            if self.disk_buffer is not None:
                self.disk_buffer.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

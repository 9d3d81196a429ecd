"""An app's plan as an engine `Job`: the tenant's readings in, the app's datastreams out.

An app reads `observations` and writes its rows back there as readings of its own datastreams,
`apps/<app>/<datastream>` (the input's name, or the `datastream` column the SELECT gives), one per
value column: a column named `value` keeps that name, any other adds `/<column>`. So an app's output
is stored, charted, queried and watched by alert rules like any reading. Apps never read app outputs
(datastreams under `apps/`): an app reading its own output would feed itself forever.

A windowed app's rows are readings at their window's start that also carry the window (start, end,
revision) in the log record; a correction within the allowed lateness is a new revision of the same
reading, which the store keeps instead of the old one.
"""

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from iotstream.log.topics import OBSERVATIONS, REGISTRY_DATASTREAMS
from iotstream.processing.apps.aggregator import AppAggregates
from iotstream.processing.apps.plan import Plan, plan
from iotstream.processing.apps.types import Row
from iotstream.processing.codec import OutputReading
from iotstream.processing.job import IDLE_TIMEOUT_MS, Job
from iotstream.processing.windowing import Event, WindowResult
from iotstream.registry.access.principal import Scope
from iotstream.registry.apps import APPS_PREFIX

__all__ = ["APPS_PREFIX", "AppSpec", "app_job"]

_PLACES = ("datastream", "time", "window_start", "window_end")  # columns that are not values


@dataclass(frozen=True)
class AppSpec:
    """What runs: the tenant's app `name` with its SQL and event-time settings."""

    tenant: str
    name: str
    sql: str
    out_of_orderness_ms: int = 0
    allowed_lateness_ms: int = 0
    version: str = ""  # a digest of the definition: a changed app is a new job (see `roles.apps`)
    idle_timeout_ms: int = IDLE_TIMEOUT_MS

    @property
    def job_name(self) -> str:
        """The engine job (and consumer group `iotstream.job.<job_name>`), apart from `[[jobs]]`."""
        name = f"app.{self.name}" if self.tenant == "default" else f"app.{self.tenant}.{self.name}"
        return f"{name}.{self.version}" if self.version else name

    @property
    def output_prefix(self) -> str:
        """The stream-key prefix of every datastream the app writes."""
        return Scope(self.tenant).key(f"{APPS_PREFIX}{self.name}/")


def app_job(spec: AppSpec) -> Job:
    """The job running `spec`; raises `SqlError` for SQL an app cannot run."""
    compiled = plan(spec.sql)
    rows = _Rows(spec, compiled)
    job = Job(
        spec.job_name,
        sources=[OBSERVATIONS],
        out_of_orderness_ms=spec.out_of_orderness_ms,
        idle_timeout_ms=spec.idle_timeout_ms,
    ).flat_map(rows.own)
    if compiled.registry:
        job = job.join_table(REGISTRY_DATASTREAMS, lambda value, datastream: (value, datastream))
    if compiled.grouping is None:
        return job.flat_map(rows.readings).to(OBSERVATIONS)
    return (
        job.flat_map(rows.into_groups)
        .window(
            compiled.grouping.windows,
            AppAggregates(compiled.aggregates),
            allowed_lateness_ms=spec.allowed_lateness_ms,
        )
        .flat_map(rows.window_readings)
        .to(OBSERVATIONS)
    )


class _Rows:
    """Readings into rows, rows into the app's readings."""

    def __init__(self, spec: AppSpec, compiled: Plan) -> None:
        self._scope = Scope(spec.tenant)
        self._compiled = compiled
        self._prefix = f"{APPS_PREFIX}{spec.name}"
        self._registry = compiled.registry
        self._where = compiled.where
        values = [o.name for o in compiled.outputs if o.name not in _PLACES]
        self._suffixes = {name: "" if name == "value" else f"/{name}" for name in values}
        # Worked out once per datastream or group, not per reading:
        self._names: dict[str, str | None] = {}  # stream key → the tenant's name (None: not the app's)
        self._group_keys: dict[tuple[Any, ...], str] = {}  # group → the window's key
        grouping = compiled.grouping
        self._group_by = [compute for _, compute in grouping.keys] if grouping else []
        self._arguments = [a.argument or _count_row for a in grouping.aggregates] if grouping else []

    def own(self, event: Event) -> tuple[Event, ...]:
        """The tenant's readings, minus every app's output; each key is judged once."""
        key = event[0]
        if key in self._names:
            name = self._names[key]
        else:
            name = self._scope.name(key)
            name = None if name is None or name.startswith(APPS_PREFIX) else name
            _bound(self._names)
            self._names[key] = name
        return () if name is None else (event,)

    def _row(self, event: Event) -> Row | None:
        """The reading's row (of a datastream `own` kept), or None when WHERE does not keep it."""
        key, value, time_ms = event
        datastream = self._names.get(key) or self._scope.name(key)  # a cleared cache: worked out again
        if self._registry:
            value, document = value
            row = {"datastream": datastream, "time": time_ms, "value": value, **_registry_columns(document)}
        else:
            row = {"datastream": datastream, "time": time_ms, "value": value}
        return row if self._where is None or self._where(row) is True else None

    def readings(self, event: Event) -> list[Event]:
        row = self._row(event)
        if row is None:
            return []
        columns = {output.name: output.compute(row) for output in self._compiled.outputs}
        time_ms = columns.get("time", row["time"])
        if type(time_ms) is not int or time_ms < 0:
            raise ValueError(f"the time column must be epoch milliseconds, got {time_ms!r}")
        return list(self._readings(columns, row["datastream"], OutputReading, time_ms))

    def into_groups(self, event: Event) -> tuple[Event, ...]:
        row = self._row(event)
        if row is None:
            return ()
        group = tuple([compute(row) for compute in self._group_by])
        key = self._group_keys.get(group)
        if key is None:
            name = "/".join(_text(part) for part in group)
            key = self._group_keys[group] = self._scope.key(
                f"{self._prefix}/{name}" if name else self._prefix
            )
            _bound(self._group_keys)
        return ((key, (group, [argument(row) for argument in self._arguments]), row["time"]),)

    def window_readings(self, event: Event) -> Iterator[Event]:
        result = event[1]
        assert isinstance(result, WindowResult)  # noqa: S101 - the window step's output
        grouping = self._compiled.grouping
        assert grouping is not None  # noqa: S101
        group, values = result.value
        row = grouping.row(tuple(group), result.start_ms, result.end_ms, values)
        if grouping.having is not None and grouping.having(row) is not True:
            return
        columns = {output.name: output.compute(row) for output in self._compiled.outputs}
        name = "/".join(_text(part) for part in group)

        def windowed(value: Any) -> OutputReading:
            return OutputReading(value, result.start_ms, result.end_ms, result.revision, result.replaces)

        yield from self._readings(columns, name or None, windowed, result.start_ms)

    def _readings(
        self, columns: dict[str, Any], default: str | None, wrap: Callable[[Any], Any], time_ms: int
    ) -> Iterator[Event]:
        datastream = columns.get("datastream", default)
        if "datastream" in columns and (type(datastream) is not str or not datastream):
            raise ValueError(f"the datastream column must be a non-empty string, got {datastream!r}")
        base = self._prefix if datastream is None else f"{self._prefix}/{datastream}"
        for column, suffix in self._suffixes.items():
            value = columns[column]
            if value is None or (type(value) is float and not math.isfinite(value)):
                continue  # no reading: NULL is "no value", and a reading always has one
            yield self._scope.key(base + suffix), wrap(value), time_ms


_CACHED = 65_536


def _bound(cache: dict[Any, Any]) -> None:
    """Start over when a cache outgrows its purpose (a GROUP BY of a column with endless values)."""
    if len(cache) > _CACHED:
        cache.clear()


def _count_row(row: Row) -> int:
    """COUNT(*)'s argument: every row counts."""
    return 1


def _registry_columns(document: Any) -> dict[str, Any]:
    """thing, location and unit of a Datastream's registry record (NULL when it has none)."""
    if not isinstance(document, dict):
        return {"thing": None, "location": None, "unit": None}
    thing = document.get("Thing") or {}
    places = thing.get("Locations") or [{}]
    unit = document.get("unitOfMeasurement") or {}
    return {
        "thing": thing.get("name"),
        "location": places[0].get("name"),
        "unit": unit.get("symbol") if isinstance(unit, dict) else None,
    }


def _text(value: Any) -> str:
    return "null" if value is None else str(value)

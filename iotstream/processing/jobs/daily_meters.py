"""The smart-home meter job: daily aggregates, day-to-day meter differences and the leakage rest.

AggDay is a daily window per datastream. The derived values need several datastreams at once (a
meter and its submeters), which may live on different partitions, so the day results are also
re-keyed by the job's name onto one partition of `jobs.<name>.days` (Kafka Streams would call it a
repartition topic), where a second job keeps the recent days of every meter and submeter and emits

- `M.diff` for day d: AggDay(M, d) - AggDay(M, d - 1), none for the first day;
- `M.rest` for day d: `M.diff`(d) - Σ AggDay(submeter, d), once every submeter has day d.

A late reading within the allowed lateness corrects its AggDay, which arrives here again and
recomputes every derived value that depends on it (the day's and the next day's difference and rest).
"""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from iotstream._units import DurationMs
from iotstream.processing.job import IDLE_TIMEOUT_HELP, IDLE_TIMEOUT_MS, Job
from iotstream.processing.jobs._rules import job_name
from iotstream.processing.windowing import Event, WindowResult
from iotstream.processing.windows import Daily
from iotstream.registry.access.principal import DEFAULT_TENANT, Scope, check_name, owner_of

__all__ = ["AGGREGATES", "DailyMetersSettings", "MeterSettings", "daily_meter_jobs"]

AGGREGATES = "aggregates.1d"
Aggregate = Literal["avg", "sum", "min", "max", "count", "first", "last"]
_DAY_MS = 86_400_000


class MeterSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    submeters: list[str] = Field(
        default_factory=list,
        description="Datastreams behind this meter: their daily values are subtracted from its daily "
        "difference to give `<meter>.rest` (the leakage); each needs an `aggregate` entry.",
    )


class DailyMetersSettings(BaseModel):
    """One `[[jobs]]` table with `type = "daily_meters"`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["daily_meters"] = Field(
        description='"daily_meters": daily aggregates, day-to-day meter differences and leakage rests.'
    )
    name: str = Field(
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="The job's name, unique within its tenant: its jobs, consumer groups and "
        "`jobs.<name>.days` topic are named after it.",
    )
    timezone: str = Field(
        default="UTC", description="The IANA time zone (Europe/Berlin) whose local midnights bound the days."
    )
    out_of_orderness: DurationMs = Field(
        default=0,
        description="How far (event time) the watermark trails the newest reading: readings this much out "
        "of order still count, and each day's result waits this long past its end.",
    )
    allowed_lateness: DurationMs = Field(
        default=0,
        description="How far past a day's end the watermark may be while a late reading still corrects its "
        "aggregate and the differences and rests derived from it; a later one goes to `observations.late`.",
    )
    idle_timeout: DurationMs = Field(default=IDLE_TIMEOUT_MS, gt=0, description=IDLE_TIMEOUT_HELP)
    aggregate: dict[str, Aggregate] = Field(
        description="The datastreams aggregated per day (into `aggregates.1d`), each with the statistic "
        "that is its daily value (avg, sum, min, max, count, first or last), as meters and the API use it.",
    )
    meters: dict[str, MeterSettings] = Field(
        default_factory=dict,
        description="Meters by datastream: each gets `<meter>.diff`, its daily value minus the day "
        "before's, and with `submeters` also `<meter>.rest`.",
    )
    tenant: str = Field(
        default=DEFAULT_TENANT, description="Whose datastreams the names are; its own are all a job sees."
    )

    _tenant = field_validator("tenant")(lambda cls, name: check_name("tenant", name))

    def keyed(self) -> "DailyMetersSettings":
        """These settings with every datastream named by its stream key (the tenant's prefix added)."""
        key = Scope(self.tenant).key
        meters = {
            key(meter): MeterSettings(submeters=[key(sub) for sub in spec.submeters])
            for meter, spec in self.meters.items()
        }
        aggregate = {key(name): kind for name, kind in self.aggregate.items()}
        return self.model_copy(update={"aggregate": aggregate, "meters": meters})

    @model_validator(mode="after")
    def _meters_are_aggregated(self) -> "DailyMetersSettings":
        for meter, spec in self.meters.items():
            missing = [name for name in [meter, *spec.submeters] if name not in self.aggregate]
            if missing:
                raise ValueError(
                    f"meter {meter!r} needs a daily aggregate of {', '.join(map(repr, missing))}; "
                    "add them to `aggregate`"
                )
        return self

    @property
    def days_topic(self) -> str:
        return f"jobs.{self.job_name}.days"

    @property
    def job_name(self) -> str:
        """Unique among every tenant's jobs: a tenant's is run as `<tenant>.<name>`."""
        return job_name(self.tenant, self.name)

    def value_of(self, key: str) -> Aggregate | None:
        """Which aggregate is "the" daily value of the datastream with stream key `key` (derived ones
        have just one)."""
        tenant, datastream = owner_of(key)
        if tenant != self.tenant:
            return None
        if datastream in self.aggregate:
            return self.aggregate[datastream]
        meter, _, kind = datastream.rpartition(".")
        return "sum" if meter in self.meters and kind in ("diff", "rest") else None


def daily_meter_jobs(settings: DailyMetersSettings) -> list[Job]:
    """The AggDay job and the job deriving differences and leakage from its results."""
    settings = settings.keyed()
    wanted = frozenset(settings.aggregate)
    name = settings.job_name
    days = (
        Job(
            name,
            sources=["observations"],
            out_of_orderness_ms=settings.out_of_orderness,
            idle_timeout_ms=settings.idle_timeout,
            counted=wanted.__contains__,
        )
        .flat_map(lambda event: (event,) if event[0] in wanted else ())
        .window(Daily(settings.timezone), allowed_lateness_ms=settings.allowed_lateness)
        .to(AGGREGATES)
        .key_by(lambda _: name)
        .to(settings.days_topic)
    )
    derived = (
        Job(f"{name}.meters", sources=[settings.days_topic]).process(_Derivation(settings)).to(AGGREGATES)
    )
    return [days, derived]


class _Derivation:
    """The `process` function of the second job; its state is plain dicts, so it checkpoints as is.

    State: `days[datastream][start] = [end, value]`, `emitted[datastream][start] = [revision, value]`.
    """

    def __init__(self, settings: DailyMetersSettings) -> None:
        self._settings = settings
        self._meters_of: dict[str, list[str]] = {}
        for meter, spec in settings.meters.items():
            for datastream in [meter, *spec.submeters]:
                self._meters_of.setdefault(datastream, []).append(meter)
        self._keep_ms = settings.allowed_lateness + 3 * _DAY_MS

    def __call__(self, state: dict[str, Any] | None, event: Event) -> tuple[dict[str, Any], list[Event]]:
        state = state or {"days": {}, "emitted": {}}
        day = event[1]
        datastream, start, end = str(day["key"]), int(day["start"]), int(day["end"])
        aggregate = self._settings.aggregate.get(datastream)
        if aggregate is None or datastream not in self._meters_of:
            return state, []
        state["days"].setdefault(datastream, {})[start] = [end, day.get(aggregate)]
        out: list[Event] = []
        for meter in self._meters_of[datastream]:
            for day_start in self._affected(state, meter, datastream, start, end):
                out += self._derive(state, meter, day_start)
        self._forget_old_days(state, end)
        return state, out

    def _affected(
        self, state: dict[str, Any], meter: str, datastream: str, start: int, end: int
    ) -> list[int]:
        """The meter's days whose derived values may change: this one, and the next for a meter."""
        if datastream != meter:
            return [start]
        return [start, end] if end in state["days"].get(meter, {}) else [start]

    def _derive(self, state: dict[str, Any], meter: str, start: int) -> list[Event]:
        days = state["days"]
        today = days.get(meter, {}).get(start)
        yesterday = next((v for s, (e, v) in days.get(meter, {}).items() if e == start and s < start), None)
        if today is None or yesterday is None or today[1] is None:
            return []
        end, diff = today[0], today[1] - yesterday
        out = self._emit(state, f"{meter}.diff", start, end, diff)
        parts = [days.get(sub, {}).get(start) for sub in self._settings.meters[meter].submeters]
        if all(part is not None and part[1] is not None for part in parts):
            rest = diff - sum(part[1] for part in parts)
            out += self._emit(state, f"{meter}.rest", start, end, rest)
        return out

    def _emit(
        self, state: dict[str, Any], datastream: str, start: int, end: int, value: float
    ) -> list[Event]:
        emitted = state["emitted"].setdefault(datastream, {})
        previous = emitted.get(start)
        if previous is not None and previous[1] == value:
            return []
        revision = 0 if previous is None else previous[0] + 1
        emitted[start] = [revision, value]
        stats = {
            "count": 1,
            "sum": value,
            "min": value,
            "max": value,
            "avg": value,
            "first": value,
            "last": value,
        }
        result = WindowResult(datastream, "1d", start, end, stats, revision)
        return [(datastream, result, end - 1)]

    def _forget_old_days(self, state: dict[str, Any], newest_end: int) -> None:
        horizon = newest_end - self._keep_ms
        for table in (state["days"], state["emitted"]):
            for by_start in table.values():
                for start in [s for s in by_start if s < horizon]:
                    del by_start[start]

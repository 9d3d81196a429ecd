"""Event-time joins of two streams of readings (`[[jobs]] type = "join"`).

The tenant's datastreams matching `left` form the left stream, those matching `right` the right one; a
datastream matching both is in both, and a reading never pairs with itself. Identical readings (same
datastream, time and value) count once. Modes:

- `neighbours` (the Digital Twin Platform's TimeSeriesJoiner): each reading of either stream pairs with
  its nearest predecessor and its nearest successor in the other stream: every reading of the other
  stream at the latest time at or before its own, and at the earliest time at or after it. A reading of
  the other stream at the very same time is both, so one pair; a pair found from both sides is one pair.
- `within`: every (left, right) pair at most `tolerance` apart.
- `asof`: each left reading with the right readings at the latest time at or before its own (SQL's inner
  ASOF JOIN: no such right reading, no pair).

Two jobs, because a datastream of either stream may be on any partition of `observations`. The first,
named like the join, judges lateness as every job does, per partition: it holds a reading until the
partition's watermark passes it, sends one later than that by more than `allowed_lateness` to the late
topic, and passes one within it on as a correction. It passes each datastream's readings on in time order
and numbered, onto the one partition of `jobs.<job>.sides`. The second (`<job>.pairs`) keeps the readings
that may still pair. Its frontier is the earliest "passed on up to" time of the datastreams that sent
something within `idle_timeout` (processing time), so one partition racing ahead of another cannot make
the other's readings look late, and a silent datastream stops holding the join back (when all are silent,
the latest counts). A pair is final, and emitted once, when the frontier is past the later of its two
times (a datastream not seen yet may still bring a reading at the frontier itself). A correction joins
the readings still held: its pairs are emitted; a pair emitted earlier that it would have prevented (it
is nearer, or a later ASOF match) is not withdrawn. A reading reaching the second job behind the frontier
by more than the allowed lateness (its datastream was idle, or is new while another partition ran ahead)
cannot be paired correctly and goes to the dead-letter topic with the reason.
"""

import fnmatch
import time
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from iotstream._units import DurationMs
from iotstream.log.topics import OBSERVATIONS
from iotstream.processing.aggregations import Aggregator
from iotstream.processing.job import IDLE_TIMEOUT_HELP, IDLE_TIMEOUT_MS, Job
from iotstream.processing.jobs._join_pairs import Join, canonical, pairing
from iotstream.processing.jobs._rules import job_name
from iotstream.processing.windowing import Event
from iotstream.processing.windows import Tumbling
from iotstream.registry.access.principal import DEFAULT_TENANT, Scope, check_name, owner_of

__all__ = ["JoinSettings", "join_jobs"]

Mode = Literal["neighbours", "within", "asof"]


class JoinSettings(BaseModel):
    """One `[[jobs]]` table with `type = "join"`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["join"] = Field(description='"join": an event-time join of two streams of readings.')
    name: str = Field(
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="The join's name, unique within its tenant: its jobs (`<name>`, `<name>.pairs`) and "
        "topics (`jobs.<name>.sides`, `jobs.<name>.out`) are named after it.",
    )
    tenant: str = Field(default=DEFAULT_TENANT, description="Whose datastreams the names are.")
    left: list[str] = Field(min_length=1, description="Names or glob patterns of the left stream.")
    right: list[str] = Field(min_length=1, description="Names or glob patterns of the right stream.")
    mode: Mode = Field(
        description="How readings pair: `neighbours` (each with the other stream's nearest before and "
        "after), `within` (every pair at most `tolerance` apart), `asof` (each left with the latest right "
        "at or before it).",
    )
    tolerance: DurationMs | None = Field(default=None, description="`within`: the most a pair is apart.")
    out_of_orderness: DurationMs = Field(
        default=0,
        ge=0,
        description="How far (event time) the watermark trails the newest reading: readings this much out "
        "of order are still paired in time order; pairs come that much later.",
    )
    allowed_lateness: DurationMs = Field(
        default=0,
        ge=0,
        description="How far behind the watermark a reading may arrive and still be paired, as a "
        "correction (pairs already emitted stay); a later one goes to `observations.late`.",
    )
    idle_timeout: DurationMs = Field(default=IDLE_TIMEOUT_MS, gt=0, description=IDLE_TIMEOUT_HELP)
    datastream: str | None = Field(
        default=None, min_length=1, description="Also write the pairs as readings of this datastream."
    )

    _tenant = field_validator("tenant")(lambda cls, name: check_name("tenant", name))

    @model_validator(mode="after")
    def _tolerance_for_within_only(self) -> "JoinSettings":
        if self.mode == "within" and self.tolerance is None:
            raise ValueError(
                f'join {self.name!r}: mode "within" needs `tolerance`, how far apart a pair may be'
                ' (such as "5s")'
            )
        if self.mode != "within" and self.tolerance is not None:
            raise ValueError(
                f'join {self.name!r}: `tolerance` is for mode "within" only; mode "{self.mode}" pairs'
                " nearest readings, however far apart"
            )
        if self.tolerance is not None and self.tolerance < 0:
            raise ValueError(f"join {self.name!r}: `tolerance` must not be negative")
        return self

    @model_validator(mode="after")
    def _output_is_not_an_input(self) -> "JoinSettings":
        if self.datastream is None:
            return self
        Scope(self.tenant).key(self.datastream)  # raises for a name the tenant may not use
        for side in ("left", "right"):
            for pattern in getattr(self, side):
                if fnmatch.fnmatchcase(self.datastream, pattern):
                    raise ValueError(
                        f"join {self.name!r}: its datastream {self.datastream!r} matches the {side}"
                        f" pattern {pattern!r}, so the join would read its own pairs; name it apart"
                    )
        return self

    @property
    def job_name(self) -> str:
        """Unique among every tenant's jobs: a tenant's join is run as `<tenant>.<name>`."""
        return job_name(self.tenant, self.name)

    @property
    def sides_topic(self) -> str:
        return f"jobs.{self.job_name}.sides"

    @property
    def out_topic(self) -> str:
        return f"jobs.{self.job_name}.out"

    def value_of(self, datastream: str) -> None:
        """No daily aggregate: a join's outputs are pairs."""
        return None

    def sides_of(self, key: str) -> tuple[bool, bool]:
        """Whether the datastream with stream key `key` is in the left stream, and in the right one."""
        tenant, name = owner_of(key)
        if tenant != self.tenant:
            return False, False
        return _matches(name, self.left), _matches(name, self.right)


def _matches(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def join_jobs(settings: JoinSettings, clock: Callable[[], float] = time.time) -> list[Job]:
    """The job passing each datastream's readings on in time order, and the job pairing them;
    `clock` (wall-clock epoch seconds) says which datastreams are idle."""
    name, sides = settings.job_name, _Sides(settings)
    ordered = (
        Job(
            name,
            sources=[OBSERVATIONS],
            out_of_orderness_ms=settings.out_of_orderness,
            idle_timeout_ms=settings.idle_timeout,
            counted=lambda key: any(sides(key)),
        )
        .flat_map(lambda event: (event,) if any(sides(event[0])) else ())
        # One window per datastream and millisecond: the engine's watermark, lateness and late output
        # as every job has them, and the readings released in time order.
        .window(Tumbling(1, name="join"), _Collect(), allowed_lateness_ms=settings.allowed_lateness)
        .process(_numbered(name))
        .to(settings.sides_topic)
    )
    join = Join(
        name,
        pairing(settings.mode, settings.tolerance),
        settings.allowed_lateness,
        settings.idle_timeout,
        sides,
        clock,
    )
    pairs = (
        Job(f"{name}.pairs", sources=[settings.sides_topic], idle_timeout_ms=settings.idle_timeout)
        .process(join.on_slice, timer=join.due, on_timer=join.on_timer)
        .to(settings.out_topic)
    )
    if settings.datastream is not None:
        readings = _AsReadings(Scope(settings.tenant).key(settings.datastream), settings.allowed_lateness)
        pairs = pairs.process(readings.add, timer=readings.due, on_timer=readings.flush).to(OBSERVATIONS)
    return [ordered, pairs]


class _Sides:
    """`settings.sides_of`, each stream key matched against the patterns once."""

    def __init__(self, settings: JoinSettings) -> None:
        self._settings = settings
        self._known: dict[str, tuple[bool, bool]] = {}

    def __call__(self, key: str) -> tuple[bool, bool]:
        sides = self._known.get(key)
        if sides is None:
            sides = self._known[key] = self._settings.sides_of(key)
        return sides


class _Collect(Aggregator[list[Any], list[Any]]):
    """The distinct values of one datastream in one millisecond."""

    def init(self) -> list[Any]:
        return []

    def add(self, acc: list[Any], value: Any, timestamp_ms: int) -> list[Any]:
        if canonical(value) not in map(canonical, acc):
            acc.append(value)
        return acc

    def merge(self, a: list[Any], b: list[Any]) -> list[Any]:
        for value in b:
            a = self.add(a, value, 0)
        return a

    def result(self, acc: list[Any]) -> list[Any]:
        return list(acc)


def _numbered(name: str) -> Callable[[int | None, Event], tuple[int, list[Event]]]:
    """Number each datastream's slices: the first job repeats what it passed on after its last
    checkpoint when it restarts, and the numbers, restored with its state, let the second job skip those."""

    def number(count: int | None, event: Event) -> tuple[int, list[Event]]:
        count = (count or 0) + 1
        body = {"datastream": event[0], "values": event[1].value, "seq": count}
        return count, [(name, body, event[2])]

    return number


class _AsReadings:
    """The pairs as readings of the join's datastream. A store keeps one reading per datastream and
    time, so the reading at time T holds every pair of time T, and is written again, whole, when a
    correction adds one. Pairs gather until the end of the batch (a timer always due), so a reading
    that pairs with many is written once, not once per pair.

    State: `at[T]` = the pairs of time T by their canonical JSON, `pending` = times to write.
    """

    def __init__(self, key: str, lateness_ms: int) -> None:
        self._key = key
        self._lateness = lateness_ms

    def add(self, state: dict[str, Any] | None, event: Event) -> tuple[dict[str, Any], list[Event]]:
        state = state or {"at": {}, "pending": []}
        pair, time_ms = event[1], event[2]
        state["at"].setdefault(time_ms, {})[canonical(pair)] = pair
        if time_ms not in state["pending"]:
            state["pending"].append(time_ms)
        return state, []

    def due(self, state: dict[str, Any] | None) -> int | None:
        return 0 if state is not None and state["pending"] else None

    def flush(self, state: dict[str, Any], key: str, now_ms: int) -> tuple[dict[str, Any], list[Event]]:
        at = state["at"]
        out = [(self._key, [at[t][k] for k in sorted(at[t])], t) for t in sorted(state["pending"])]
        # A correction's pairs are no older than the newest time minus the allowed lateness.
        horizon = max(at) - self._lateness
        for time_ms in [t for t in at if t < horizon]:
            del at[time_ms]
        return {"at": at, "pending": []}, out

"""Threshold alerts with hysteresis, on event time (`[[jobs]] type = "threshold"`).

Per datastream, in event-time order (each datastream's readings wait out the out-of-orderness
against its own newest reading, so disorder within it gives the same episodes, and other datastreams'
clocks neither hold them back nor make them late): an episode opens at the first reading strictly
beyond the threshold, stays open while readings are not strictly back past threshold ∓ hysteresis, and
closes at the first reading that is. With `min_duration` it is announced only once it has lasted that
long; a shorter one is dropped. Each announced reading emits an event — "open", then "update" per
reading that keeps it open, then "close" — carrying the whole episode, to the `alerts` topic, where the
storage sink keeps the latest state per (rule, datastream, start).

`avg` is time-weighted: readings joined by straight lines (the trapezoid rule), so every reading counts
and uneven sampling does not skew it; an episode of one instant averages its readings. For a `below`
rule `max` is the most extreme reading, the lowest.

With `unit` (degC, degF or K) a rule compares temperatures from datastreams declared in any of them:
each reading is converted from the unit its Datastream declares in the registry, and the episode's
values are in the rule's unit (see `_temperature`).
"""

from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from iotstream._units import DurationMs
from iotstream.log.topics import ALERTS, OBSERVATIONS, REGISTRY_DATASTREAMS
from iotstream.processing.job import IDLE_TIMEOUT_HELP, IDLE_TIMEOUT_MS, Job
from iotstream.processing.jobs._rules import RuleSettings, watched_only
from iotstream.processing.jobs._temperature import SYMBOLS, canonical_unit, declared_unit, to_unit
from iotstream.processing.windowing import Event

__all__ = ["ThresholdSettings", "episode_ends", "episode_step", "threshold_job"]


class ThresholdSettings(RuleSettings):
    """One `[[jobs]]` table with `type = "threshold"`."""

    type: Literal["threshold"] = Field(description='"threshold": alerts while readings are beyond a value.')
    above: float | None = Field(
        default=None,
        description="An episode opens at a reading strictly above this value; give this or `below`.",
    )
    below: float | None = Field(
        default=None,
        description="An episode opens at a reading strictly below this value; give this or `above`.",
    )
    hysteresis: float = Field(
        default=0.0,
        ge=0,
        description="How far back past the threshold a reading must be to close an episode (below "
        "`above` - hysteresis, above `below` + hysteresis), so noise near it does not flap.",
    )
    min_duration: DurationMs = Field(
        default=0,
        description="An episode is announced only once its readings span this long (event time); a "
        "shorter one is dropped. 0: at its first reading.",
    )
    out_of_orderness: DurationMs = Field(
        default=0,
        description="How long (event time) each datastream's readings wait for earlier ones arriving out "
        "of order; alerts come that much later, and a reading behind what was released goes to "
        "`observations.late`.",
    )
    idle_timeout: DurationMs = Field(default=IDLE_TIMEOUT_MS, gt=0, description=IDLE_TIMEOUT_HELP)
    unit: str | None = Field(
        default=None,
        description="degC, degF or K (or °C, Fahrenheit, ...): compare temperatures in this unit,"
        " converting each datastream's readings from the unit it declares in the registry.",
    )

    @field_validator("unit")
    @classmethod
    def _temperature(cls, unit: str | None) -> str | None:
        if unit is not None and canonical_unit(unit) is None:
            raise ValueError(f"unit {unit!r} is not a temperature unit; use degC, degF or K")
        return None if unit is None else canonical_unit(unit)

    @model_validator(mode="after")
    def _one_direction(self) -> "ThresholdSettings":
        if (self.above is None) == (self.below is None):
            raise ValueError(f"threshold job {self.name!r} needs exactly one of `above` and `below`")
        return self

    @property
    def threshold(self) -> float:
        return self.above if self.above is not None else self.below  # type: ignore[return-value]


def threshold_job(settings: ThresholdSettings) -> Job:
    job = Job(
        settings.job_name,
        sources=[OBSERVATIONS],
        counted=settings.watches,
        out_of_orderness_ms=settings.out_of_orderness,
        idle_timeout_ms=settings.idle_timeout,
    )
    job = job.flat_map(watched_only(settings))
    if settings.unit is not None:
        job = job.join_table(REGISTRY_DATASTREAMS, _converter(settings.unit))
    return (
        job.in_order(per_key=True)
        .process(lambda state, event: episode_step(settings, state, event))
        .to(ALERTS)
    )


def _converter(unit: str) -> Callable[[Any, Any], Any]:
    """Readings into the rule's unit, from the unit their Datastream declares (none: the rule's)."""

    def convert(value: Any, datastream: Any) -> Any:
        source = declared_unit(datastream)
        if source is None or source == unit or type(value) not in (int, float):
            return value  # not a number: the episode step rejects it with the reason
        return to_unit(float(value), source, unit)

    return convert


def episode_ends(settings: ThresholdSettings, datastreams: dict[str, Any]) -> Callable[[str, Any], bool]:
    """Whether a reading (datastream, value) leaves no episode open, whatever came before it: strictly
    back past threshold ∓ hysteresis closes one and opens none. A recomputation starts and stops
    replaying a datastream at such readings, so every episode it gives is whole. `datastreams`: the
    registry table, for a rule's unit conversion."""
    sign = 1.0 if settings.above is not None else -1.0
    limit = sign * settings.threshold - settings.hysteresis
    convert = _converter(settings.unit) if settings.unit is not None else None

    def ends(datastream: str, value: Any) -> bool:
        if type(value) not in (int, float):
            return False  # refused by the episode step: it changes nothing
        if convert is not None:
            try:
                value = convert(value, datastreams.get(datastream))
            except ValueError:  # the Datastream declares no temperature: its readings are refused too
                return False
        return bool(sign * float(value) < limit)

    return ends


def episode_step(settings: ThresholdSettings, state: Any, event: Event) -> tuple[Any, list[Event]]:
    """The next state of one datastream's episode (None: no episode) and the alert events it emits.

    Values are mirrored for a `below` rule, so one set of comparisons serves both directions.
    """
    datastream, value, time_ms = event
    if type(value) not in (int, float):
        raise ValueError(f"threshold rules need numbers, got {type(value).__name__}")
    sign = 1.0 if settings.above is not None else -1.0
    value, limit = sign * float(value), sign * settings.threshold
    if state is None:
        if value <= limit:
            return None, []
        state = {"start": time_ms, "last": time_ms, "max": value, "area": 0.0, "sum": value, "n": 1}
        state |= {"previous": value, "open": False}
    elif value < limit - settings.hysteresis:
        closing = [_alert(settings, datastream, state, sign, "close", time_ms)] if state["open"] else []
        return None, closing
    else:
        state = _extended(state, value, time_ms)
    if state["open"]:
        return state, [_alert(settings, datastream, state, sign, "update", None)]
    if state["last"] - state["start"] >= settings.min_duration:
        state["open"] = True
        return state, [_alert(settings, datastream, state, sign, "open", None)]
    return state, []


def _extended(state: dict[str, Any], value: float, time_ms: int) -> dict[str, Any]:
    elapsed = time_ms - state["last"]
    return state | {
        "last": time_ms,
        "max": max(state["max"], value),
        "area": state["area"] + (state["previous"] + value) / 2 * elapsed,
        "sum": state["sum"] + value,
        "n": state["n"] + 1,
        "previous": value,
    }


def _alert(
    settings: ThresholdSettings,
    datastream: str,
    state: dict[str, Any],
    sign: float,
    kind: str,
    closed_at: int | None,
) -> Event:
    duration_ms = state["last"] - state["start"]
    avg = state["area"] / duration_ms if duration_ms else state["sum"] / state["n"]
    document = {
        "rule": settings.name,
        "kind": "threshold",
        "datastream": datastream,
        "event": kind,
        "state": "closed" if kind == "close" else "open",
        "start": state["start"],
        "last": state["last"],
        "duration_s": duration_ms / 1000,
        "max": sign * state["max"],
        "avg": sign * avg,
        "threshold": settings.threshold,
        "direction": "above" if sign > 0 else "below",
        "hysteresis": settings.hysteresis,
        "unit": None if settings.unit is None else SYMBOLS[settings.unit],
        "closed_at": closed_at,
    }
    return datastream, document, state["last"] if closed_at is None else closed_at

"""Staleness alerts (`[[jobs]] type = "staleness"`): a datastream silent for `after` opens an alert; its
next reading closes it.

Silence is measured in processing time — how long since iotstream last *received* something — since
what matters is that the device stopped talking, whatever its clock says. It counts only while the job
runs: after a restart, each datastream gets `after` to speak again before it is called silent, so
downtime of the platform itself raises no alarms. Only datastreams that have sent at least once since
the rule was configured are watched.

An episode's `start` is the time of the last reading before the silence, `last` the latest moment it
was known to be silent (when it was detected; when it ended), `closed_at` the time of the reading that
ended it, and `threshold` the configured silence in seconds.
"""

import time
from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field

from iotstream._units import DurationMs
from iotstream.log.topics import ALERTS, OBSERVATIONS
from iotstream.processing.job import Job
from iotstream.processing.jobs._rules import RuleSettings, watched_only
from iotstream.processing.windowing import Event

__all__ = ["StalenessRule", "StalenessSettings", "staleness_job"]


class StalenessSettings(RuleSettings):
    """One `[[jobs]]` table with `type = "staleness"`."""

    type: Literal["staleness"] = Field(description='"staleness": an alert while a datastream is silent.')
    after: DurationMs = Field(gt=0, description="Silence that opens an alert, such as 15m.")


class StalenessRule:
    """The per-datastream logic, as `process` callbacks; `clock` is wall-clock epoch seconds."""

    def __init__(self, settings: StalenessSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._clock = clock
        self._started_ms = int(clock() * 1000)

    def on_reading(self, state: Any, event: Event) -> tuple[Any, list[Event]]:
        datastream, _, time_ms = event
        heard = {"heard": int(self._clock() * 1000), "open": False}
        if state is None:
            return heard | {"last": time_ms}, []
        if not state["open"]:
            return state | heard | {"last": max(state["last"], time_ms)}, []
        close = self._alert(datastream, state["last"], time_ms, "close") | {"closed_at": time_ms}
        return heard | {"last": time_ms}, [(datastream, close, time_ms)]

    def due(self, state: Any) -> int | None:
        """When a silent datastream counts as stale: `after` past the later of its last reading's
        arrival and the job's start."""
        if state is None or state["open"]:
            return None
        return max(int(state["heard"]), self._started_ms) + self.settings.after

    def on_silence(self, state: Any, datastream: str, now_ms: int) -> tuple[Any, list[Event]]:
        alert = self._alert(datastream, state["last"], now_ms, "open")
        return state | {"open": True}, [(datastream, alert, now_ms)]

    def _alert(self, datastream: str, start: int, last: int, kind: str) -> dict[str, Any]:
        return {
            "rule": self.settings.name,
            "kind": "staleness",
            "datastream": datastream,
            "event": kind,
            "state": "closed" if kind == "close" else "open",
            "start": start,
            "last": last,
            "duration_s": (last - start) / 1000,
            "max": None,
            "avg": None,
            "threshold": self.settings.after / 1000,
            "closed_at": None,
        }


def staleness_job(settings: StalenessSettings, clock: Callable[[], float] = time.time) -> Job:
    rule = StalenessRule(settings, clock)
    return (
        Job(settings.job_name, sources=[OBSERVATIONS])
        .flat_map(watched_only(settings))
        .process(rule.on_reading, timer=rule.due, on_timer=rule.on_silence)
        .to(ALERTS)
    )

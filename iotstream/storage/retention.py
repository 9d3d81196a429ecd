"""Retention tiers: how long raw readings and each rollup are kept, by default or per datastream.
Every tier is kept forever until a user configures one: history is data.

Rollups are recomputed from the next finer tier whenever data arrives, so a finer tier must still hold
every bucket that new data can touch. Two rules guarantee it: readings older than the raw horizon are
refused (as InfluxDB refuses points outside its retention policy; ingestion refuses them at once, with
the reason, so nothing is accepted and dropped later), and every cutoff falls on a UTC
midnight, so the day, hour and minute buckets a new reading touches are always complete below it. That
is also why the tiers must not shrink from fine to coarse (raw ≤ 1m ≤ 1h ≤ 1d).
"""

import fnmatch
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, NamedTuple

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from iotstream._units import DurationMs, parse_duration_ms
from iotstream.storage.exceptions import StorageError

__all__ = ["DAY_MS", "TIERS", "Deletion", "RetentionPolicy", "RetentionSettings", "RetentionWorker"]

_log = logging.getLogger(__name__)

TIERS = ("raw", "1m", "1h", "1d")
DAY_MS = 86_400_000


def _keep(value: Any) -> int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("forever", "inf", "")):
        return None
    keep = parse_duration_ms(value)
    if keep <= 0:
        raise ValueError(f"{value!r}: a tier must be kept for a positive time, or 'forever'")
    return keep


Keep = Annotated[int | None, BeforeValidator(_keep)]
_FIELDS = {"raw": "raw", "1m": "minute", "1h": "hour", "1d": "day"}


class TierKeep(BaseModel):
    """How long each tier is kept (milliseconds; None = forever). In TOML: `raw = "7d"`, `"1m" = "90d"`."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    # History is data: nothing is deleted until a user configures a tier (as in FROST and ThingsBoard).
    raw: Keep = Field(
        default=None,
        description='How long raw readings are kept, such as "7d"; unset or "forever": always. Readings '
        "before the horizon (now minus this, rounded down to a UTC midnight) are refused at ingestion.",
    )
    minute: Keep = Field(
        default=None,
        alias="1m",
        description='`"1m"`: how long the 1-minute rollups are kept (unset or "forever": always); at least '
        "as long as raw.",
    )
    hour: Keep = Field(
        default=None,
        alias="1h",
        description='`"1h"`: how long the 1-hour rollups are kept (unset or "forever": always); at least '
        "as long as 1m.",
    )
    day: Keep = Field(
        default=None,
        alias="1d",
        description='`"1d"`: how long the 1-day rollups are kept (unset or "forever": always); at least as '
        "long as 1h.",
    )

    def of(self, tier: str) -> int | None:
        keep: int | None = getattr(self, _FIELDS[tier])  # asked for every batch a device sends
        return keep

    def check_order(self, where: str) -> None:
        forever = float("inf")
        keeps = [(tier, self.of(tier)) for tier in TIERS]
        for (finer, finer_keep), (coarser, coarser_keep) in itertools.pairwise(keeps):
            if (finer_keep or forever) > (coarser_keep or forever):
                raise ValueError(
                    f"{where}: {coarser} is kept shorter than {finer}; rollups are built from the finer "
                    f"tier, so keep raw ≤ 1m ≤ 1h ≤ 1d"
                )


class RetentionSettings(TierKeep):
    """The `[storage.retention]` table: default tiers, overrides per datastream name or glob pattern.

    Example:
        >>> settings = RetentionSettings(raw="2d", datastreams={"boiler-*": {"raw": "30d"}})
        >>> settings.keep_for("boiler-7").raw // DAY_MS, settings.keep_for("s1").raw // DAY_MS
        (30, 2)
    """

    datastreams: dict[str, dict[str, Keep]] = Field(
        default_factory=dict,
        description='Tiers per datastream name or glob pattern: {"boiler-*" = {raw = "30d"}}. An exact name '
        "wins, else the first matching pattern; tiers it does not give keep the defaults.",
    )
    interval_ms: DurationMs = Field(
        default=600_000, ge=0, description="How often old data is deleted; 0 turns the background task off."
    )

    @model_validator(mode="after")
    def _tiers_never_shrink(self) -> "RetentionSettings":
        self.check_order("[storage.retention]")
        for pattern, tiers in self.datastreams.items():
            unknown = set(tiers) - set(TIERS)
            if unknown:
                raise ValueError(f"datastreams.{pattern!r}: unknown tier {sorted(unknown)}; use {TIERS}")
            self.keep_for(pattern).check_order(f"[storage.retention.datastreams.{pattern!r}]")
        return self

    def keep_for(self, datastream: str) -> TierKeep:
        """The tiers of the exact name if configured, else of the first matching pattern, else the default."""
        overrides = self.datastreams.get(datastream)
        if overrides is None:
            overrides = next(
                (
                    tiers
                    for pattern, tiers in self.datastreams.items()
                    if fnmatch.fnmatchcase(datastream, pattern)
                ),
                {},
            )
        default = {tier: self.of(tier) for tier in TIERS}
        return TierKeep.model_validate({**default, **overrides})


class Deletion(NamedTuple):
    """Delete rows older than `cutoff_ms` of the datastreams in `names`, or of all but `except_names`."""

    cutoff_ms: int
    names: list[str] | None
    except_names: list[str]


class RetentionPolicy:
    """Cutoffs at a moment in time; the clock is injectable so tests can age data instantly."""

    def __init__(self, settings: RetentionSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._clock = clock
        self._keeps: dict[str, TierKeep] = {}

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def keep(self, datastream: str) -> TierKeep:
        keep = self._keeps.get(datastream)
        if keep is None:
            keep = self._keeps[datastream] = self.settings.keep_for(datastream)
        return keep

    def horizon_ms(self, datastream: str, tier: str = "raw") -> int | None:
        """The oldest time the tier still holds, on a UTC midnight; None when it is kept forever."""
        keep = self.keep(datastream).of(tier)
        return None if keep is None else _midnight(self.now_ms() - keep)

    def check(self, datastream: str, time_ms: int) -> str | None:
        """Why a reading is too old to store, or None."""
        horizon = self.horizon_ms(datastream)
        if horizon is None or time_ms >= horizon:
            return None
        days = (self.keep(datastream).raw or 0) / DAY_MS
        return (
            f"measured at {_iso(time_ms)}, before the raw retention horizon {_iso(horizon)} of "
            f"{datastream!r} (the raw tier keeps {days:g} days); keep raw data longer in"
            " [storage.retention] to store it"
        )

    def deletions(self, tier: str, datastreams: Iterable[str]) -> list[Deletion]:
        """What to delete from `tier` now: one group per distinct cutoff among `datastreams`."""
        now = self.now_ms()
        default = self.settings.of(tier)
        special: dict[int | None, list[str]] = {}
        for name in datastreams:
            keep = self.keep(name).of(tier)
            if keep != default:
                special.setdefault(keep, []).append(name)
        overridden = sorted(name for names in special.values() for name in names)
        groups = [] if default is None else [Deletion(_midnight(now - default), None, overridden)]
        groups += [
            Deletion(_midnight(now - keep), sorted(names), []) for keep, names in special.items() if keep
        ]
        return groups

    def newest_horizon_ms(self, tier: str, datastreams: Iterable[str]) -> int | None:
        """The latest horizon of `tier` among the datastreams and the default; None if all keep it forever."""
        horizons = [self.horizon_ms(name, tier) for name in datastreams]
        keep = self.settings.of(tier)
        horizons.append(None if keep is None else _midnight(self.now_ms() - keep))
        known = [h for h in horizons if h is not None]
        return max(known) if known else None

    def cutoff_for_all_ms(self, tier: str, datastreams: Iterable[str]) -> int | None:
        """The time below which `tier` is deleted for every datastream; None if any keeps it forever."""
        keeps = [self.keep(name).of(tier) for name in datastreams] + [self.settings.of(tier)]
        longest = None if None in keeps else max(k for k in keeps if k is not None)
        return None if longest is None else _midnight(self.now_ms() - longest)


class RetentionWorker:
    """The background task: applies retention every `interval_ms` until stopped."""

    def __init__(self, apply: Callable[[], object], interval_ms: int) -> None:
        self._apply = apply
        self._interval_s = interval_ms / 1000
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="iotstream-retention", daemon=True)

    def start(self) -> "RetentionWorker":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self._apply()
            except StorageError as err:  # the store may be down for a while; try again next time
                _log.warning("retention could not run, trying again in %.0f s: %s", self._interval_s, err)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def _midnight(time_ms: int) -> int:
    return time_ms - time_ms % DAY_MS


def _iso(time_ms: int) -> str:
    moment = datetime.fromtimestamp(time_ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

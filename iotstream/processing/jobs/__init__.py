"""Built-in jobs, configured by `[[jobs]]` tables in `iotstream.toml`.

Each job type is a settings model (its `type` field tells them apart) and a function building the
engine `Job`s that implement it.
"""

from typing import Annotated

from pydantic import Field

from iotstream.processing.job import Job
from iotstream.processing.jobs.daily_meters import AGGREGATES, DailyMetersSettings, daily_meter_jobs
from iotstream.processing.jobs.join import JoinSettings, join_jobs
from iotstream.processing.jobs.sql_app import SqlAppSettings
from iotstream.processing.jobs.staleness import StalenessSettings, staleness_job
from iotstream.processing.jobs.threshold import ThresholdSettings, threshold_job

__all__ = [
    "AGGREGATES",
    "DailyMetersSettings",
    "JobSettings",
    "JoinSettings",
    "SqlAppSettings",
    "StalenessSettings",
    "ThresholdSettings",
    "build_jobs",
    "internal_topics",
]

JobSettings = Annotated[
    DailyMetersSettings | ThresholdSettings | StalenessSettings | SqlAppSettings | JoinSettings,
    Field(discriminator="type"),
]


def build_jobs(settings: list[JobSettings]) -> list[Job]:
    """The engine jobs of `[[jobs]]`; SQL apps are not among them: they run with the catalog's apps."""
    jobs: list[Job] = []
    for spec in settings:
        if isinstance(spec, SqlAppSettings):
            continue
        if isinstance(spec, ThresholdSettings):
            jobs.append(threshold_job(spec))
        elif isinstance(spec, StalenessSettings):
            jobs.append(staleness_job(spec))
        elif isinstance(spec, JoinSettings):
            jobs += join_jobs(spec)
        else:
            jobs += daily_meter_jobs(spec)
    return jobs


def internal_topics(settings: list[JobSettings]) -> list[str]:
    """Topics the jobs pass data through between themselves (each needs one partition)."""
    days = [spec.days_topic for spec in settings if isinstance(spec, DailyMetersSettings)]
    return days + [t for s in settings if isinstance(s, JoinSettings) for t in (s.sides_topic, s.out_topic)]

"""Built-in jobs, configured by `[[jobs]]` tables in `iotstream.toml`.

Each job type is a settings model (its `type` field tells them apart) and a function building the
engine `Job`s that implement it.
"""

from iotstream.processing.job import Job
from iotstream.processing.jobs.daily_meters import AGGREGATES, DailyMetersSettings, daily_meter_jobs

__all__ = ["AGGREGATES", "DailyMetersSettings", "JobSettings", "build_jobs", "internal_topics"]

JobSettings = DailyMetersSettings  # a discriminated union on `type` once there is a second type


def build_jobs(settings: list[JobSettings]) -> list[Job]:
    return [job for spec in settings for job in daily_meter_jobs(spec)]


def internal_topics(settings: list[JobSettings]) -> list[str]:
    """Topics the jobs pass data through between themselves (each needs one partition)."""
    return [spec.days_topic for spec in settings]

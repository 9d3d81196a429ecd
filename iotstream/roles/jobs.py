"""The `jobs` role: every configured stream job, each on its own thread, checkpointing into the data
directory."""

import time
from typing import Any

from iotstream.processing.jobs import build_jobs
from iotstream.processing.jobs.sql_app import SqlAppSettings
from iotstream.processing.runner import JobRunner
from iotstream.processing.watermark import NO_WATERMARK
from iotstream.registry.apps.store import AppStore
from iotstream.roles.apps import AppRunners
from iotstream.roles.base import ThreadedRole
from iotstream.roles.parts import Parts

__all__ = ["JobsRole"]


class JobsRole(ThreadedRole):
    name = "jobs"
    description = "every configured stream job"

    def __init__(self) -> None:
        super().__init__()
        self.runners: list[JobRunner] = []
        self.apps: AppRunners | None = None  # the catalog's stream apps
        self._summary = ""

    def start(self, parts: Parts) -> None:
        state_dir = parts.settings.data_dir / "state"
        state_dir.mkdir(parents=True, exist_ok=True)
        for job in build_jobs(parts.settings.jobs):
            runner = JobRunner(job, parts.log, state_dir)
            self.runners.append(runner)
            self.spawn(f"iotstream-job:{job.name}", runner.run)
        store = AppStore(parts.catalog)
        store.declare([job.declaration() for job in parts.settings.jobs if isinstance(job, SqlAppSettings)])
        self.apps = AppRunners(store, parts.log, state_dir)
        self.spawn("iotstream-apps", self.apps.run)
        self._summary = (
            ", ".join(f"{job.name} ({job.type})" for job in parts.settings.jobs) or "none configured"
        )

    def stop(self) -> None:
        super().stop()  # each job and app checkpoints
        self.runners.clear()
        self.apps = None

    def unready(self) -> list[str]:
        """Not ready while none of its jobs holds a partition (a job over a one-partition topic, such
        as a meter job's second stage, runs in one of several processes only)."""
        if self.runners and not any(runner.assigned for runner in self.runners):
            return ["no partitions assigned yet"]
        return []

    def stats(self) -> dict[str, Any]:
        return {"jobs": {runner.job.name: _job_stats(runner) for runner in self._all_runners()}}

    def consumer_groups(self) -> list[str]:
        return [f"iotstream.job.{runner.job.name}" for runner in self._all_runners()]

    def _all_runners(self) -> list[JobRunner]:
        return self.runners + (self.apps.runners if self.apps is not None else [])

    def banner(self) -> list[str]:
        return [f"jobs: {self._summary}"]


def _job_stats(runner: JobRunner) -> dict[str, Any]:
    watermark = runner.watermark_ms
    delay = None if watermark == NO_WATERMARK else time.time() - watermark / 1000
    return {
        "events_in": runner.events_in,
        "watermark_ms": watermark,
        "watermark_delay_s": delay,
        "counted_readings_kept": runner.counted_readings_kept,
        "counted_readings_bytes": runner.counted_readings_bytes,
    }

"""The stream apps of the catalog, kept running by the `jobs` role: one `JobRunner` thread per app that
is not paused, started within a poll interval of its creation, stopped (after a checkpoint) when it is
paused or deleted, and its counters, watermark and lag written back to the catalog for the API.

An app's job name carries a digest of its definition, so a changed app starts afresh (its state and
position belong to the old SQL), while a paused one resumes where it stopped. Several `jobs`
processes each run every app; the consumer group splits the partitions between them.
"""

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iotstream.log.base import BaseLog
from iotstream.processing.apps import AppSpec, app_job
from iotstream.processing.runner import JobRunner
from iotstream.processing.watermark import NO_WATERMARK
from iotstream.registry.apps.store import AppInfo, AppStore

__all__ = ["AppRunners", "spec_of"]

_log = logging.getLogger(__name__)
AppKey = tuple[str, str]  # (tenant, name)


def spec_of(info: AppInfo) -> AppSpec:
    definition = f"{info.sql}\0{info.out_of_orderness_ms}\0{info.allowed_lateness_ms}\0{info.created_ms}"
    digest = hashlib.blake2b(definition.encode(), digest_size=4).hexdigest()
    return AppSpec(
        info.tenant,
        info.name,
        info.sql,
        info.out_of_orderness_ms,
        info.allowed_lateness_ms,
        version=digest,
    )


@dataclass
class _Running:
    spec: AppSpec
    runner: JobRunner
    stop: threading.Event
    thread: threading.Thread


class AppRunners:
    def __init__(
        self, store: AppStore, log: BaseLog, state_dir: Path, *, poll_s: float = 0.5, report_s: float = 2.0
    ) -> None:
        self._store = store
        self._log = log
        self._state_dir = state_dir
        self._poll_s = poll_s
        self._report_s = report_s
        self._running: dict[AppKey, _Running] = {}
        self._failed: dict[AppKey, dict[str, Any]] = {}  # apps that cannot start, with why

    def run(self, stop: threading.Event) -> None:
        next_report = 0.0
        try:
            while not stop.is_set():
                self._sync_safely()
                if time.monotonic() >= next_report:
                    self._report_safely()
                    next_report = time.monotonic() + self._report_s
                stop.wait(self._poll_s)
        finally:
            for key in list(self._running):
                self._stop(key)

    @property
    def runners(self) -> list[JobRunner]:
        """Safe from another thread (the stats): `list()` copies the dict's values in one step."""
        return [running.runner for running in list(self._running.values())]

    def _sync_safely(self) -> None:
        try:
            self._sync(self._store.apps())
        except Exception:  # the catalog away for a moment must not stop the apps that run
            _log.exception("stream apps: reading the catalog failed; trying again")

    def _sync(self, apps: list[AppInfo]) -> None:
        wanted = {(info.tenant, info.name): spec_of(info) for info in apps if not info.paused}
        for key, running in list(self._running.items()):
            if wanted.get(key) != running.spec or not running.thread.is_alive():
                self._stop(key)
        for key, spec in wanted.items():
            if key not in self._running and self._failed.get(key, {}).get("job") != spec.job_name:
                self._start(key, spec)

    def _start(self, key: AppKey, spec: AppSpec) -> None:
        try:
            runner = JobRunner(app_job(spec), self._log, self._state_dir)
        except Exception as err:  # SqlError (a newer parser), or the log refusing the consumer group
            _log.error("stream app %s of %s cannot start: %s", key[1], key[0], err)
            self._failed[key] = {"job": spec.job_name, "error": str(err)}
            return
        self._failed.pop(key, None)
        stop = threading.Event()
        thread = threading.Thread(target=runner.run, args=(stop,), name=f"iotstream-app:{spec.job_name}")
        thread.start()
        self._running[key] = _Running(spec, runner, stop, thread)

    def _stop(self, key: AppKey) -> None:
        running = self._running.pop(key)
        running.stop.set()
        running.thread.join()

    def _report_safely(self) -> None:
        try:
            self._store.report(self._statuses())
        except Exception:
            _log.exception("stream apps: reporting their status failed")

    def _statuses(self) -> dict[AppKey, dict[str, Any]]:
        statuses: dict[AppKey, dict[str, Any]] = {key: dict(failed) for key, failed in self._failed.items()}
        for key, running in self._running.items():
            stats = running.runner.stats()
            watermark = stats["watermark_ms"]
            statuses[key] = {
                "job": running.spec.job_name,
                "events_in": stats["events_in"],
                "events_out": stats["outputs"],
                "late": stats["late"],
                "rejected": stats["rejected"],
                "watermark_ms": None if watermark == NO_WATERMARK else watermark,
                "lag": sum(stats["lag"].values()),
                "events_per_s": round(stats["events_per_s"], 1),
                "error": None,
            }
        return statuses

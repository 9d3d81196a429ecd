"""`POST /api/v1/jobs/{name}/recompute`: a job's results for a past range, derived again from the stored
readings (see `processing.recompute`), for history that arrived after its windows were final: a daily
meter job's days, differences and leakage, or a threshold rule's alert episodes."""

import functools
import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response

from iotstream.api._http import TimeRange, iso, json_response
from iotstream.api.access import principal_of
from iotstream.api.services import Services
from iotstream.log.base import BaseLog
from iotstream.log.exceptions import LogError
from iotstream.log.topics import REGISTRY_DATASTREAMS
from iotstream.log.types import RecordMetadata
from iotstream.models import Observation
from iotstream.processing.exceptions import ProcessingConfigError
from iotstream.processing.job import Job, JoinTable
from iotstream.processing.jobs import DailyMetersSettings, JobSettings, ThresholdSettings, build_jobs
from iotstream.processing.jobs.threshold import episode_ends
from iotstream.processing.recompute import Ranges, StoredEpisodes, episode_ranges, recompute, widened
from iotstream.processing.tables import TableReader
from iotstream.registry.access.principal import Principal, Role
from iotstream.storage import BaseStorage

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["jobs"])
_PAGE = 50_000


@router.post(
    "/jobs/{name}/recompute",
    summary="Derive a job's results for a past range again from the stored readings",
    responses={
        400: {"description": "The job cannot be recomputed"},
        403: {"description": "The caller may not write"},
        404: {"description": "No such job"},
        503: {"description": "The log did not take the results"},
    },
)
def post_recompute(request: Request, name: str, time_range: TimeRange) -> Response:
    """Synchronous: the answer comes once every result is in the log (the store follows)."""
    services: Services = request.app.state.services
    principal = principal_of(request)
    if not principal.may(Role.writer):
        raise HTTPException(403, f"{principal} may not recompute jobs: it needs the writer role")
    spec = _job(services, principal, name)
    if services.log is None:
        raise HTTPException(503, "this process has no log to write the results to")
    start_ms, end_ms = time_range
    now_ms = int(time.time() * 1000)
    end_ms = min(end_ms, now_ms)
    jobs = build_jobs([spec])
    tables = _tables(services.log, [s.topic for job in jobs for s in job.steps if isinstance(s, JoinTable)])
    readings = functools.partial(_stored_readings, services.storage)
    failed: list[Exception] = []
    with services.log.producer() as producer:

        def produce(topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]], ms: int) -> None:
            producer.produce(topic, value, key, headers=headers, timestamp_ms=ms, on_delivery=delivered)

        def delivered(error: Exception | None, _: RecordMetadata) -> None:
            if error is not None:
                failed.append(error)

        try:
            ranges = _ranges(spec, jobs, services.storage, tables, (start_ms, end_ms, now_ms))
            episodes = _stored_episodes(spec, services.storage)
            done = recompute(jobs, ranges, readings, produce, tables, episodes)
        except ProcessingConfigError as err:
            raise HTTPException(400, str(err)) from err
        except LogError as err:
            raise HTTPException(503, f"the log took part of the results ({err}); recompute again") from err
        if producer.flush(60) or failed:
            problem = f" ({failed[0]})" if failed else ""
            raise HTTPException(503, f"the log did not take every result{problem}; recompute again")
    body = {"job": spec.name, "from": iso(done.start_ms), "to": iso(done.end_ms), "readings": done.readings}
    return json_response(body | {"results": done.results, "retracted": done.retracted})


def _job(services: Services, principal: Principal, name: str) -> JobSettings:
    mine = [j for j in services.settings.jobs if principal.everything or j.tenant == principal.tenant]
    spec = next((j for j in mine if j.name == name), None) or next(
        (j for j in mine if j.job_name == name), None
    )
    if spec is None:
        raise HTTPException(404, f"no job {name!r}; GET /api/v1/jobs lists them")
    if not isinstance(spec, DailyMetersSettings | ThresholdSettings):
        raise HTTPException(
            400,
            f"job {name!r} is a {spec.type} job; daily meter jobs and threshold rules are recomputed,"
            " as their results follow from the readings' event times alone",
        )
    return spec


def _ranges(
    spec: JobSettings,
    jobs: list[Job],
    storage: BaseStorage,
    tables: dict[str, dict[str, Any]],
    span: tuple[int, int, int],
) -> Ranges:
    """Each input datastream's readings to replay: whole days for a meter job, whole episodes for a
    rule (see `processing.recompute`)."""
    start_ms, end_ms, now_ms = span
    if isinstance(spec, ThresholdSettings):
        keys = sorted(key for key in storage.latest() if spec.watches(key))
        ends = episode_ends(spec, tables.get(REGISTRY_DATASTREAMS, {}))
        readings = functools.partial(_stored_readings, storage)
        return episode_ranges(ends, readings, keys, start_ms, end_ms, now_ms)
    assert isinstance(spec, DailyMetersSettings)  # noqa: S101 - `_job` lets no other kind through
    return dict.fromkeys(sorted(spec.keyed().aggregate), widened(jobs, start_ms, end_ms, now_ms))


def _stored_episodes(spec: JobSettings, storage: BaseStorage) -> StoredEpisodes | None:
    if not isinstance(spec, ThresholdSettings):
        return None
    return lambda key, start_ms, end_ms: [
        alert for alert in storage.alerts(key, start_ms=start_ms, end_ms=end_ms) if alert.rule == spec.name
    ]


def _stored_readings(storage: BaseStorage, key: str, start_ms: int, end_ms: int) -> Iterator[Observation]:
    after: int | None = None
    while True:
        page = storage.raw(key, start_ms, end_ms, limit=_PAGE, after_ms=after)
        yield from page
        if len(page) < _PAGE:
            return
        after = page[-1].phenomenon_time_ms


def _tables(log: BaseLog, topics: list[str]) -> dict[str, dict[str, Any]]:
    """The table topics a stage joins with (a rule's datastream units), as they are now."""
    tables: dict[str, dict[str, Any]] = {}
    if topics:
        reader = TableReader(log, topics, tables)
        reader.close()
    return tables

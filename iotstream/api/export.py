"""`GET /api/v1/export`: the readings (or rollups) of every datastream matching a pattern, streamed as
CSV or Parquet (see `storage.export` for the columns)."""

import fnmatch
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from iotstream.api._http import TimeRange
from iotstream.api.access import principal_of
from iotstream.api.services import Services
from iotstream.storage.export import READINGS, WINDOWED, batches, write

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["queries"])
_MEDIA = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}


@router.get(
    "/export",
    summary="Readings of the datastreams matching a pattern, as a CSV or Parquet file",
    response_class=StreamingResponse,
    responses={200: {"content": {media: {} for media in _MEDIA.values()}}, 404: {"description": "No match"}},
)
def get_export(
    request: Request,
    datastream: Annotated[str, Query(description="A name or a pattern: `*` any text, `?` one character")],
    time_range: TimeRange,
    format: Annotated[Literal["csv", "parquet"], Query(description="The file's format")] = "csv",
    window: Annotated[
        Literal["1m", "1h", "1d"] | None, Query(description="Rollup buckets instead of the readings")
    ] = None,
) -> StreamingResponse:
    """Streamed a page at a time, so an export of any size takes little memory."""
    services: Services = request.app.state.services
    scope = principal_of(request).scope
    known = set(services.storage.latest()) | set(services.describe_datastreams())
    names = {
        key: name for key, name in scope.visible_keys(known).items() if fnmatch.fnmatchcase(name, datastream)
    }
    if not names:
        raise HTTPException(404, f"no datastream matches {datastream!r}")
    parts = batches(services.storage, names, *time_range, window)
    body = write(parts, READINGS if window is None else WINDOWED, format)
    filename = f"iotstream-export.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return StreamingResponse(body, media_type=_MEDIA[format], headers=headers)

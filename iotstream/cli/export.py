"""`iotstream export`: readings or rollups of the datastreams matching a pattern, as CSV or Parquet.

With `--url` it asks a running platform (`GET /api/v1/export`, as the token's tenant sees it);
without, it reads the store the configuration names (the platform need not run; DuckDB allows one
process at a time).
"""

import contextlib
import fnmatch
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, BinaryIO

import httpx
import typer

from iotstream._units import END_OF_TIME_MS, parse_time_ms
from iotstream.cli._context import state
from iotstream.exceptions import IotStreamError
from iotstream.storage import open_storage
from iotstream.storage.export import FORMATS, READINGS, WINDOWED, batches, write

__all__ = ["export"]


class ExportError(IotStreamError):
    pass


def export(
    ctx: typer.Context,
    datastream: Annotated[str, typer.Option(help="A name or a pattern: `*` any text, `?` one character.")],
    from_: Annotated[str | None, typer.Option("--from", help="ISO-8601 or epoch ms (default: all).")] = None,
    to: Annotated[str | None, typer.Option(help="ISO-8601 or epoch ms, excluded (default: all).")] = None,
    form: Annotated[
        str | None, typer.Option("--format", help="csv or parquet (default: the output's suffix, else csv).")
    ] = None,
    window: Annotated[
        str | None, typer.Option(help="1m, 1h or 1d: rollup buckets instead of readings.")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="The file (default: stdout).")] = None,
    url: Annotated[str | None, typer.Option(help="http[s]://host:port of a running platform.")] = None,
    token: Annotated[
        str | None, typer.Option(envvar="IOTSTREAM_TOKEN", help="A bearer token for --url.")
    ] = None,
) -> None:
    """Write the readings (or rollups) of every matching datastream to a file, a page at a time."""
    form = form or (output.suffix.lstrip(".") if output is not None and output.suffix else "csv")
    if form not in FORMATS:
        raise ExportError(f"--format {form!r}: use csv or parquet")
    if window not in (None, "1m", "1h", "1d"):
        raise ExportError(f"--window {window!r}: use 1m, 1h or 1d")
    start, end = _ms("--from", from_, 0), _ms("--to", to, END_OF_TIME_MS)
    with _opened(output) as sink:
        if url is not None:
            _from_api(url, token, datastream, (from_, to), form, window, sink)
        else:
            _from_store(ctx, datastream, (start, end), form, window, sink)


def _from_api(
    url: str,
    token: str | None,
    pattern: str,
    span: tuple[str | None, str | None],
    form: str,
    window: str | None,
    sink: BinaryIO,
) -> None:
    params = {"datastream": pattern, "format": form} | {
        k: v for k, v in zip(("from", "to"), span, strict=True) if v
    }
    params |= {"window": window} if window else {}
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.stream(
        "GET", f"{url.rstrip('/')}/api/v1/export", params=params, headers=headers, timeout=60
    ) as answer:
        if answer.status_code != 200:
            answer.read()
            raise ExportError(f"the platform answered {answer.status_code}: {answer.text}")
        for chunk in answer.iter_bytes():
            sink.write(chunk)


def _from_store(
    ctx: typer.Context, pattern: str, span: tuple[int, int], form: str, window: str | None, sink: BinaryIO
) -> None:
    with open_storage(state(ctx).settings.storage) as storage:
        names = {key: key for key in storage.latest() if fnmatch.fnmatchcase(key, pattern)}
        if not names:
            raise ExportError(f"no stored datastream matches {pattern!r}")
        for chunk in write(
            batches(storage, names, *span, window), READINGS if window is None else WINDOWED, form
        ):
            sink.write(chunk)


def _ms(option: str, raw: str | None, default_ms: int) -> int:
    when = parse_time_ms(
        int(raw) if raw is not None and raw.isdigit() else raw, default_ms, naive_is_utc=True
    )
    if isinstance(when, str):
        raise ExportError(f"{option}: {when}")
    return when


@contextlib.contextmanager
def _opened(path: Path | None) -> Iterator[BinaryIO]:
    """The output file, or stdout's bytes; a file left half written by a failure is removed."""
    if path is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    try:
        with path.open("wb") as file:
            yield file
    except BaseException:
        path.unlink(missing_ok=True)
        raise

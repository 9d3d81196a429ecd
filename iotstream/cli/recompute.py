"""`iotstream recompute JOB --from --to`: a job's results for a past range derived again from the stored
readings, by the running platform (`POST /api/v1/jobs/{name}/recompute`), after history was loaded
behind the job's watermark."""

from typing import Annotated

import httpx
import typer

from iotstream.cli._context import api_url
from iotstream.exceptions import IotStreamError

__all__ = ["recompute"]


class RecomputeError(IotStreamError):
    pass


def recompute(
    ctx: typer.Context,
    job: Annotated[str, typer.Argument(help="The job's name, as in its [[jobs]] table.")],
    from_: Annotated[str, typer.Option("--from", help="ISO-8601 or epoch ms.")],
    to: Annotated[str | None, typer.Option(help="ISO-8601 or epoch ms, excluded (default: now).")] = None,
    url: Annotated[
        str | None, typer.Option(help="http[s]://host:port of the platform (default: the configured one).")
    ] = None,
    token: Annotated[
        str | None, typer.Option(envvar="IOTSTREAM_TOKEN", help="A bearer token (writer role).")
    ] = None,
) -> None:
    """Derive JOB's window results (daily values, differences, leakage, alerts) again for a past range."""
    params = {"from": from_} | ({"to": to} if to else {})
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    where = f"{(url or api_url(ctx)).rstrip('/')}/api/v1/jobs/{job}/recompute"
    try:
        answer = httpx.post(
            where, params=params, headers=headers, timeout=3_600
        )  # a long range takes a while
    except httpx.TransportError as err:
        raise RecomputeError(f"cannot reach the platform at {where}: {err}") from err
    if answer.status_code != 200:
        raise RecomputeError(f"the platform answered {answer.status_code}: {_detail(answer)}")
    done = answer.json()
    retracted = done.get("retracted", 0)
    typer.echo(
        f"{done['job']}: {done['readings']:,} readings from {done['from']} to {done['to']}"
        f" gave {done['results']:,} results"
        + (
            f"; retracted: {retracted:,} (stored alert episodes the readings no longer give)"
            if retracted
            else ""
        )
    )


def _detail(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("detail", answer.text))
    except ValueError:
        return answer.text

"""`iotstream topics list|create|delete|describe`: the log's admin, like kafka-topics.sh."""

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from iotstream._units import parse_duration_ms, parse_size_bytes
from iotstream.cli._context import state
from iotstream.log import CleanupPolicy, TopicSpec

__all__ = ["app"]

app = typer.Typer(help="Create, inspect and delete topics.", no_args_is_help=True)
console = Console()


@app.command("list")
def list_topics(ctx: typer.Context) -> None:
    """List topics with their partitions, policy and size."""
    with state(ctx).open_log() as log:
        table = Table("topic", "partitions", "policy", "retention", "records")
        for name in log.list_topics():
            described = log.describe_topic(name)
            records = sum(p.records for p in described.partitions)
            spec = described.spec
            table.add_row(
                name, str(spec.partitions), spec.cleanup_policy.value, _retention(spec), str(records)
            )
    console.print(table)


@app.command("create")
def create(
    ctx: typer.Context,
    name: str,
    partitions: Annotated[int, typer.Option("--partitions", "-p", min=1)] = 1,
    retention: Annotated[str | None, typer.Option(help="Keep records this long, e.g. 7d, 12h.")] = None,
    retention_bytes: Annotated[str | None, typer.Option(help="Per partition, e.g. 1GiB.")] = None,
    compact: Annotated[bool, typer.Option("--compact", help="Keep only the latest record per key.")] = False,
) -> None:
    """Create a topic."""
    try:
        spec = TopicSpec(
            name,
            partitions=partitions,
            retention_ms=None if retention is None else parse_duration_ms(retention),
            retention_bytes=None if retention_bytes is None else parse_size_bytes(retention_bytes),
            cleanup_policy=CleanupPolicy.COMPACT if compact else CleanupPolicy.DELETE,
        )
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    with state(ctx).open_log() as log:
        log.create_topic(spec)
    console.print(f"created topic {name} with {partitions} partition(s)", markup=False)


@app.command("delete")
def delete(ctx: typer.Context, name: str) -> None:
    """Delete a topic with all its records and committed offsets."""
    with state(ctx).open_log() as log:
        log.delete_topic(name)
    console.print(f"deleted topic {name}", markup=False)


@app.command("describe")
def describe(ctx: typer.Context, name: str) -> None:
    """Show a topic's settings, per-partition offsets and every consumer group's lag."""
    with state(ctx).open_log() as log:
        described = log.describe_topic(name)
    spec = described.spec
    console.print(
        f"topic {spec.name}: {spec.partitions} partition(s), policy {spec.cleanup_policy.value}, "
        f"retention {_retention(spec)}",
        markup=False,
    )
    partitions = Table("partition", "start offset", "end offset", "records")
    for p in described.partitions:
        partitions.add_row(str(p.partition), str(p.start_offset), str(p.end_offset), str(p.records))
    console.print(partitions)
    if described.groups:
        groups = Table("group", "partition", "committed", "end offset", "lag", "owner")
        for g in described.groups:
            groups.add_row(
                g.group, str(g.partition), str(g.committed), str(g.end_offset), str(g.lag), g.owner or "-"
            )
        console.print(groups)
    else:
        console.print("no consumer group has committed offsets on this topic")


def _retention(spec: TopicSpec) -> str:
    parts = []
    if spec.retention_ms is not None:
        parts.append(f"{spec.retention_ms / 3_600_000:g}h")
    if spec.retention_bytes is not None:
        parts.append(f"{spec.retention_bytes} bytes/partition")
    return " or ".join(parts) or "forever"

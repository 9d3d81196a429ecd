"""Entry point: global options, settings loading, and one place that turns errors into messages."""

import gc
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from iotstream import __version__
from iotstream.cli import access, broker, certs, consume, importing, produce, simulate, topics, up
from iotstream.cli import export as export_command
from iotstream.cli import recompute as recompute_command
from iotstream.cli import run as run_command
from iotstream.cli._context import CliContext, print_error
from iotstream.config import load_settings
from iotstream.exceptions import IotStreamError

__all__ = ["app", "main", "run"]

app = typer.Typer(
    name="iotstream",
    help="iotstream: open IoT live streaming. Ingest readings, process them on event time, store and watch.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(topics.app, name="topics")
app.add_typer(simulate.app, name="simulate")
app.add_typer(access.tenants, name="tenants")
app.add_typer(access.systems, name="systems")
app.add_typer(access.tokens, name="tokens")
app.add_typer(access.users, name="users")
app.command("audit")(access.audit)
app.add_typer(certs.app, name="certs")
app.command("mqtt-access")(broker.mqtt_access)
app.command("produce")(produce.produce)
app.command("consume")(consume.consume)
app.command("export")(export_command.export)
app.command("import")(importing.import_file)
app.command("recompute")(recompute_command.recompute)
app.command("up")(up.up)
app.command("demo")(up.demo)
app.command("run")(run_command.run)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="TOML config file (default ./iotstream.toml).")
    ] = None,
    log: Annotated[
        str | None,
        typer.Option("--log", help="Log URL, overriding [log] url: sqlite:///path.db or kafka://host:port."),
    ] = None,
) -> None:
    overrides: dict[str, Any] = {"log": {"url": log}} if log else {}
    ctx.obj = CliContext(load_settings(config, **overrides), config, overrides)


@app.command("version")
def _version() -> None:
    """Print the iotstream version."""
    typer.echo(__version__)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit status; errors become one readable line, never a traceback."""
    try:
        app(args=argv, prog_name="iotstream")  # standalone: usage errors print and raise SystemExit
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else 0 if done.code is None else 1
    except IotStreamError as err:
        print_error(str(err))
        return 2
    return 0


def run() -> None:
    status = main()
    gc.freeze()  # nothing is left to collect: the interpreter's exit skips a pass over every object
    sys.exit(status)

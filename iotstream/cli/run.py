"""`iotstream run ROLE [ROLE...]`: some of the platform's roles in this process, the others elsewhere on
the same log, store and catalog (the distributed mode)."""

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from iotstream.cli._context import state
from iotstream.cli._platform import Config, DataDir, Host, Port, platform_overrides, stop_on_signals
from iotstream.roles import ROLE_NAMES

__all__ = ["run"]

console = Console()

Roles = Annotated[list[str], typer.Argument(help=f"Roles to run: {', '.join(ROLE_NAMES)}.")]


def run(
    ctx: typer.Context,
    roles: Roles,
    config: Config = None,
    data_dir: DataDir = None,
    host: Host = None,
    port: Port = None,
) -> None:
    """Run the given roles in this process until Ctrl-C (or SIGTERM)."""
    settings = state(ctx).reload(config, **platform_overrides(data_dir, host, port))
    if "relay" in roles and settings.relay.to is None:
        raise typer.BadParameter(
            "the relay role forwards this site's log to a central site: set `site` and [relay] to "
            '(e.g. site = "plant-7" and [relay] to = "https://central.example.com:8000")',
            param_hint="ROLES",
        )
    from iotstream.roles.platform import Platform  # its roles' modules load only for `run`

    with Platform(settings, list(dict.fromkeys(roles))) as platform:
        lines = [f"roles: {', '.join(role.name for role in platform.roles)}", *platform.running()]
        console.print(Panel(escape("\n".join(lines)), title="iotstream is running", subtitle="Ctrl-C stops"))
        console.print(f"iotstream is running {' '.join(roles)} on {platform.url}", markup=False)
        stop_on_signals(platform)
        platform.wait()
    console.print("iotstream stopped", markup=False)

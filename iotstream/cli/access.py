"""`iotstream tenants|systems|tokens|users|audit`: who may do what, changed in the catalog directly, so
they work whether the platform runs or not (a revocation reaches running API processes at once)."""

import enum
import getpass
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Column, Table

from iotstream._units import parse_duration_ms
from iotstream.cli._context import state
from iotstream.cli._platform import Config, DataDir, platform_overrides
from iotstream.exceptions import ConfigError
from iotstream.registry.access.principal import Role

if TYPE_CHECKING:
    from iotstream.registry.access.store import AccessStore

__all__ = ["audit", "systems", "tenants", "tokens", "users"]

tenants = typer.Typer(help="Tenants: the companies sharing this platform.", no_args_is_help=True)
systems = typer.Typer(help="Systems: parts of a tenant (their datastreams are named SYSTEM/…).")
tokens = typer.Typer(help="API tokens of devices, apps and people.", no_args_is_help=True)
users = typer.Typer(help="Users who log in to the dashboard.", no_args_is_help=True)
console = Console(soft_wrap=True)

Tenant = Annotated[str, typer.Option("--tenant", help="The tenant's name.")]


class RoleName(enum.StrEnum):
    reader = "reader"
    writer = "writer"
    admin = "admin"


RoleOption = Annotated[RoleName, typer.Option("--role", help="What it may do.")]
SystemOption = Annotated[str | None, typer.Option("--system", help="Only this system of the tenant.")]


@contextmanager
def _store(ctx: typer.Context, config: Config, data_dir: DataDir) -> Iterator["AccessStore"]:
    from iotstream.registry.access.store import AccessError, AccessStore  # the database layer, only here
    from iotstream.registry.catalog import open_catalog

    settings = state(ctx).reload(config, **platform_overrides(data_dir, None, None))
    catalog = open_catalog(settings.registry.url)
    try:
        yield AccessStore(catalog)
    except AccessError as err:
        raise ConfigError(str(err)) from None
    finally:
        catalog.close()


def _actor() -> str:
    return f"cli {getpass.getuser()}@{socket.gethostname()}"


def _when(ms: int | None) -> str:
    return "" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@tenants.command("create")
def create_tenant(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Lower-case letters, digits, '_' and '-'.")],
    max_readings_per_s: Annotated[
        float | None, typer.Option("--max-readings-per-s", help="Rate limit of all its tokens together.")
    ] = None,
    max_datastreams: Annotated[
        int | None, typer.Option("--max-datastreams", help="At most this many datastreams.")
    ] = None,
    config: Config = None,
    data_dir: DataDir = None,
) -> None:
    """Create a tenant."""
    with _store(ctx, config, data_dir) as store:
        store.create_tenant(
            name, actor=_actor(), max_readings_per_s=max_readings_per_s, max_datastreams=max_datastreams
        )
    console.print(f"tenant {name} created")


@tenants.command("list")
def list_tenants(ctx: typer.Context, config: Config = None, data_dir: DataDir = None) -> None:
    """List the tenants."""
    with _store(ctx, config, data_dir) as store:
        rows = store.tenants()
    table = Table("name", "readings/s", "datastreams", "created")
    for row in rows:
        limits = [str(row[k] or "-") for k in ("max_readings_per_s", "max_datastreams")]
        table.add_row(row["name"], *limits, _when(row["created_ms"]))
    console.print(table)


@systems.command("create")
def create_system(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The system's name.")],
    tenant: Tenant,
    config: Config = None,
    data_dir: DataDir = None,
) -> None:
    """Create a system of a tenant."""
    with _store(ctx, config, data_dir) as store:
        store.create_system(tenant, name, actor=_actor())
    console.print(f"system {tenant}/{name} created")


@tokens.command("create")
def create_token(
    ctx: typer.Context,
    tenant: Tenant,
    role: RoleOption,
    system: SystemOption = None,
    expires: Annotated[str | None, typer.Option("--expires", help='Its lifetime, e.g. "30d".')] = None,
    description: Annotated[str, typer.Option("--description", help="What it is for.")] = "",
    config: Config = None,
    data_dir: DataDir = None,
) -> None:
    """Create a token; the token is printed once, as the last line, and never kept."""
    lifetime = None if expires is None else _lifetime(expires)
    with _store(ctx, config, data_dir) as store:
        info, token = store.create_token(
            tenant, Role[role], actor=_actor(), system=system, expires_in_ms=lifetime, description=description
        )
    expiry = f", expires {_when(info.expires_ms)}" if info.expires_ms else ""
    console.print(f"token {info.id}: {info.role} of {tenant}{'/' + system if system else ''}{expiry}")
    print(token)  # alone on its line, unwrapped, for scripts: `tail -n 1`


@tokens.command("list")
def list_tokens(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's.")] = None,
    config: Config = None,
    data_dir: DataDir = None,
) -> None:
    """List tokens (never their secrets)."""
    with _store(ctx, config, data_dir) as store:
        rows = store.tokens(tenant)
    table = Table("tenant", "system", "role", "created", "expires", "revoked", "description")
    table.columns.insert(0, Column("id", no_wrap=True, min_width=12))  # what `revoke` takes: never cut
    for t in rows:
        times = (_when(t.created_ms), _when(t.expires_ms), _when(t.revoked_ms))
        table.add_row(t.id, t.tenant, t.system or "", t.role, *times, t.description)
    console.print(table)


@tokens.command("revoke")
def revoke_token(
    ctx: typer.Context,
    token_id: Annotated[str, typer.Argument(help="The token's id (as listed).")],
    config: Config = None,
    data_dir: DataDir = None,
) -> None:
    """Revoke a token: refused from its next request on, in every running process."""
    with _store(ctx, config, data_dir) as store:
        store.revoke_token(token_id, actor=_actor())
    console.print(f"token {token_id} revoked")


@users.command("create")
def create_user(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="What the login page asks for.")],
    tenant: Tenant,
    role: RoleOption,
    system: SystemOption = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    config: Config = None,
    data_dir: DataDir = None,
) -> None:
    """Create a user who logs in to the dashboard (the password is asked for, or read from stdin)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    with _store(ctx, config, data_dir) as store:
        store.create_user(name, password, tenant, Role[role], actor=_actor(), system=system)
    console.print(f"user {name} created: {role} of {tenant}{'/' + system if system else ''}")


def audit(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="The newest this many.")] = 50,
    config: Config = None,
    data_dir: DataDir = None,
) -> None:
    """Show the audit trail: who created or revoked what, and when (newest first)."""
    with _store(ctx, config, data_dir) as store:
        rows = store.audit(tenant, limit)
    table = Table("when", "tenant", "actor", "action", "target")
    for row in rows:
        table.add_row(_when(row["at_ms"]), row["tenant"], row["actor"], row["action"], row["target"])
    console.print(table)


def _lifetime(text: str) -> int:
    try:
        return parse_duration_ms(text)
    except ValueError as err:
        raise ConfigError(f"--expires: {err}") from None

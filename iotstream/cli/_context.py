"""What every command receives: the settings, read once at the edge, and helpers to print."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from iotstream.config import Settings, load_settings
from iotstream.log import BaseLog, open_log

__all__ = ["CliContext", "api_url", "err_console", "print_error", "state"]

err_console = Console(stderr=True, soft_wrap=True)


@dataclass(frozen=True)
class CliContext:
    settings: Settings
    config: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)

    def reload(self, config: Path | None = None, **overrides: Any) -> Settings:
        """The settings again, from another file and with more overrides (a command's own options)."""
        return load_settings(config or self.config, **{**self.overrides, **overrides})

    def open_log(self) -> BaseLog:
        return open_log(self.settings.log)


def state(ctx: typer.Context) -> CliContext:
    obj = ctx.find_root().obj
    assert isinstance(obj, CliContext), "the root callback sets the context"  # noqa: S101
    return obj


def api_url(ctx: typer.Context) -> str:
    """Where the configured platform answers, for commands that talk to it without `--url`."""
    api = state(ctx).settings.api
    scheme = "https" if api.tls_cert else "http"
    host = "127.0.0.1" if api.host in ("0.0.0.0", "::") else api.host  # noqa: S104 - where it listens
    return f"{scheme}://{host}:{api.port}"


def print_error(message: str) -> None:
    # Our messages contain "[log]"-style table names, which rich would take for markup.
    err_console.print(f"[bold red]error:[/] {escape(message)}")

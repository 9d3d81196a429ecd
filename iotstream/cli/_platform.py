"""Options and helpers of the commands that run the platform (`up`, `demo`, `run`)."""

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from iotstream.roles.platform import Platform

__all__ = ["Config", "DataDir", "Host", "Port", "platform_overrides", "stop_on_signals"]

Config = Annotated[Path | None, typer.Option("--config", "-c", help="TOML config file.")]
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Where the log, store and job state live.")]
Host = Annotated[str | None, typer.Option("--host", help="Address the API binds to (default 127.0.0.1).")]
Port = Annotated[int | None, typer.Option("--port", help="API port (default 8000; 0 picks a free one).")]


def platform_overrides(data_dir: Path | None, host: str | None, port: int | None) -> dict[str, Any]:
    api = {key: value for key, value in (("host", host), ("port", port)) if value is not None}
    return ({"data_dir": data_dir} if data_dir else {}) | ({"api": api} if api else {})


def stop_on_signals(platform: "Platform") -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be installed from the main thread (e.g. not under tests)

    def handle(signum: int, frame: FrameType | None) -> None:
        platform.request_stop()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)

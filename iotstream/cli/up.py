"""`iotstream up` (the platform in one process) and `iotstream demo` (the same, with a guided tour)."""

import signal
import threading
from types import FrameType

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from iotstream.cli._context import state
from iotstream.embedded import EmbeddedPlatform
from iotstream.log.topics import OBSERVATIONS

__all__ = ["demo", "up"]

console = Console()

_NOT_YET = (
    "Not running yet: HTTP/MQTT ingestion and the dashboard (next issues). The stream engine "
    "exists as a Python API, but `up` does not start jobs yet."
)
_TRY = f"""Try it from another terminal:
  printf '{{"datastream":"kitchen/temp","value":21.5}}\\n' | .venv/bin/iotstream produce {OBSERVATIONS}
  .venv/bin/iotstream consume {OBSERVATIONS} --from-beginning
  .venv/bin/iotstream topics describe {OBSERVATIONS}"""


def up(ctx: typer.Context) -> None:
    """Run the whole platform in this process until Ctrl-C."""
    _serve(ctx, tour=False)


def demo(ctx: typer.Context) -> None:
    """Like `up`, and print what to try."""
    _serve(ctx, tour=True)


def _serve(ctx: typer.Context, *, tour: bool) -> None:
    with EmbeddedPlatform(state(ctx).settings) as platform:
        lines = [*platform.running(), "", _NOT_YET]
        if tour:
            lines += ["", _TRY]
        console.print(Panel(escape("\n".join(lines)), title="iotstream is running", subtitle="Ctrl-C stops"))
        _stop_on_signals(platform)
        platform.wait()
    console.print("iotstream stopped; data is kept", markup=False)


def _stop_on_signals(platform: EmbeddedPlatform) -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be installed from the main thread (e.g. not under tests)

    def handle(signum: int, frame: FrameType | None) -> None:
        platform.request_stop()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)

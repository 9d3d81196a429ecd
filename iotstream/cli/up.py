"""`iotstream up` (the platform in one process) and `iotstream demo` (the same, with the smart-home
job and simulators preconfigured)."""

import logging
import threading
import time
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from iotstream.cli._context import state
from iotstream.cli._platform import Config, DataDir, Host, Port, platform_overrides, stop_on_signals
from iotstream.config import Settings
from iotstream.sim.smart_home import SMART_HOME_JOB

__all__ = ["demo", "up"]

console = Console()


DEMO_JOB = {**SMART_HOME_JOB, "allowed_lateness": "3d"}  # corrects with the 2-day-late readings
# The simulated temperature sensors spike now and then: the rules the data-store thesis ran on them.
DEMO_RULES = [
    {"type": "threshold", "name": "overheat", "datastreams": ["temperature-*"], "above": 28.0}
    | {"hysteresis": 0.5, "min_duration": "5s"},
    {"type": "staleness", "name": "silent", "datastreams": ["temperature-*"], "after": "30s"},
]


def up(
    ctx: typer.Context, config: Config = None, data_dir: DataDir = None, host: Host = None, port: Port = None
) -> None:
    """Run the whole platform in this process until Ctrl-C (or SIGTERM)."""
    settings = state(ctx).reload(config, **platform_overrides(data_dir, host, port))
    _serve(settings, demo=False)


def demo(
    ctx: typer.Context, config: Config = None, data_dir: DataDir = None, host: Host = None, port: Port = None
) -> None:
    """`up` with the smart-home meter job, temperature alert rules (notified in the log) and
    simulators sending to them over HTTP."""
    overrides = platform_overrides(data_dir, host, port)
    settings = state(ctx).reload(config, **overrides)
    if not settings.jobs:
        overrides["jobs"] = [DEMO_JOB, *DEMO_RULES]
    if not settings.notify.sinks:
        overrides["notify"] = {"sinks": [{"type": "log"}]}
    _serve(state(ctx).reload(config, **overrides), demo=True)


def _serve(settings: Settings, *, demo: bool) -> None:
    _show_notifications()
    from iotstream.embedded import EmbeddedPlatform  # the web stack loads only for `up` and `demo`

    with EmbeddedPlatform(settings) as platform:
        assert platform.api is not None  # noqa: S101 - started with the API
        lines = platform.running()
        simulators: list[threading.Thread] = []
        stop = threading.Event()
        if demo:
            simulators = _start_simulators(platform.api.url, stop)
            lines += [
                "",
                "simulators: a smart home (1 s = 15 min, from 3 days ago) and 3 temperature sensors",
            ]
        url = platform.api.url
        lines += ["", f"dashboard: {url}/ui/   API docs: {url}/docs   Grafana: {url}/grafana", "try:"]
        lines += _examples(url)
        console.print(Panel(escape("\n".join(lines)), title="iotstream is running", subtitle="Ctrl-C stops"))
        console.print(f"iotstream is serving {url} (dashboard: {url}/ui/)", markup=False, soft_wrap=True)
        stop_on_signals(platform)
        platform.wait()
        stop.set()
        for thread in simulators:
            thread.join()
    console.print("iotstream stopped; data is kept", markup=False)


def _show_notifications() -> None:
    """The log sink's messages (open at WARNING, close at INFO) on the console, unless logging is set up."""
    logger = logging.getLogger("iotstream.notify")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s notification: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def _start_simulators(url: str, stop: threading.Event) -> list[threading.Thread]:
    from iotstream.sim.run import houses, midnight_days_ago, open_publisher, simulate
    from iotstream.sim.temperature import TemperatureSensors, temperature_readings

    now = time.time_ns() // 1_000_000
    runs = [
        (houses(1, midnight_days_ago(now, 3), 365, seed=1), 900.0),
        (temperature_readings(TemperatureSensors(now, 10**9, sensors=3)), 1.0),
    ]
    threads = []
    for readings, speed in runs:
        thread = threading.Thread(
            target=_quietly(simulate), args=(readings, open_publisher(url), speed, stop), name="iotstream-sim"
        )
        thread.start()
        threads.append(thread)
    return threads


def _quietly(run: Any) -> Any:
    def guarded(*args: Any) -> None:
        try:
            run(*args)
        except Exception as err:  # the platform is stopping or refused: the demo goes on without it
            console.print(f"simulator stopped: {err}", markup=False)

    return guarded


def _examples(url: str) -> list[str]:
    return [
        f'  curl -X POST {url}/api/v1/readings -d \'{{"datastream": "kitchen/temp", "value": 21.5}}\'',
        f"  curl '{url}/api/v1/datastreams'",
        f"  curl '{url}/api/v1/aggregates?datastream=Wtot.rest&window=1d'",
    ]

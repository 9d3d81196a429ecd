"""`iotstream simulate smart-home|temperature`: the seed scenarios' devices, sending to a platform."""

import threading
import time
from collections.abc import Iterable
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from iotstream.api._http import iso
from iotstream.sim.run import houses, midnight_days_ago, open_publisher, simulate
from iotstream.sim.temperature import TemperatureSensors, temperature_readings

__all__ = ["app"]

app = typer.Typer(help="Simulated devices that send readings to a running platform.", no_args_is_help=True)

Url = Annotated[
    str, typer.Option("--url", help="http://host:port of the API, or mqtt://host:port of a broker.")
]
Speed = Annotated[
    float, typer.Option(help="Simulated seconds per wall-clock second (0: as fast as possible).")
]
Seed = Annotated[int, typer.Option(help="Same seed, same readings.")]


@app.command("smart-home")
def smart_home(
    url: Url = "http://127.0.0.1:8000",
    houses_: Annotated[int, typer.Option("--houses", min=1, help="Houses to simulate.")] = 1,
    days: Annotated[int, typer.Option(min=1, help="Days of readings to send.")] = 7,
    days_ago: Annotated[int, typer.Option(help="Start at UTC midnight this many days ago.")] = 3,
    speed: Speed = 900.0,
    seed: Seed = 0,
) -> None:
    """Energy and water meters every 15 min, daily totals, motion, late water readings (1 s = 15 min)."""
    start = midnight_days_ago(time.time_ns() // 1_000_000, days_ago)
    _run(houses(houses_, start, days, seed), url, speed, f"{houses_} house(s)")


@app.command("temperature")
def temperature(
    url: Url = "http://127.0.0.1:8000",
    sensors: Annotated[int, typer.Option(min=1)] = 3,
    count: Annotated[int, typer.Option(min=1, help="Readings per sensor.")] = 3_600,
    interval_ms: Annotated[int, typer.Option(min=1, help="Between a sensor's readings.")] = 1_000,
    speed: Speed = 1.0,
    seed: Seed = 0,
) -> None:
    """Temperature sensors approaching moving targets, with occasional spikes (the thesis' sensor)."""
    spec = TemperatureSensors(time.time_ns() // 1_000_000, count, sensors, interval_ms, seed)
    _run(temperature_readings(spec), url, speed, f"{sensors} temperature sensor(s)")


def _run(readings: Iterable[dict[str, Any]], url: str, speed: float, what: str) -> None:
    stop = threading.Event()
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns) as progress:
        task = progress.add_task(f"{what} → {url}", total=None)

        def sent(count: int, time_ms: int) -> None:
            progress.update(task, description=f"{what} → {url}: {count:,} readings, at {iso(time_ms)}")

        try:
            total = simulate(readings, open_publisher(url), speed, stop, sent)
        except KeyboardInterrupt:
            stop.set()
            return
    typer.echo(f"sent {total:,} readings")

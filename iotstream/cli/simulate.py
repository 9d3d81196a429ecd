"""`iotstream simulate smart-home|temperature|car-fleet|weather-station`: the seed scenarios' devices,
sending to a platform.

The car fleet and the weather stations are clients of the platform, as `examples/` shows them: they
register their Things and Datastreams through SensorThings and send with `iotstream.client`.
"""

import dataclasses
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from iotstream._units import iso_ms as iso
from iotstream.client import Client, Datastream, RegisteredThing, RejectedError, RequestError, Sensor, Thing
from iotstream.sim.car_fleet import CarFleet, car_fleet_readings, car_fleet_things
from iotstream.sim.publish import Publisher
from iotstream.sim.run import houses, midnight_days_ago, open_publisher, simulate
from iotstream.sim.temperature import TemperatureSensors, temperature_readings
from iotstream.sim.weather_station import WeatherStations, weather_station_readings, weather_station_things

__all__ = ["app"]

app = typer.Typer(help="Simulated devices that send readings to a running platform.", no_args_is_help=True)

Url = Annotated[
    str, typer.Option("--url", help="http://host:port of the API, or mqtt://host:port of a broker.")
]
Speed = Annotated[
    float, typer.Option(help="Simulated seconds per wall-clock second (0: as fast as possible).")
]
Seed = Annotated[int, typer.Option(help="Same seed, same readings.")]
HttpUrl = Annotated[str, typer.Option("--url", help="http://host:port of the API.")]
Token = Annotated[str | None, typer.Option(envvar="IOTSTREAM_TOKEN", help="A writer's bearer token.")]
Minutes = Annotated[int, typer.Option(min=1, help="Of readings to send, from now on.")]


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


@app.command("car-fleet")
def car_fleet(
    url: HttpUrl = "http://127.0.0.1:8000",
    token: Token = None,
    cars: Annotated[int, typer.Option(min=1, help="Cars to simulate.")] = 3,
    minutes: Minutes = 60,
    speed: Speed = 1.0,
    seed: Seed = 0,
) -> None:
    """Cars around Salzburg: position, speed, fuel, temperature, acceleration every 10 s (iot4cps)."""
    fleet = CarFleet(_now_ms(10_000), minutes, cars, seed=seed)
    with _client(url, token) as client:
        _register_all(client, car_fleet_things(fleet))
        _run(car_fleet_readings(fleet), url, speed, f"{cars} car(s)", _ClientPublisher(client))


@app.command("weather-station")
def weather_station(
    url: HttpUrl = "http://127.0.0.1:8000",
    token: Token = None,
    stations: Annotated[int, typer.Option(min=1, help="Weather stations to simulate.")] = 2,
    minutes: Minutes = 1_440,
    speed: Speed = 60.0,
    seed: Seed = 0,
) -> None:
    """Temperature, humidity, pressure, wind and rain every minute (1 s = 1 min)."""
    weather = WeatherStations(_now_ms(60_000), minutes, stations, seed=seed)
    with _client(url, token) as client:
        _register_all(client, weather_station_things(weather))
        _run(
            weather_station_readings(weather), url, speed, f"{stations} station(s)", _ClientPublisher(client)
        )


def _now_ms(interval_ms: int) -> int:
    now = time.time_ns() // 1_000_000
    return now - now % interval_ms


def _client(url: str, token: str | None) -> Client:
    try:
        return Client(url, token)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--url") from err


def _register_all(client: Client, things: Iterable[tuple[Thing, list[Datastream]]]) -> None:
    """Register the Things, but for those an earlier run registered."""
    for thing, datastreams in things:
        try:
            _register(client, thing, datastreams)
        except RequestError as err:
            if err.status != 409:  # 409: its keys are taken, by an earlier run
                raise


def _register(client: Client, thing: Thing, datastreams: Sequence[Datastream]) -> RegisteredThing:
    """The Thing with one Datastream per Sensor first (all or nothing), then the Datastreams that share
    a Sensor with one of those, by its id (a car's position and speed all come from its GPS module)."""
    firsts: dict[Sensor | int, Datastream] = {}
    for datastream in datastreams:
        firsts.setdefault(datastream.sensor, datastream)
    registered = client.register(thing, list(firsts.values()))
    ids = {sensor: registered.datastream(first.name).sensor_id for sensor, first in firsts.items()}
    others = [
        client.register_datastream(registered.id, dataclasses.replace(d, sensor=ids[d.sensor] or d.sensor))
        for d in datastreams
        if d not in firsts.values()
    ]
    return dataclasses.replace(registered, datastreams=(*registered.datastreams, *others))


class _ClientPublisher:
    """`simulate` sending through the client: batches with retries and backoff, refusals raised."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def send(self, readings: list[dict[str, Any]]) -> None:
        rejected = self._client.send_many(readings)
        if rejected:
            raise RejectedError(rejected[0].reason, rejected[0].reading)

    def close(self) -> None:
        """Nothing: whoever opened the client closes it."""


def _run(
    readings: Iterable[dict[str, Any]],
    url: str,
    speed: float,
    what: str,
    publisher: Publisher | None = None,
) -> None:
    stop = threading.Event()
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns) as progress:
        task = progress.add_task(f"{what} → {url}", total=None)

        def sent(count: int, time_ms: int) -> None:
            progress.update(task, description=f"{what} → {url}: {count:,} readings, at {iso(time_ms)}")

        try:
            total = simulate(
                readings, open_publisher(url) if publisher is None else publisher, speed, stop, sent
            )
        except KeyboardInterrupt:
            stop.set()
            return
    typer.echo(f"sent {total:,} readings")

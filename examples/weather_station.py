"""Weather stations sending temperature, humidity, pressure, wind and rain through the Python client.

Each station is registered as a SensorThings Thing with one Datastream (and Sensor) per quantity, as
`iotstream.sim.weather_station` describes it, then sends a reading of each every simulated minute.
Run it against a platform (`iotstream up`):

    python examples/weather_station.py --url http://127.0.0.1:8000 --stations 2 --minutes 1440 --speedup 600

`iotstream simulate weather-station` does the same from the command line.
"""

import argparse
import itertools
import logging
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

from iotstream.client import Client, RequestError
from iotstream.sim.weather_station import WeatherStations, weather_station_readings, weather_station_things

log = logging.getLogger("weather_station")


def paced(readings: Iterable[dict[str, Any]], speedup: float) -> Iterator[list[dict[str, Any]]]:
    """Each tick's readings when its time comes, `speedup` simulated seconds a second (0: all at once)."""
    if not speedup:
        yield list(readings)
        return
    started, first_ms = time.monotonic(), None
    for time_ms, tick in itertools.groupby(readings, key=lambda reading: reading["time"]):
        first_ms = time_ms if first_ms is None else first_ms
        time.sleep(max(0.0, started + (time_ms - first_ms) / 1000 / speedup - time.monotonic()))
        yield list(tick)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("IOTSTREAM_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--token", default=os.environ.get("IOTSTREAM_TOKEN"), help="a writer's token")
    parser.add_argument("--stations", type=int, default=2)
    parser.add_argument("--minutes", type=int, default=60, help="of weather to simulate")
    parser.add_argument("--speedup", type=float, default=60.0, help="simulated seconds a second; 0: at once")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same weather")
    args = parser.parse_args()
    logging.basicConfig(format="%(message)s")
    log.setLevel(logging.INFO)

    now_ms = time.time_ns() // 1_000_000  # the weather starts now, on a whole minute
    weather = WeatherStations(now_ms - now_ms % 60_000, args.minutes, args.stations, seed=args.seed)
    with Client(args.url, args.token) as client:
        for thing, datastreams in weather_station_things(weather):
            try:
                station = client.register(thing, datastreams)  # one request: all of it or nothing
                log.info("registered %s: %d datastreams", station.name, len(station.datastreams))
            except RequestError as err:
                if err.status != 409:  # 409: its keys are taken, by an earlier run
                    raise
                log.info("%s is registered already", thing.name)
        sent = 0
        for batch in paced(weather_station_readings(weather), args.speedup):
            for rejected in client.send_many(batch):
                log.warning("rejected %s: %s", rejected.reading, rejected.reason)
            sent += len(batch)
    log.info("sent %d readings", sent)


if __name__ == "__main__":
    main()

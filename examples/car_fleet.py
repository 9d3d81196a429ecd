"""A fleet of connected cars sending their position, speed and fuel level through the Python client.

Each car is registered the way the iot4cps car fleet registered its car 1 (a Thing with Sensors and
Datastreams, `iotstream.sim.car_fleet.CAR_1`), then sends a reading of each Datastream every 10 s of
simulated time. Run it against a platform (`iotstream up`):

    python examples/car_fleet.py --url http://127.0.0.1:8000 --cars 3 --minutes 10 --speedup 10

`iotstream simulate car-fleet` does the same from the command line.
"""

import argparse
import dataclasses
import itertools
import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from iotstream.client import Client, Datastream, RegisteredThing, RequestError, Sensor, Thing
from iotstream.sim.car_fleet import CarFleet, car_fleet_readings, car_fleet_things

log = logging.getLogger("car_fleet")


def register(client: Client, thing: Thing, datastreams: Sequence[Datastream]) -> RegisteredThing:
    """Register a car the way its payload describes it, with Datastreams measured by one instrument
    sharing its Sensor (latitude, longitude, altitude and speed all come from the GPS module).

    The Thing comes first, with one Datastream per Sensor (all or nothing: a second run fails here, as
    the keys are taken, and leaves nothing behind); the other Datastreams then join their Sensor by id.
    """
    firsts: dict[Sensor | int, Datastream] = {}
    for datastream in datastreams:
        firsts.setdefault(datastream.sensor, datastream)
    car = client.register(thing, list(firsts.values()))
    sensor_ids = {sensor: car.datastream(first.name).sensor_id for sensor, first in firsts.items()}
    others = [
        client.register_datastream(car.id, dataclasses.replace(d, sensor=sensor_ids[d.sensor] or d.sensor))
        for d in datastreams
        if d not in firsts.values()
    ]
    return dataclasses.replace(car, datastreams=(*car.datastreams, *others))


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


def send(client: Client, readings: Iterable[dict[str, Any]], speedup: float) -> int:
    """Send the readings as they come due; how many were sent."""
    sent = 0
    for batch in paced(readings, speedup):
        for rejected in client.send_many(batch):
            log.warning("rejected %s: %s", rejected.reading, rejected.reason)
        sent += len(batch)
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("IOTSTREAM_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--token", default=os.environ.get("IOTSTREAM_TOKEN"), help="a writer's token")
    parser.add_argument("--cars", type=int, default=3)
    parser.add_argument("--minutes", type=int, default=10, help="of driving to simulate")
    parser.add_argument("--speedup", type=float, default=1.0, help="simulated seconds a second; 0: at once")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same drive")
    args = parser.parse_args()
    logging.basicConfig(format="%(message)s")
    log.setLevel(logging.INFO)

    now_ms = time.time_ns() // 1_000_000  # the drive starts now, on a whole interval
    fleet = CarFleet(now_ms - now_ms % 10_000, args.minutes, args.cars, seed=args.seed)
    with Client(args.url, args.token) as client:
        for thing, datastreams in car_fleet_things(fleet):
            try:
                car = register(client, thing, datastreams)
                log.info("registered %s: %d datastreams", car.name, len(car.datastreams))
            except RequestError as err:
                if err.status != 409:  # 409: its keys are taken, by an earlier run
                    raise
                log.info("%s is registered already", thing.name)
        sent = send(client, car_fleet_readings(fleet), args.speedup)
    log.info("sent %d readings", sent)


if __name__ == "__main__":
    main()

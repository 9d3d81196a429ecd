"""The temperature sensor of the data-store thesis: first-order approach to a moving target, with spikes.

T(t) = base + (1 - e^(-Δt / 30 s)) x (target - base) + noise, where Δt is the time since the target
last changed and `base` the temperature at that moment. Targets change at random; now and then a
reading spikes far above, which is what threshold alerts are for.
"""

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["TemperatureSensors", "temperature_readings"]

_TIME_CONSTANT_MS = 30_000


@dataclass(frozen=True)
class TemperatureSensors:
    start_ms: int
    count: int  # readings per sensor
    sensors: int = 1
    interval_ms: int = 1_000
    seed: int = 0
    prefix: str = "temperature-"
    target_range: tuple[float, float] = (15.0, 30.0)
    retarget_every_ms: int = 300_000  # on average
    spike_probability: float = 0.002
    noise: float = 0.1


def temperature_readings(spec: TemperatureSensors) -> Iterator[dict[str, Any]]:
    """`{"datastream", "time", "value"}` dicts, sensor after sensor at each tick."""
    rng = random.Random(spec.seed)
    low, high = spec.target_range
    states = [[spec.start_ms, rng.uniform(low, high), rng.uniform(low, high)] for _ in range(spec.sensors)]
    for tick in range(spec.count):
        now = spec.start_ms + tick * spec.interval_ms
        for index, state in enumerate(states):
            since, base, target = state
            value = base + (1 - math.exp(-(now - since) / _TIME_CONSTANT_MS)) * (target - base)
            if rng.random() < spec.interval_ms / spec.retarget_every_ms:
                state[:] = [now, value, rng.uniform(low, high)]
            value += rng.gauss(0, spec.noise)
            if rng.random() < spec.spike_probability:
                value += rng.uniform(20, 60)
            yield {"datastream": f"{spec.prefix}{index + 1}", "time": now, "value": round(value, 3)}

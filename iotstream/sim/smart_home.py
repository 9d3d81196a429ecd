"""The smart-home house of the original energy/water pipelines, reading by reading.

Every 15 minutes: two temperatures (TH1, TH2), four appliance energy meters (HVAC1, HVAC2, MiAC1,
MiAC2, Wh in the interval) and a water meter (W1, litres). At the end of each day the cumulative
house meters Etot (about 2,600 Wh x 24 a day) and Wtot (about 110 l a day); five motion events
(MOV1 = 1) a day. Like the originals, some W1 readings arrive late: one 2 days old every 20 steps
(20 s at the default 1 s = 15 min) and one 10 days old every 120 steps. Late readings fall between
the 15-minute marks, so they add to their day rather than overwrite a reading.

The generator is pure (a seed, no clock), so tests can replay exactly what a simulator sent.
"""

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["DAY_MS", "SMART_HOME_JOB", "STEP_MS", "SmartHome", "smart_home_readings"]

STEP_MS = 15 * 60_000
DAY_MS = 86_400_000
STEPS_PER_DAY = DAY_MS // STEP_MS
_RANGES = {"TH1": (12, 35), "TH2": (12, 35), "HVAC1": (0, 100), "HVAC2": (0, 200), "MiAC1": (0, 150)}
_RANGES |= {"MiAC2": (0, 200), "W1": (0, 1)}
_LATE_OFFSET_MS = STEP_MS // 2

# The originals' daily meter job for this house, as a `[[jobs]]` table (`iotstream demo` runs it).
SMART_HOME_JOB: dict[str, Any] = {
    "type": "daily_meters",
    "name": "home",
    "aggregate": {"TH1": "avg", "TH2": "avg", "HVAC1": "sum", "HVAC2": "sum", "MiAC1": "sum"}
    | {"MiAC2": "sum", "W1": "sum", "MOV1": "sum", "Etot": "max", "Wtot": "max"},
    "meters": {"Etot": {"submeters": ["HVAC1", "HVAC2", "MiAC1", "MiAC2"]}, "Wtot": {"submeters": ["W1"]}},
}


@dataclass(frozen=True)
class SmartHome:
    """One house. `start_ms` should be a midnight (UTC) so that days line up with the meters."""

    start_ms: int
    days: int
    seed: int = 0
    prefix: str = ""  # datastream names are prefix + sensor ("house2/TH1")
    late_2d_every: int = 20  # steps between 2-day-old W1 readings; 0 = none
    late_10d_every: int = 120  # steps between 10-day-old W1 readings; 0 = none
    closing_reading: bool = True  # one reading after the last day, so its windows can close


def smart_home_readings(home: SmartHome) -> Iterator[dict[str, Any]]:
    """`{"datastream", "time" (epoch ms), "value"}` dicts in the order the house sends them."""
    rng = random.Random(home.seed)
    name = home.prefix.__add__
    etot, wtot = round(rng.uniform(1e6, 2e6), 1), round(rng.uniform(1e4, 2e4), 1)
    yield {"datastream": name("Etot"), "time": home.start_ms - 1_000, "value": etot}  # installation
    yield {"datastream": name("Wtot"), "time": home.start_ms - 1_000, "value": wtot}
    for day in range(home.days):
        motion_steps = sorted(rng.sample(range(STEPS_PER_DAY), 5))
        for step_of_day in range(STEPS_PER_DAY):
            step = day * STEPS_PER_DAY + step_of_day
            now = home.start_ms + step * STEP_MS
            for sensor, (low, high) in _RANGES.items():
                yield {"datastream": name(sensor), "time": now, "value": round(rng.uniform(low, high), 3)}
            for _ in range(motion_steps.count(step_of_day)):
                yield {"datastream": name("MOV1"), "time": now + rng.randrange(1, STEP_MS), "value": 1}
            yield from _late_readings(home, rng, step, now)
        day_end = home.start_ms + (day + 1) * DAY_MS
        etot = round(etot + 2600 * 24 + rng.uniform(-1000, 1000), 1)
        wtot = round(wtot + 110 + rng.uniform(-10, 10), 1)
        yield {"datastream": name("Etot"), "time": day_end - 1_000, "value": etot}
        yield {"datastream": name("Wtot"), "time": day_end - 1_000, "value": wtot}
    if home.closing_reading:
        closing = {"datastream": name("TH1"), "time": home.start_ms + home.days * DAY_MS + STEP_MS}
        yield closing | {"value": round(rng.uniform(12, 35), 3)}


def _late_readings(home: SmartHome, rng: random.Random, step: int, now: int) -> Iterator[dict[str, Any]]:
    for every, age_days in ((home.late_2d_every, 2), (home.late_10d_every, 10)):
        if every and step and step % every == 0:
            time = now - age_days * DAY_MS + _LATE_OFFSET_MS
            yield {"datastream": home.prefix + "W1", "time": time, "value": round(rng.uniform(0, 1), 3)}

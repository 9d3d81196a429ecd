"""The smart-home meter job's configuration, and its results computed straight from the readings."""

import json
from collections import defaultdict
from statistics import fmean
from typing import Any

from iotstream.sim.smart_home import SMART_HOME_JOB

DAY = 86_400_000
HOME = SMART_HOME_JOB


def expected_days(
    readings: list[tuple[str, float, int]], lateness: int, aggregate: dict[str, str] = HOME["aggregate"]
) -> tuple[dict[tuple[str, int], float], list[tuple[str, float, int]]]:
    """AggDay, differences and rests computed straight from the readings, one at a time."""
    accepted: dict[tuple[str, int], list[float]] = defaultdict(list)
    late, watermark = [], -(2**63)
    for name, value, time in readings:
        day = time - time % DAY
        if name in aggregate:
            if day + DAY + lateness <= watermark:
                late.append((name, value, time))
            else:
                accepted[(name, day)].append(value)
        watermark = max(watermark, time)
    functions = {"avg": fmean, "sum": sum, "max": max}
    days = {
        key: functions[aggregate[key[0]]](values)
        for key, values in accepted.items()
        if key[1] + DAY <= watermark
    }
    for meter, spec in HOME["meters"].items():
        for (name, day), total in list(days.items()):
            if name != meter or (meter, day - DAY) not in days:
                continue
            diff = days[(meter, day - DAY)] - total
            days[(f"{meter}.diff", day)] = -diff
            parts = [days.get((sub, day)) for sub in spec["submeters"]]
            if all(part is not None for part in parts):
                days[(f"{meter}.rest", day)] = -diff - sum(parts)  # type: ignore[arg-type]
    return days, late


def job_toml(job: dict[str, Any], **extra: str) -> str:
    """A `[[jobs]]` table of the meter job (and `extra` settings such as `allowed_lateness`), for the
    configuration files of processes the tests and the local cluster start."""
    aggregate = ", ".join(f'{name} = "{how}"' for name, how in job["aggregate"].items())
    meters = ", ".join(
        f"{meter} = {{ submeters = {json.dumps(spec['submeters'])} }}"
        for meter, spec in job["meters"].items()
    )
    settings = "".join(f'{key} = "{value}"\n' for key, value in extra.items())
    return (
        f'[[jobs]]\ntype = "{job["type"]}"\nname = "{job["name"]}"\n{settings}'
        f"aggregate = {{ {aggregate} }}\nmeters = {{ {meters} }}\n"
    )

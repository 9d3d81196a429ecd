"""A partition of `observations` that goes quiet stops holding the meter job's watermark back, so the last
day closes while the other partitions keep sending."""

import threading
from pathlib import Path

import httpx

from iotstream.log.partitioner import partition_for
from tests.integration.test_end_to_end import D0, start_platform, wait_for_days
from tests.meters import DAY

PARTITIONS = 4


def _one_per_partition() -> dict[int, str]:
    names: dict[int, str] = {}
    number = 0
    while len(names) < PARTITIONS:
        name = f"meter-{number}"
        names.setdefault(partition_for(name.encode(), PARTITIONS), name)
        number += 1
    return names


def _keep_sending(url: str, names: list[str], stop: threading.Event) -> None:
    """A reading of each of `names` every 200 ms, on the day after: their partitions stay active."""
    with httpx.Client(base_url=url, timeout=10) as api:
        step = 0
        while not stop.wait(0.2):
            step += 1
            api.post(
                "/api/v1/readings",
                json=[{"datastream": n, "time": D0 + DAY + step, "value": 1} for n in names],
            )


def test_with_one_of_four_partitions_quiet_the_last_day_closes(tmp_path: Path) -> None:
    names = _one_per_partition()
    job = {"type": "daily_meters", "name": "count", "aggregate": dict.fromkeys(names.values(), "sum")}
    platform = start_platform(
        tmp_path, "0s", log={"default_partitions": PARTITIONS}, jobs=[job | {"idle_timeout": "1s"}]
    )
    assert platform.api is not None
    url = platform.api.url
    stop = threading.Event()
    busy = [name for partition, name in names.items() if partition != 0]  # partition 0 goes quiet
    sender = threading.Thread(target=_keep_sending, args=(url, busy, stop))
    try:
        with httpx.Client(base_url=url, timeout=10) as api:
            day = [
                {"datastream": n, "time": D0 + h * 3_600_000, "value": 1}
                for n in names.values()
                for h in range(3)
            ]
            assert api.post("/api/v1/readings", json=day).status_code == 202
            sender.start()
            expected = {(name, D0): 3.0 for name in names.values()}
            assert wait_for_days(api, expected, timeout_s=30) == expected
    finally:
        stop.set()
        if sender.is_alive():
            sender.join()
        platform.stop()

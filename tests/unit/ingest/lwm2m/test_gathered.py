"""The `lwm2m` role ingests the readings of notifications in batches, and a registration's records
reach the registry between the readings before them and those after."""

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from iotstream.roles.lwm2m import _Gathered


class Offers:
    def __init__(self) -> None:
        self.calls: list[Any] = []

    def offer(self, readings: list[dict[str, Any]], source: str) -> int:
        self.calls.append(([r["value"] for r in readings], source))
        return len(readings)


def test_readings_that_wait_together_go_in_one_batch_and_a_seal_keeps_the_order() -> None:
    offers, executor = Offers(), ThreadPoolExecutor(1)
    gathered = _Gathered(executor, offers)  # type: ignore[arg-type]  # it only offers
    held = threading.Event()
    executor.submit(held.wait, 10)  # the ingest thread is busy
    for value in (1, 2, 3):
        gathered.add([{"value": value}])
    gathered.seal()  # a registration: the registry is told after the readings so far
    executor.submit(offers.calls.append, "registry")
    gathered.add([{"value": 4}])
    held.set()
    executor.shutdown(wait=True)
    assert offers.calls == [([1, 2, 3], "lwm2m"), "registry", ([4], "lwm2m")]


def test_readings_handed_over_while_a_batch_is_ingested_go_in_the_next() -> None:
    entered, release = threading.Event(), threading.Event()

    class Slow(Offers):
        def offer(self, readings: list[dict[str, Any]], source: str) -> int:
            entered.set()
            release.wait(10)
            return super().offer(readings, source)

    offers, executor = Slow(), ThreadPoolExecutor(1)
    gathered = _Gathered(executor, offers)  # type: ignore[arg-type]
    gathered.add([{"value": 1}])
    assert entered.wait(10)
    gathered.add([{"value": 2}])
    gathered.add([{"value": 3}])
    release.set()
    executor.shutdown(wait=True)
    assert offers.calls == [([1], "lwm2m"), ([2, 3], "lwm2m")]

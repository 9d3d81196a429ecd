"""`accept`, the one function both routes of `POST /api/v1/readings` answer with, on a real SQLite log."""

import asyncio
import threading
import time
from types import SimpleNamespace
from typing import Any

from iotstream.api.readings import accept
from iotstream.config import Settings
from iotstream.ingest.config import IngestSettings
from iotstream.ingest.ingestor import Ingestor
from iotstream.log import BaseLog
from iotstream.registry.access import OPEN


def test_registering_a_new_datastream_does_not_stop_the_event_loop(log: BaseLog) -> None:
    """A registration waits for the catalog's commit and the log's flush; on the event loop it would
    hold every other request up for that long."""
    known = {"old"}
    registrations: list[tuple[str, list[str]]] = []

    def register(keys: Any) -> None:
        registrations.append((threading.current_thread().name, list(keys)))
        time.sleep(0.5)
        known.update(keys)

    ingestor = Ingestor(log, IngestSettings(), known=known.__contains__, register=register)
    services: Any = SimpleNamespace(ingestor=ingestor, settings=Settings())
    finished: list[str] = []

    async def send(name: str, body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        answer = await accept(services, body, OPEN)
        finished.append(name)
        return answer

    async def both() -> list[tuple[int, dict[str, Any], dict[str, str]]]:
        new = asyncio.create_task(send("new", b'{"datastream": "new", "time": 1, "value": 1}'))
        await asyncio.sleep(0.05)  # the new one is registering now
        old = await send("old", b'{"datastream": "old", "time": 1, "value": 1}')
        return [old, await new]

    answers = asyncio.run(both())
    assert [status for status, _, _ in answers] == [202, 202]
    assert [document["accepted"] for _, document, _ in answers] == [1, 1]
    assert finished == ["old", "new"]  # answered while the registration was still running
    [(thread, keys)] = registrations
    assert keys == ["new"]
    assert thread != threading.main_thread().name  # the loop's thread
    ingestor.close()

"""One device's poller on a real SQLite log, with a scripted client: readings at the poll's time, a
refused value dead-lettered with its reason, a silent device's staleness episodes opened after
`stale_after` and closed by its next answer."""

from typing import Any

import msgspec

from iotstream.ingest.config import IngestSettings
from iotstream.ingest.ingestor import Ingestor
from iotstream.ingest.modbus import ModbusSettings
from iotstream.ingest.modbus.poller import ModbusPoller
from iotstream.log import BaseLog
from iotstream.log.topics import DEADLETTER, OBSERVATIONS
from tests.unit.ingest.test_source import read

DEVICE = ModbusSettings.model_validate(
    {
        "host": "plc",
        "interval": "1s",
        "stale_after": "3s",
        "registers": [
            {"address": 0, "type": "float32", "datastream": "t"},
            {"address": 2, "type": "uint16", "table": "input", "datastream": "p"},
        ],
    }
)


class Response:
    def __init__(self, registers: list[int] | None) -> None:
        self.registers = registers or []
        self._error = registers is None

    def isError(self) -> bool:
        return self._error

    def __str__(self) -> str:
        return "ExceptionResponse(dev_id=1, function_code=131, exception_code=2)"


class Client:
    """Answers from `holding` and `input`; with `down`, as a device that is gone."""

    def __init__(self) -> None:
        self.holding = {0: [0x41AC, 0x0000]}
        self.input: dict[int, list[int]] = {2: [7]}
        self.down = False
        self.connected = False

    def connect(self) -> bool:
        self.connected = not self.down
        return self.connected

    def close(self) -> None:
        self.connected = False

    def read_holding_registers(self, address: int, *, count: int, device_id: int) -> Response:
        return self._read(self.holding, address)

    def read_input_registers(self, address: int, *, count: int, device_id: int) -> Response:
        return self._read(self.input, address)

    def _read(self, table: dict[int, list[int]], address: int) -> Response:
        if self.down:
            self.connected = False
            raise ConnectionError("connection reset by peer")
        return Response(table.get(address))


class Clock:
    def __init__(self) -> None:
        self.now_s = 1_000.0

    def __call__(self) -> float:
        return self.now_s


def test_values_become_readings_and_a_refused_value_is_dead_lettered(log: BaseLog) -> None:
    ingestor = Ingestor(log, IngestSettings())
    clock, client = Clock(), Client()
    poller = ModbusPoller(DEVICE, ingestor, lambda episodes: None, clock)
    poller.poll(client)  # type: ignore[arg-type]
    client.holding[0] = [0x7FC0, 0x0000]  # NaN
    del client.input[2]  # the device now refuses register 2
    clock.now_s += 1
    poller.poll(client)  # type: ignore[arg-type]
    ingestor.flush()
    readings = [msgspec.json.decode(r.value) for r in read(log, OBSERVATIONS, 2)]
    assert [(r["datastream"], r["time"], r["value"]) for r in readings] == [
        ("t", 1_000_000, 21.5),
        ("p", 1_000_000, 7),
    ]
    [letter] = read(log, DEADLETTER, 1)
    headers = dict(letter.headers)
    assert headers["reason"] == b"'value' nan is not a finite number"
    assert headers["source"] == b"modbus:plc:502/1"
    assert poller.counts == {"polls": 2, "unanswered": 0, "readings": 2}


def test_a_silent_device_opens_staleness_episodes_that_its_answer_closes(log: BaseLog) -> None:
    raised: list[dict[str, Any]] = []
    clock, client = Clock(), Client()
    poller = ModbusPoller(DEVICE, Ingestor(log, IngestSettings()), raised.extend, clock)
    poller.poll(client)  # type: ignore[arg-type]
    client.down = True
    for _ in range(2):
        clock.now_s += 1
        poller.poll(client)  # type: ignore[arg-type]
    assert raised == []  # 2 s of silence: not yet stale
    clock.now_s += 1
    poller.poll(client)  # type: ignore[arg-type]
    clock.now_s += 1
    poller.poll(client)  # type: ignore[arg-type]
    assert [(e["datastream"], e["event"], e["start"], e["last"]) for e in raised] == [
        ("t", "open", 1_000_000, 1_003_000),
        ("p", "open", 1_000_000, 1_003_000),
    ]  # once, however long it stays silent
    client.down = False
    clock.now_s += 1
    poller.poll(client)  # type: ignore[arg-type]
    closes = [(e["datastream"], e["state"], e["start"], e["closed_at"], e["rule"]) for e in raised[2:]]
    assert closes == [
        ("t", "closed", 1_000_000, 1_005_000, "modbus:plc:502/1"),
        ("p", "closed", 1_000_000, 1_005_000, "modbus:plc:502/1"),
    ]
    assert poller.counts["unanswered"] == 4

"""One Modbus TCP device polled on its interval, its values given to the ingestor as readings.

A poll reads every register; each value is a reading at the poll's time, with the same checks and
message ids as any other (a NaN float is refused and dead-lettered with the reason). The poller never
stops on its own: a device that does not answer (refused, timed out, cut) is tried again at the next
interval, and once it has been silent for `stale_after` each of its datastreams gets a staleness alert
episode on the `alerts` topic — as a `staleness` rule would raise it — which its next answer closes. A
register the device refuses (an exception response: a wrong address, say) is logged when it starts
and when it stops failing, and its reading is skipped.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException

from iotstream.ingest.ingestor import Ingestor
from iotstream.ingest.modbus.config import ModbusSettings, RegisterSettings
from iotstream.ingest.modbus.registers import decode

__all__ = ["Alerts", "ModbusPoller"]

_log = logging.getLogger(__name__)
Alerts = Callable[[list[dict[str, Any]]], None]  # alert episodes to put on the `alerts` topic


class ModbusPoller:
    def __init__(
        self,
        settings: ModbusSettings,
        ingestor: Ingestor,
        alerts: Alerts,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._ingestor = ingestor
        self._alerts = alerts
        self._clock = clock
        self._rule = f"modbus:{settings.label}"
        self._answered_ms = self._now_ms()  # a device gets `stale_after` from the start to answer
        self._silent_since: int | None = None  # the last answer before an open staleness episode
        self._refused: dict[str, str] = {}  # datastream → why its register is not read, as last logged
        self.counts = {"polls": 0, "unanswered": 0, "readings": 0}

    def run(self, stop: threading.Event) -> None:
        timeout_s = self.settings.timeout / 1000
        client = ModbusTcpClient(self.settings.host, port=self.settings.port, timeout=timeout_s, retries=0)
        try:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    self.poll(client)
                except Exception:  # a bug in one poll must not end the device's polling
                    _log.exception("modbus %s: a poll failed; polling goes on", self.settings.label)
                stop.wait(max(self.settings.interval / 1000 - (time.monotonic() - started), 0))
        finally:
            client.close()

    def poll(self, client: ModbusTcpClient) -> None:
        now_ms = self._now_ms()
        self.counts["polls"] += 1
        try:
            readings = self._read(client, now_ms)
        except (ModbusException, OSError) as err:
            client.close()  # the next poll connects afresh
            self._unanswered(now_ms, err)
            return
        self._answered(now_ms)
        if readings:
            self.counts["readings"] += self._ingestor.offer(readings, f"modbus:{self.settings.label}")

    def _read(self, client: ModbusTcpClient, now_ms: int) -> list[dict[str, Any]]:
        if not client.connected and not client.connect():
            raise ConnectionException(f"cannot connect to {self.settings.host}:{self.settings.port}")
        readings = []
        for register in self.settings.registers:
            read = (
                client.read_holding_registers if register.table == "holding" else client.read_input_registers
            )
            response = read(register.address, count=register.words, device_id=self.settings.unit)
            if response.isError():
                self._refuse(register, f"the device refused to read it: {response}")
                continue
            self._accept(register)
            value = decode(list(response.registers), register)
            readings.append({"datastream": register.datastream, "time": now_ms, "value": value})
        return readings

    def _refuse(self, register: RegisterSettings, reason: str) -> None:
        if self._refused.get(register.datastream) != reason:
            _log.warning(
                "modbus %s: register %d (%s): %s",
                self.settings.label,
                register.address,
                register.datastream,
                reason,
            )
            self._refused[register.datastream] = reason

    def _accept(self, register: RegisterSettings) -> None:
        if self._refused.pop(register.datastream, None) is not None:
            _log.info(
                "modbus %s: register %d (%s) reads again",
                self.settings.label,
                register.address,
                register.datastream,
            )

    def _unanswered(self, now_ms: int, error: Exception) -> None:
        self.counts["unanswered"] += 1
        if self.counts["unanswered"] == 1 or self._silent_since is None:
            _log.warning("modbus %s: no answer (%s); tried again every interval", self.settings.label, error)
        if self._silent_since is None and now_ms - self._answered_ms >= self.settings.stale_after_ms:
            self._silent_since = self._answered_ms
            self._alerts(self._episodes("open", now_ms))

    def _answered(self, now_ms: int) -> None:
        if self._silent_since is not None:
            _log.info("modbus %s: answers again", self.settings.label)
            self._alerts(self._episodes("close", now_ms))
            self._silent_since = None
        self._answered_ms = now_ms

    def _episodes(self, event: str, now_ms: int) -> list[dict[str, Any]]:
        """One staleness episode per datastream of the device, from its last answer."""
        start = self._silent_since if self._silent_since is not None else self._answered_ms
        return [
            {
                "rule": self._rule,
                "kind": "staleness",
                "datastream": register.datastream,
                "event": event,
                "state": "closed" if event == "close" else "open",
                "start": start,
                "last": now_ms,
                "duration_s": (now_ms - start) / 1000,
                "max": None,
                "avg": None,
                "threshold": self.settings.stale_after_ms / 1000,
                "closed_at": now_ms if event == "close" else None,
            }
            for register in self.settings.registers
        ]

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

"""Modbus TCP devices polled for readings (`[[modbus]]`): each configured register becomes a
datastream; a device that stops answering raises a staleness alert instead of stopping its poller.

`poller` (and pymodbus with it) is imported by the role that polls, not here: the settings import this
package for every command.
"""

from iotstream.ingest.modbus.config import ModbusSettings, RegisterSettings
from iotstream.ingest.modbus.registers import decode

__all__ = ["ModbusSettings", "RegisterSettings", "decode"]

"""`[[modbus]]`: a device polled over Modbus TCP, and `[[modbus.registers]]`: what each reading is.

Modbus has no types: a device's manual says a value is, say, a float32 in holding registers 100 and
101, low word first. Each register table entry says that much (address, type, byte and word order),
how to scale the raw number, and which datastream the result is a reading of.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from iotstream._units import DurationMs

__all__ = ["WORDS", "ModbusSettings", "RegisterSettings"]

RegisterType = Literal["int16", "uint16", "int32", "uint32", "float32"]
WORDS: dict[str, int] = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2}  # 16-bit registers


class RegisterSettings(BaseModel):
    """One value read from a device: the raw register value times `scale`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    address: int = Field(ge=0, le=65_535, description="The first register, counted from 0 as on the wire.")
    type: RegisterType = Field(default="uint16", description="int16, uint16, int32, uint32 or float32.")
    table: Literal["holding", "input"] = Field(
        default="holding", description="Holding registers (function 3) or input registers (function 4)."
    )
    byte_order: Literal["big", "little"] = Field(
        default="big",
        description="Of the two bytes in each register (little: swapped, as some devices send).",
    )
    word_order: Literal["big", "little"] = Field(
        default="big", description="Of a 32-bit value's two registers (little: the low word first)."
    )
    scale: float = Field(default=1.0, description="The reading is the raw number times this (0.1: tenths).")
    datastream: str = Field(min_length=1, description="The datastream the values are readings of.")

    @model_validator(mode="after")
    def _fits(self) -> "RegisterSettings":
        if self.address + WORDS[self.type] > 65_536:
            raise ValueError(f"a {self.type} at register {self.address} runs past the last register, 65535")
        return self

    @property
    def words(self) -> int:
        return WORDS[self.type]


class ModbusSettings(BaseModel):
    """One `[[modbus]]` table: a Modbus TCP device (or a gateway's unit) and the registers to poll."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field(min_length=1, description="The device's (or gateway's) address.")
    port: int = Field(default=502, ge=1, le=65_535, description="The TCP port (502 is Modbus TCP's).")
    unit: int = Field(default=1, ge=0, le=255, description="The unit (slave) id behind the address.")
    name: str | None = Field(default=None, description="How logs and alerts name it; default host:port/unit.")
    interval: DurationMs = Field(default=10_000, gt=0, description="How often every register is read.")
    timeout: DurationMs = Field(default=3_000, gt=0, description="How long one request may take.")
    stale_after: DurationMs | None = Field(
        default=None,
        gt=0,
        description="Unanswered this long, the device's datastreams get a staleness alert (default: three"
        " intervals); its next answer closes it.",
    )
    registers: list[RegisterSettings] = Field(
        min_length=1,
        description="The `[[modbus.registers]]` tables: the values read every `interval`, at least one and "
        "one per datastream.",
    )

    @model_validator(mode="after")
    def _one_register_per_datastream(self) -> "ModbusSettings":
        names = [register.datastream for register in self.registers]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"modbus device {self.label!r} reads more than one register into {twice}")
        return self

    @property
    def label(self) -> str:
        return self.name or f"{self.host}:{self.port}/{self.unit}"

    @property
    def stale_after_ms(self) -> int:
        return self.stale_after if self.stale_after is not None else 3 * self.interval

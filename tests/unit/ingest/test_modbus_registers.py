"""Register words → values in every type, byte order and word order, checked against pymodbus' own
conversion (the words a device holding that value sends); settings refuse what cannot be read."""

import math
import struct
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from pymodbus.client import ModbusTcpClient

from iotstream.ingest.modbus import ModbusSettings, RegisterSettings, decode

TYPES = ModbusTcpClient.DATATYPE
RANGES = {
    "int16": st.integers(-(2**15), 2**15 - 1),
    "uint16": st.integers(0, 2**16 - 1),
    "int32": st.integers(-(2**31), 2**31 - 1),
    "uint32": st.integers(0, 2**32 - 1),
    "float32": st.floats(width=32, allow_nan=False),
}


def device_words(value: int | float, kind: str, byte_order: str, word_order: str) -> list[int]:
    """What a device sends: pymodbus' registers for the word order, each word's bytes swapped for a
    little byte order."""
    words = ModbusTcpClient.convert_to_registers(value, TYPES[kind.upper()], word_order=word_order)  # type: ignore[arg-type]
    return words if byte_order == "big" else [int.from_bytes(w.to_bytes(2, "big"), "little") for w in words]


@pytest.mark.parametrize("word_order", ["big", "little"])
@pytest.mark.parametrize("byte_order", ["big", "little"])
@pytest.mark.parametrize("kind", sorted(RANGES))
@given(data=st.data())
def test_every_type_and_order_decodes_what_the_device_holds(
    kind: str, byte_order: str, word_order: str, data: st.DataObject
) -> None:
    value = data.draw(RANGES[kind])
    register = RegisterSettings.model_validate(
        {"address": 7, "type": kind, "byte_order": byte_order, "word_order": word_order, "datastream": "d"}
    )
    decoded = decode(device_words(value, kind, byte_order, word_order), register)
    assert decoded == value
    assert type(decoded) is type(value)


def test_the_four_orders_of_one_float_and_scaling() -> None:
    def register(byte_order: str, word_order: str, **more: object) -> RegisterSettings:
        settings = {"address": 0, "type": "float32", "byte_order": byte_order, "word_order": word_order}
        return RegisterSettings.model_validate(settings | {"datastream": "d"} | more)

    abcd = struct.pack(">f", 21.5)  # 0x41AC0000
    assert decode([0x41AC, 0x0000], register("big", "big")) == 21.5  # ABCD
    assert decode([0x0000, 0x41AC], register("big", "little")) == 21.5  # CDAB
    assert decode([0xAC41, 0x0000], register("little", "big")) == 21.5  # BADC
    assert decode([0x0000, 0xAC41], register("little", "little")) == 21.5  # DCBA
    assert abcd == bytes.fromhex("41ac0000")
    tenths = RegisterSettings(address=0, type="uint16", scale=0.1, datastream="d")
    assert decode([215], tenths) == pytest.approx(21.5)
    assert math.isnan(decode([0x7FC0, 0x0000], register("big", "big")))  # the ingestor refuses it, with why
    with pytest.raises(ValueError, match="a float32 takes 2 registers, got 1"):
        decode([1], register("big", "big"))


def test_settings_refuse_registers_past_the_end_and_a_datastream_read_twice() -> None:
    with pytest.raises(ValidationError, match="a float32 at register 65535 runs past the last register"):
        RegisterSettings(address=65_535, type="float32", datastream="d")
    with pytest.raises(
        ValidationError, match="Input should be 'int16', 'uint16', 'int32', 'uint32' or 'float32'"
    ):
        RegisterSettings.model_validate({"address": 0, "type": "float64", "datastream": "d"})
    twice = {
        "host": "plc",
        "registers": [{"address": 0, "datastream": "d"}, {"address": 1, "datastream": "d"}],
    }
    with pytest.raises(
        ValidationError, match=r"modbus device 'plc:502/1' reads more than one register into \['d'\]"
    ):
        ModbusSettings.model_validate(twice)
    device = ModbusSettings.model_validate(
        {"host": "plc", "interval": "2s", "registers": [{"address": 0, "datastream": "d"}]}
    )
    assert (device.label, device.stale_after_ms) == ("plc:502/1", 6_000)


def test_the_docs_example_is_a_valid_configuration() -> None:
    section = (Path(__file__).parents[3] / "docs/guides/send/modbus.md").read_text()
    example = section[section.index("```toml") + len("```toml") : section.index("```\n")]
    [device] = [ModbusSettings.model_validate(table) for table in tomllib.loads(example)["modbus"]]
    assert (device.label, device.stale_after_ms, len(device.registers)) == ("boiler-plc", 30_000, 2)
    assert device.registers[0].word_order == "little"

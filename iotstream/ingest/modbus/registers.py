"""Register words → numbers, in every byte and word order devices use.

Modbus carries 16-bit registers, each sent high byte first; a 32-bit value spans two. Devices differ
in both orders: ABCD (big, big), CDAB (low word first), BADC (bytes swapped) and DCBA (both). The
words are put in big word order, each word's bytes in big byte order, and the result is read as one
big-endian number.
"""

import struct

from iotstream.ingest.modbus.config import RegisterSettings

__all__ = ["decode"]

_FORMATS = {"int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I", "float32": ">f"}


def decode(words: list[int], register: RegisterSettings) -> int | float:
    """The scaled value of `register` from its raw words (as many as its type takes).

    >>> decode([0x4148, 0x0000], RegisterSettings(address=0, type="float32", datastream="t"))
    12.5
    >>> low_word_first = RegisterSettings(address=0, type="float32", word_order="little", datastream="t")
    >>> decode([0x0000, 0x4148], low_word_first)
    12.5
    >>> decode([0xFF38], RegisterSettings(address=0, type="int16", scale=0.1, datastream="t"))
    -20.0
    """
    if len(words) != register.words:
        raise ValueError(f"a {register.type} takes {register.words} registers, got {len(words)}")
    ordered = words if register.word_order == "big" else words[::-1]
    raw = b"".join(word.to_bytes(2, register.byte_order) for word in ordered)
    value: int | float = struct.unpack(_FORMATS[register.type], raw)[0]
    return value if register.scale == 1.0 else value * register.scale

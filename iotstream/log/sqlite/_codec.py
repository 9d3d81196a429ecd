"""Packs a partition's records into one batch blob and back (msgpack, via msgspec).

Each stored record is `(offset - base_offset, timestamp_ms, key, value, headers)`. Offsets are
explicit so compaction can drop records from a batch without renumbering the survivors.
"""

from collections.abc import Sequence

import msgspec

from iotstream.log.types import Headers, Record

__all__ = ["StoredRecord", "decode_batch", "decode_stored", "encode_batch"]

StoredRecord = tuple[int, int, bytes | None, bytes | None, Headers]

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(list[tuple[int, int, bytes | None, bytes | None, list[tuple[str, bytes]]]])


def encode_batch(records: Sequence[StoredRecord]) -> bytes:
    return _encoder.encode(records)


def decode_stored(payload: bytes) -> list[StoredRecord]:
    return _decoder.decode(payload)  # type: ignore[return-value]


def decode_batch(payload: bytes, topic: str, partition: int, base_offset: int) -> list[Record]:
    """Rebuild the public records of one batch."""
    return [
        Record(topic, partition, base_offset + delta, ts, key, value, headers)
        for delta, ts, key, value, headers in _decoder.decode(payload)
    ]

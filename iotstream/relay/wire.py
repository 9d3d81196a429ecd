"""What travels between an edge site's relay and the central site: batches of log records in msgpack,
gzip-compressed, and the cursors the central site answers with.

A batch carries each record's edge offset, so the central site can drop what it already has and say
where the edge should continue; it carries the edge's backlog too, for the central site's view of it.
"""

import gzip
import itertools
import zlib

import msgspec

__all__ = [
    "MAX_BATCH_BYTES",
    "MEDIA_TYPE",
    "Cursor",
    "RelayAnswer",
    "RelayBatch",
    "RelayPartition",
    "RelayRecord",
    "decode_batch",
    "encode_batch",
]

MEDIA_TYPE = "application/vnd.iotstream.relay+msgpack"


class RelayRecord(msgspec.Struct, array_like=True, frozen=True):
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = []


class RelayPartition(msgspec.Struct, frozen=True):
    topic: str
    partition: int
    records: list[RelayRecord]


class RelayBatch(msgspec.Struct, frozen=True):
    partitions: list[RelayPartition]
    backlog_records: int = 0  # what the edge had not relayed when it last looked, this batch included
    oldest_unsent_age_s: float | None = None
    rate: float = 0.0  # records per second the edge relayed lately
    origin: str = ""  # the identity of the edge's log (see `cursors.log_origin`)


class Cursor(msgspec.Struct, frozen=True):
    """The highest edge offset the central site has of one edge partition."""

    topic: str
    partition: int
    offset: int


class RelayAnswer(msgspec.Struct, frozen=True):
    cursors: list[Cursor]
    accepted: int = 0  # records new to the central site in this batch


_RESERVED = ("relay.", "jobs.", "registry.", "_")
MAX_BATCH_BYTES = 64 * 1024 * 1024  # decompressed: a small gzip body must not inflate without bound
_batch_decoder = msgspec.msgpack.Decoder(RelayBatch)
_encoder = msgspec.msgpack.Encoder()


def encode_batch(batch: RelayBatch, *, compress: bool = True) -> bytes:
    body = _encoder.encode(batch)
    return gzip.compress(body, compresslevel=1, mtime=0) if compress else body


def decode_batch(body: bytes, content_encoding: str | None) -> RelayBatch:
    """Raises `ValueError` with the reason for a body that is not a batch."""
    if content_encoding == "gzip":
        inflater = zlib.decompressobj(wbits=31)
        try:
            body = inflater.decompress(body, MAX_BATCH_BYTES)
        except zlib.error as err:
            raise ValueError(f"body is not gzip: {err}") from err
        if inflater.unconsumed_tail:
            raise ValueError(f"batch larger than {MAX_BATCH_BYTES} bytes once decompressed")
        if not inflater.eof:
            raise ValueError("body is not gzip, or it is cut short")
    elif content_encoding not in (None, "", "identity"):
        raise ValueError(f"Content-Encoding {content_encoding!r} is not supported; use gzip or none")
    try:
        batch = _batch_decoder.decode(body)
    except msgspec.DecodeError as err:
        raise ValueError(f"body is not a relay batch: {err}") from err
    for part in batch.partitions:
        _check(part)
    return batch


def _check(part: RelayPartition) -> None:
    """Offsets must rise within a partition (a cursor must never move back), and a site relays data,
    not the central site's own bookkeeping."""
    if part.topic.startswith(_RESERVED) and part.topic != "registry.datastreams":
        raise ValueError(f"topic {part.topic!r} is not relayed: the central site keeps its own")
    offsets = [r.offset for r in part.records]
    if any(a >= b for a, b in itertools.pairwise(offsets)) or (offsets and offsets[0] < 0):
        raise ValueError(f"{part.topic}[{part.partition}]: offsets must rise and be 0 or more")

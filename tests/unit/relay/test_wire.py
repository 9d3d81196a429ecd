"""The relay's batches on the wire: msgspec + gzip, and precise refusals of anything else."""

import gzip

import msgspec
import pytest

from iotstream.relay.wire import (
    MAX_BATCH_BYTES,
    RelayBatch,
    RelayPartition,
    RelayRecord,
    decode_batch,
    encode_batch,
)

BATCH = RelayBatch(
    [
        RelayPartition(
            "observations",
            2,
            [RelayRecord(7, 1_000, b"k", b'{"v":1}', [("h", b"1")]), RelayRecord(8, 1_001, None, None)],
        )
    ],
    backlog_records=12,
    oldest_unsent_age_s=3.5,
    rate=99.0,
)


@pytest.mark.parametrize("compress", [True, False])
def test_a_batch_survives_the_trip(compress: bool) -> None:
    body = encode_batch(BATCH, compress=compress)
    assert decode_batch(body, "gzip" if compress else None) == BATCH


def test_compression_shrinks_repetitive_readings() -> None:
    records = [
        RelayRecord(i, i, b"line-1/flow", b'{"datastream":"line-1/flow","time":%d,"value":1.5}' % i)
        for i in range(1_000)
    ]
    batch = RelayBatch([RelayPartition("observations", 0, records)])
    assert len(encode_batch(batch)) * 5 < len(encode_batch(batch, compress=False))


@pytest.mark.parametrize(
    ("body", "encoding", "reason"),
    [
        (b"not gzip", "gzip", "body is not gzip"),
        (msgspec.msgpack.encode({"partitions": "no"}), None, "body is not a relay batch"),
        (b"{}", "br", "Content-Encoding 'br' is not supported"),
        (gzip.compress(b"\0" * (MAX_BATCH_BYTES + 1)), "gzip", "larger than"),
    ],
)
def test_what_is_not_a_batch_is_refused_with_the_reason(
    body: bytes, encoding: str | None, reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        decode_batch(body, encoding)


@pytest.mark.parametrize(
    ("partition", "reason"),
    [
        (
            RelayPartition("observations", 0, [RelayRecord(5, 0, None, b"1"), RelayRecord(5, 0, None, b"2")]),
            "must rise",
        ),
        (RelayPartition("observations", 0, [RelayRecord(-1, 0, None, b"1")]), "0 or more"),
        (RelayPartition("relay.cursors", 0, []), "is not relayed"),
        (RelayPartition("jobs.home.checkpoints", 0, []), "is not relayed"),
    ],
)
def test_a_batch_that_would_move_a_cursor_back_or_touch_bookkeeping_is_refused(
    partition: RelayPartition, reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        decode_batch(encode_batch(RelayBatch([partition])), "gzip")

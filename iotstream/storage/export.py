"""Stored readings (or their rollups) of many datastreams as Arrow batches, written as CSV or Parquet.

One function pages through the store and one writer per format streams what it gets, so the REST
endpoint and `iotstream export` produce the same files and never hold a whole export in memory.

Readings: `datastream`, `time` (UTC, ms), `value` (a number) and `value_json` (any other value, as
JSON: a reading may be text, a boolean or an object, which one typed column cannot hold). With a
window (`1m`, `1h`, `1d`): `datastream`, `time` (the bucket's start), `count`, `sum`, `min`, `max`,
`avg`, `first` and `last` of the numeric readings.
"""

import io
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from iotstream.models import Observation
from iotstream.storage.base import BaseStorage

__all__ = ["FORMATS", "READINGS", "WINDOWED", "batches", "write"]

FORMATS = ("csv", "parquet")
_TIME = pa.timestamp("ms", tz="UTC")
READINGS = pa.schema(
    [("datastream", pa.string()), ("time", _TIME), ("value", pa.float64()), ("value_json", pa.string())]
)
WINDOWED = pa.schema(
    [("datastream", pa.string()), ("time", _TIME), ("count", pa.int64())]
    + [(name, pa.float64()) for name in ("sum", "min", "max", "avg", "first", "last")]
)
_PAGE = 50_000
_encode = msgspec.json.Encoder().encode


def batches(
    storage: BaseStorage, names: dict[str, str], start_ms: int, end_ms: int, window: str | None = None
) -> Iterator[pa.RecordBatch]:
    """The readings of each datastream (`names`: stream key → the name written), in name and time
    order, a page at a time; with a `window`, its rollup buckets."""
    for key, name in sorted(names.items(), key=lambda item: item[1]):
        if window is None:
            yield from _readings(storage, key, name, start_ms, end_ms)
        else:
            yield _buckets(storage, key, name, window, start_ms, end_ms)


def _readings(
    storage: BaseStorage, key: str, name: str, start_ms: int, end_ms: int
) -> Iterator[pa.RecordBatch]:
    after: int | None = None
    while True:
        rows = storage.raw(key, start_ms, end_ms, limit=_PAGE, after_ms=after)
        if rows:
            yield _reading_batch(name, rows)
        if len(rows) < _PAGE:
            return
        after = rows[-1].phenomenon_time_ms


def _reading_batch(name: str, rows: list[Observation]) -> pa.RecordBatch:
    numbers = [_number(row.result) for row in rows]
    texts = [
        None if number is not None else _encode(row.result).decode()
        for number, row in zip(numbers, rows, strict=True)
    ]
    columns = [[name] * len(rows), [row.phenomenon_time_ms for row in rows], numbers, texts]
    return pa.RecordBatch.from_arrays(
        [pa.array(c, type=f.type) for c, f in zip(columns, READINGS, strict=True)], schema=READINGS
    )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _buckets(
    storage: BaseStorage, key: str, name: str, window: str, start_ms: int, end_ms: int
) -> pa.RecordBatch:
    rows = storage.buckets(window, start_ms, end_ms, [key]).get(key, [])
    columns: list[list[Any]] = [[name] * len(rows), [b.start_ms for b in rows], [b.count for b in rows]]
    columns += [[getattr(b, field) for b in rows] for field in ("sum", "min", "max", "avg", "first", "last")]
    arrays = [pa.array(c, type=f.type) for c, f in zip(columns, WINDOWED, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=WINDOWED)


def write(parts: Iterable[pa.RecordBatch], schema: pa.Schema, form: str) -> Iterator[bytes]:
    """The file's bytes as each batch is written: a CSV with a header, or a Parquet file (a row group
    per batch, the footer last)."""
    sink = _Chunks()
    writer = _writer(sink, schema, form)
    for batch in parts:
        writer(batch)
        if sink.chunks:
            yield sink.take()
    writer(None)
    yield sink.take()


class _Chunks(io.RawIOBase):
    """A write-only file that hands over what was written: Parquet's footer needs true offsets
    (`tell`), so the bytes are passed on, never rewound."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self._written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.chunks.append(chunk)
        self._written += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._written

    def take(self) -> bytes:
        data, self.chunks = b"".join(self.chunks), []
        return data


def _writer(sink: _Chunks, schema: pa.Schema, form: str) -> Callable[[pa.RecordBatch | None], None]:
    if form == "csv":
        csv = pa_csv.CSVWriter(sink, schema)
        return lambda batch: csv.write_batch(batch) if batch is not None else csv.close()
    parquet = pq.ParquetWriter(sink, schema)
    return lambda batch: parquet.write_batch(batch) if batch is not None else parquet.close()

"""A long Parquet file's readings a column at a time: the importer's fast way through typed files.

Times in a timestamp column (with a zone, or without one in a UTC import) or in a numeric column, and
names and values as Arrow gives them, become readings in one pass with no dictionary per row. A batch
whose times are text, or naive in another zone, goes row by row (`files.row_readings`), with the same
results.
"""

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq

from iotstream.client.files import (
    _UNITS_MS,
    Chunk,
    Columns,
    add_row,
    arrow_rows,
    decoded,
    row_readings,
    text_value,
)

__all__ = ["parquet_chunks"]


def parquet_chunks(path: Path, columns: Columns, skip: int, rows: int) -> Iterator[Chunk]:
    file = pq.ParquetFile(path)
    zone = ZoneInfo(columns.timezone)
    start = 0
    for batch in file.iter_batches(batch_size=rows):
        first, start = start, start + batch.num_rows
        if start <= skip:
            continue
        if first < skip:
            batch, first = batch.slice(skip - first), skip
        yield _columns_chunk(batch, columns, first) or _rows_chunk(batch, columns, zone, first)


def _columns_chunk(batch: pa.RecordBatch, columns: Columns, first: int) -> Chunk | None:
    """The batch a column at a time, or None when it must go row by row (times that need parsing, or a
    value Python cannot hold, which only the row-by-row way refuses alone)."""
    times = _times(batch, columns)
    if times is None:
        return None
    try:
        return _chunk(batch, columns, times, first)
    except OverflowError:
        return None


def _rows_chunk(batch: pa.RecordBatch, columns: Columns, zone: ZoneInfo, first: int) -> Chunk:
    chunk = Chunk(last_row=first)
    for row, item in enumerate(arrow_rows(batch), start=first + 1):
        add_row(chunk, row, row_readings(item, columns, zone))
    return chunk


def _times(batch: pa.RecordBatch, columns: Columns) -> list[int | None] | None:
    """Epoch ms per row, or None when this batch's times need parsing row by row."""
    if columns.time not in batch.schema.names:
        return None
    column = batch.column(columns.time)
    kind = column.type
    if pa.types.is_timestamp(kind) and (kind.tz is not None or columns.timezone == "UTC"):
        in_ms = column.cast(pa.timestamp("ms", kind.tz), safe=False)  # finer units cut to the ms
        return in_ms.cast(pa.int64()).to_pylist()  # type: ignore[no-any-return]
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        raws = column.to_pylist()
        if pa.types.is_floating(kind) and not all(math.isfinite(raw) for raw in raws if raw is not None):
            return None  # row by row, which says which row's time is not a number
        factor = _UNITS_MS[columns.time_unit]
        return [None if raw is None else round(raw * factor) for raw in raws]
    return None


def _chunk(batch: pa.RecordBatch, columns: Columns, times: list[int | None], first: int) -> Chunk:
    names = _column(batch, columns.datastream)
    values = _values(batch, columns)
    chunk = Chunk(last_row=first + batch.num_rows)
    if _complete(batch, columns, names, times):
        chunk.columns = (names, times, values)  # type: ignore[assignment]  # no None in times
        return chunk
    readings, rows_of, refused = chunk.readings, chunk.rows_of, chunk.refused
    for row, name, when, value in zip(
        range(first + 1, first + batch.num_rows + 1), names, times, values, strict=True
    ):
        if not name:
            refused.append((row, f"no {columns.datastream!r} column value"))
        elif when is None:
            refused.append((row, f"no {columns.time!r} column value"))
        elif value is None or value == "":
            refused.append((row, f"no {columns.value!r} column value"))
        else:
            readings.append({"datastream": str(name), "time": when, "value": value})
            rows_of.append(row)
    return chunk


def _complete(batch: pa.RecordBatch, columns: Columns, names: list[Any], times: list[int | None]) -> bool:
    """Whether every row gives a reading (the checks of `_chunk`'s loop, mostly from the columns'
    null counts): named by text, with a time, and a number or text value."""
    schema = batch.schema.names
    if columns.datastream not in schema or columns.value not in schema or "value_json" in schema:
        return False
    name_column, value_column = batch.column(columns.datastream), batch.column(columns.value)
    return (
        pa.types.is_string(name_column.type)
        and name_column.null_count == 0
        and "" not in names
        and None not in times
        and value_column.null_count == 0
        and (pa.types.is_integer(value_column.type) or pa.types.is_floating(value_column.type))
    )


def _column(batch: pa.RecordBatch, name: str) -> list[Any]:
    return batch.column(name).to_pylist() if name in batch.schema.names else [None] * batch.num_rows


def _values(batch: pa.RecordBatch, columns: Columns) -> list[Any]:
    """The value column's, or the `value_json` column's where an export put a value that is not a
    number; text that holds a number is that number, as in a CSV file."""
    values = _column(batch, columns.value)
    kind = batch.schema.field(columns.value).type if columns.value in batch.schema.names else None
    if kind is not None and (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        values = [text_value(value) for value in values]
    if "value_json" in batch.schema.names:
        texts = batch.column("value_json").to_pylist()
        values = [
            value if text in (None, "") else decoded(text) for value, text in zip(values, texts, strict=True)
        ]
    return values

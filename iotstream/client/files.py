"""Rows of a CSV, Parquet or JSON-lines file as readings, in file order, each with its row number.

Long files have a datastream, a time and a value column (named as `Columns` says; an `iotstream
export` file's `value_json` column holds the values that are not numbers). Wide files have a time
column and one column per datastream. A row that gives no reading yields the reason instead, so an
import reports it by line and goes on.

`chunks` hands them over some thousands of rows at a time. A long Parquet file with typed columns is
read a column at a time (`_columns`): no dictionary per row, several times faster; every other file,
and any batch whose times need parsing, row by row.
"""

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from iotstream._units import epoch_ms

__all__ = [
    "CHUNK_ROWS",
    "FORMATS",
    "Chunk",
    "Columns",
    "UnreadableFileError",
    "arrow_rows",
    "chunks",
    "count_rows",
    "file_format",
    "readings",
]

FORMATS = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
_UNITS_MS = {"ms": 1, "s": 1000, "us": 0.001, "ns": 0.000001}
Reading = dict[str, Any]
CHUNK_ROWS = 10_000


class UnreadableFileError(ValueError):
    """The file cannot be read on from some point (not UTF-8, not CSV, a damaged Parquet file); the
    message names the file. What came before that point was read."""


def _read_errors() -> tuple[type[Exception], ...]:
    """What parsers raise for a damaged file; pyarrow's only when it is loaded (for a Parquet file)."""
    import sys

    arrow = sys.modules.get("pyarrow")
    return (UnicodeDecodeError, csv.Error, OSError) + ((arrow.ArrowException,) if arrow else ())


def _unreadable(path: Path, err: Exception) -> UnreadableFileError:
    return UnreadableFileError(f"{path.name} cannot be read on: {type(err).__name__}: {err}")


@dataclass(frozen=True)
class Columns:
    datastream: str = "datastream"
    time: str = "time"
    value: str = "value"
    wide: bool = False  # every other column is a datastream
    time_unit: str = "ms"  # of numeric times: s, ms, us or ns since 1970
    timezone: str = "UTC"  # of times written without one


def file_format(path: Path) -> str:
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"{path.name}: not a .csv, .parquet or .jsonl file")
    return kind


def count_rows(path: Path) -> int:
    """Data rows in the file, for a progress bar: Parquet says; text files are counted by line."""
    try:
        return _count_rows(path)
    except _read_errors() as err:
        raise _unreadable(path, err) from None


def _count_rows(path: Path) -> int:
    if file_format(path) == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    with path.open("rb") as file:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: file.read(1 << 20), b""))
    return lines - 1 if file_format(path) == "csv" else lines


@dataclass
class Chunk:
    readings: list[Reading] = field(default_factory=list)
    rows_of: list[int] = field(default_factory=list)  # each reading's row (from 1)
    refused: list[tuple[int, str]] = field(default_factory=list)  # rows that gave none, with why
    last_row: int = 0
    # Instead of `readings`: a long Parquet batch whose every row gave a reading, as the datastream,
    # time (epoch ms) and value columns, its rows from `last_row - len + 1`. No dictionary per row.
    columns: tuple[list[str], list[int], list[Any]] | None = None

    def as_readings(self) -> None:
        """Turn `columns` into `readings`, for a sender that takes rows."""
        if self.columns is not None:
            names, times, values = self.columns
            first = self.last_row - len(names) + 1
            self.readings = [
                {"datastream": name, "time": when, "value": value}
                for name, when, value in zip(names, times, values, strict=True)
            ]
            self.rows_of = list(range(first, self.last_row + 1))
            self.columns = None


def chunks(path: Path, columns: Columns, skip: int = 0) -> Iterator[Chunk]:
    """The readings of the rows after `skip`, in file order, a few thousand rows at a time; an
    `UnreadableFileError` where the file cannot be read on."""
    try:
        yield from _chunks(path, columns, skip)
    except _read_errors() as err:
        raise _unreadable(path, err) from None


def _chunks(path: Path, columns: Columns, skip: int) -> Iterator[Chunk]:
    if file_format(path) == "parquet" and not columns.wide:
        from iotstream.client._parquet import parquet_chunks

        yield from parquet_chunks(path, columns, skip, CHUNK_ROWS)
        return
    chunk = Chunk(last_row=skip)
    for row, result in readings(path, columns, skip):
        add_row(chunk, row, result)
        if len(chunk.rows_of) + len(chunk.refused) >= CHUNK_ROWS:
            yield chunk
            chunk = Chunk(last_row=row)
    yield chunk


def add_row(chunk: Chunk, row: int, result: list[Reading] | str) -> None:
    chunk.last_row = row
    if isinstance(result, str):
        chunk.refused.append((row, result))
    else:
        chunk.readings += result
        chunk.rows_of += [row] * len(result)


def readings(path: Path, columns: Columns, skip: int = 0) -> Iterator[tuple[int, list[Reading] | str]]:
    """(row number from 1, the row's readings or why it has none), from row `skip + 1` on."""
    zone = ZoneInfo(columns.timezone)
    for number, row in enumerate(_rows(path), start=1):
        if number > skip:
            yield number, row_readings(row, columns, zone)


def _rows(path: Path) -> Iterator[dict[str, Any] | str]:
    kind = file_format(path)
    if kind == "parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=10_000):
            yield from arrow_rows(batch)
    elif kind == "csv":
        with path.open(newline="", encoding="utf-8") as file:
            yield from csv.DictReader(file)
    else:
        with path.open("rb") as file:
            for line in file:
                yield _json_row(line)


def arrow_rows(batch: Any) -> Iterator[dict[str, Any] | str]:
    """A record batch's rows as dictionaries; a row holding what Python cannot (a timestamp past the
    year 9999) is the reason instead, and only that row."""
    try:
        rows = batch.to_pylist()
    except OverflowError:
        for index in range(batch.num_rows):
            try:
                yield batch.slice(index, 1).to_pylist()[0]
            except OverflowError as err:
                yield f"a value Python cannot hold: {err}"
        return
    yield from rows


def _json_row(line: bytes) -> dict[str, Any] | str:
    try:
        row = msgspec.json.decode(line)
    except msgspec.DecodeError as err:
        return f"not JSON: {err}"
    return row if isinstance(row, dict) else f"a line must be a JSON object, got {type(row).__name__}"


def row_readings(row: dict[str, Any] | str, columns: Columns, zone: ZoneInfo) -> list[Reading] | str:
    if isinstance(row, str):
        return row
    when = _time(row.get(columns.time), columns, zone)
    if isinstance(when, str):
        return when
    if columns.wide:
        found = (
            (name, text_value(raw))
            for name, raw in row.items()
            if name != columns.time and raw not in (None, "")
        )
        return [{"datastream": name, "time": when, "value": value} for name, value in found]
    name = row.get(columns.datastream)
    if not name:
        return f"no {columns.datastream!r} column value"
    json_text = row.get("value_json")  # an export's: the value as it was, text stays text
    value = decoded(json_text) if json_text not in (None, "") else text_value(row.get(columns.value))
    if value is None or value == "":
        return f"no {columns.value!r} column value"
    return [{"datastream": str(name), "time": when, "value": value}]


def _time(raw: Any, columns: Columns, zone: ZoneInfo) -> int | str:
    if isinstance(raw, datetime):
        aware = raw if raw.tzinfo else raw.replace(tzinfo=zone)
        return epoch_ms(aware)
    if isinstance(raw, str) and raw.lstrip("-").isdigit():
        try:
            raw = int(raw)
        except ValueError:  # more digits than Python turns into a number
            return f"time {raw[:20]}... is not a number of {columns.time_unit}"
    if isinstance(raw, float) and not math.isfinite(raw):
        return f"time {raw} is not a number of {columns.time_unit}"
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return round(raw * _UNITS_MS[columns.time_unit])
    if not isinstance(raw, str) or not raw:
        return f"no {columns.time!r} column value"
    try:
        return _time(datetime.fromisoformat(raw.replace("Z", "+00:00")), columns, zone)
    except ValueError:
        return f"time {raw!r} is not ISO-8601 or a number"


def text_value(raw: Any) -> Any:
    """CSV cells are text: a number in it is a number (as every other format already gives it)."""
    if not isinstance(raw, str):
        return raw
    try:
        number = float(raw)
    except ValueError:
        return raw
    return raw if not math.isfinite(number) else (int(raw) if raw.lstrip("-").isdigit() else number)


def decoded(text: Any) -> Any:
    try:
        return msgspec.json.decode(text)
    except (msgspec.DecodeError, TypeError):
        return text

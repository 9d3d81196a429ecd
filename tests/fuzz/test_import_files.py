"""Files for `iotstream import`, CSV, JSON lines and Parquet, with anything in them: every row gives its
readings or the reason it has none, and a file that cannot be read at all is one error that names it -
never an exception from deep inside a parser."""

import io
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given
from hypothesis import strategies as st

from iotstream.client.files import Chunk, Columns, UnreadableFileError, chunks, count_rows
from tests.fuzz import fuzz

CELLS = st.one_of(
    st.text(max_size=12),
    st.integers().map(str),
    st.floats().map(str),
    st.datetimes().map(lambda d: d.isoformat()),
    st.sampled_from(["", "nan", "inf", "-0", "1" * 5000, "2024-05-01T10:00:00Z", "\x00", '"', "\r"]),
)
HEADERS = st.lists(st.sampled_from(["datastream", "time", "value", "value_json", "x", ""]), max_size=5)
TEXT_FILES = st.one_of(
    st.binary(max_size=300),
    st.builds(
        lambda header, rows: "\n".join(",".join(r) for r in [header, *rows]).encode("utf-8", "surrogatepass"),
        HEADERS,
        st.lists(st.lists(CELLS, max_size=5), max_size=6),
    ),
)
ARROW_COLUMNS = st.sampled_from(
    [
        pa.array(["a", None, "b"]),
        pa.array([1, 2, None], pa.int64()),
        pa.array([1.5, float("nan"), float("inf")]),
        pa.array([10**18, -(10**18), 0], pa.int64()),
        pa.array([0, 1, 2], pa.timestamp("ns", "UTC")),
        pa.array([0, 2**62, -(2**62)], pa.timestamp("us")),
        pa.array([True, False, None]),
        pa.array([b"\xff", b"", None]),
        pa.array(["2024-05-01T10:00:00", "x", ""]),
    ]
)


def _read_all(path: Path, columns: Columns) -> list[Chunk]:
    try:
        count_rows(path)
        return list(chunks(path, columns))
    except UnreadableFileError as err:
        message = str(err)
    assert path.name in message, message
    return []


def _check(read: list[Chunk]) -> None:
    for chunk in read:
        chunk.as_readings()
        assert len(chunk.readings) == len(chunk.rows_of)
        assert all(reason for _, reason in chunk.refused)
        for reading in chunk.readings:
            assert set(reading) == {"datastream", "time", "value"}
            assert isinstance(reading["time"], int)


@fuzz(300)
@given(TEXT_FILES, st.sampled_from([".csv", ".jsonl"]), st.booleans(), st.sampled_from(["ms", "s", "ns"]))
def test_any_text_file_gives_rows_and_reasons_or_one_error_naming_it(
    content: bytes, suffix: str, wide: bool, unit: str
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory, f"history{suffix}")
        path.write_bytes(content)
        _check(_read_all(path, Columns(wide=wide, time_unit=unit)))


@fuzz(150)
@given(
    st.dictionaries(st.sampled_from(["datastream", "time", "value", "other"]), ARROW_COLUMNS, min_size=1),
    st.booleans(),
    st.sampled_from(["UTC", "Europe/Berlin"]),
)
def test_any_parquet_columns_give_rows_and_reasons(columns: dict[str, Any], wide: bool, zone: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory, "history.parquet")
        pq.write_table(pa.table(columns), path)
        _check(_read_all(path, Columns(wide=wide, timezone=zone)))


@fuzz(100)
@given(st.binary(max_size=200), st.integers(0, 400))
def test_a_damaged_parquet_file_is_one_error_naming_it(noise: bytes, at: int) -> None:
    buffer = io.BytesIO()
    pq.write_table(pa.table({"datastream": ["a"] * 3, "time": [1, 2, 3], "value": [1.0, 2.0, 3.0]}), buffer)
    content = bytearray(buffer.getvalue())
    content[at : at + len(noise)] = noise
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory, "history.parquet")
        path.write_bytes(bytes(content))
        _check(_read_all(path, Columns()))

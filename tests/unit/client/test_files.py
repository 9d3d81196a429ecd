"""Files of history as readings: the same values whichever way a file is read."""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from iotstream.client.files import Columns, chunks

T0 = 1_704_067_200_000


def readings_and_refusals(path: Path) -> tuple[list[tuple[str, int, object]], list[tuple[int, str]]]:
    found, refused = [], []
    for chunk in chunks(path, Columns()):
        found += [(r["datastream"], r["time"], r["value"]) for r in chunk.readings]
        refused += chunk.refused
    return found, refused


def test_an_exports_text_value_stays_text_even_when_it_holds_a_number(tmp_path: Path) -> None:
    (tmp_path / "export.csv").write_text(
        f'datastream,time,value,value_json\ncode,{T0},,"""12"""\nn,{T0},12,\n'
    )
    table = pa.table(
        {
            "datastream": ["code", "n"],
            "time": pa.array([T0, T0], pa.timestamp("ms", tz="UTC")),
            "value": pa.array([None, 12.0]),
            "value_json": ['"12"', None],
        }
    )
    pq.write_table(table, tmp_path / "export.parquet")
    for name in ("export.csv", "export.parquet"):
        assert readings_and_refusals(tmp_path / name) == ([("code", T0, "12"), ("n", T0, 12)], []), name


def test_text_values_of_any_string_type_become_numbers_as_in_csv(tmp_path: Path) -> None:
    for kind in (pa.string(), pa.large_string()):  # polars writes large strings
        table = pa.table(
            {"datastream": ["s"], "time": pa.array([T0], pa.int64()), "value": pa.array(["21.5"], kind)}
        )
        pq.write_table(table, tmp_path / "typed.parquet")
        assert readings_and_refusals(tmp_path / "typed.parquet") == ([("s", T0, 21.5)], [])


def test_a_time_that_is_not_a_number_refuses_its_row_only(tmp_path: Path) -> None:
    table = pa.table(
        {"datastream": ["s", "s"], "time": pa.array([float("nan"), T0 / 1000]), "value": [1.0, 2.0]}
    )
    pq.write_table(table, tmp_path / "seconds.parquet")
    columns = Columns(time_unit="s")
    found = [
        (r["time"], r["value"]) for c in chunks(tmp_path / "seconds.parquet", columns) for r in c.readings
    ]
    refused = [r for c in chunks(tmp_path / "seconds.parquet", columns) for r in c.refused]
    assert found == [(T0, 2.0)]
    assert refused == [(1, "time nan is not a number of s")]

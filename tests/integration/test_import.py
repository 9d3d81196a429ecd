"""`iotstream import`: CSV, Parquet and JSON lines, long and wide, into a running platform, with bad
rows reported by line, an interrupted import resumed, a repeated one stored once, and an export
imported into an empty platform giving back the same readings."""

import io
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform
from iotstream.log import TopicPartition, open_log
from iotstream.log.topics import OBSERVATIONS

T0 = 1_704_067_200_000  # 2024-01-01
KEEP_ALL = {"raw": "36500d", "1m": "36500d", "1h": "36500d"}
Cli = Callable[..., Any]


@pytest.fixture
def platforms(tmp_path: Path) -> Iterator[Callable[[str], EmbeddedPlatform]]:
    started: list[EmbeddedPlatform] = []

    def start(name: str) -> EmbeddedPlatform:
        settings = load_settings(data_dir=tmp_path / name, api={"port": 0}, storage={"retention": KEEP_ALL})
        started.append(EmbeddedPlatform(settings).start())
        return started[-1]

    yield start
    for platform in started:
        platform.stop()


def url_of(platform: EmbeddedPlatform) -> str:
    assert platform.api is not None
    return platform.api.url


def stored(url: str, name: str) -> list[tuple[str, Any]]:
    rows = httpx.get(f"{url}/api/v1/readings", params={"datastream": name, "limit": 100_000}).json()
    return [(row["time"], row["value"]) for row in rows]


def wait(ready: Callable[[], Any], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_long_csv_and_json_lines_with_bad_rows_reported_by_line(
    platforms: Callable[[str], EmbeddedPlatform], cli: Cli, tmp_path: Path
) -> None:
    url = url_of(platforms("long"))
    (tmp_path / "house.csv").write_text(
        "sensor,at,reading\n"
        "W1,2024-01-01T00:00:00,1.5\n"
        "W1,yesterday,2\n"  # row 2: a time that does not parse
        "door,2024-01-01T01:00:00,open\n"
        "W1,1704070800,7\n"  # epoch seconds (--time-unit s)
        ",2024-01-01T02:00:00,3\n"  # row 5: no datastream
    )
    done = cli(
        "import", "house.csv", "--url", url, "--datastream-column", "sensor", "--time-column", "at",
        "--value-column", "reading", "--time-unit", "s", "--timezone", "Europe/Berlin",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "row 2: time 'yesterday' is not ISO-8601 or a number" in done.stderr
    assert "row 5: no 'sensor' column value" in done.stderr
    assert "imported 3 readings from house.csv; 2 rows could not be read" in done.stderr
    wait(lambda: stored(url, "door"))
    assert stored(url, "W1") == [("2023-12-31T23:00:00Z", 1.5), ("2024-01-01T01:00:00Z", 7)]  # Berlin: UTC+1
    assert stored(url, "door") == [("2024-01-01T00:00:00Z", "open")]
    assert not (tmp_path / "house.csv.import-state").exists()  # finished

    lines = [
        {"datastream": "pump", "time": T0, "value": {"on": True}},
        {"datastream": "pump", "time": -5, "value": 1},
    ]
    (tmp_path / "pump.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines) + "[1]\n")
    done = cli("import", "pump.jsonl", "--url", url)
    assert done.returncode == 0, done.stderr
    assert "row 2: 'time' -5 is before 1970" in done.stderr  # refused by the platform, by its line
    assert "row 3: a line must be a JSON object, got list" in done.stderr
    wait(lambda: stored(url, "pump"))
    assert stored(url, "pump") == [("2024-01-01T00:00:00Z", {"on": True})]


def test_a_wide_parquet_file_resumed_after_an_interruption_and_imported_again_is_stored_once(
    platforms: Callable[[str], EmbeddedPlatform], cli: Cli, tmp_path: Path
) -> None:
    url = url_of(platforms("wide"))
    times = pa.array([T0 + i * 60_000 for i in range(10)], type=pa.timestamp("ms", tz="UTC"))
    table = pa.table(
        {"time": times, "E1": [float(i) for i in range(10)], "W1": [i if i % 2 else None for i in range(10)]}
    )
    pq.write_table(table, tmp_path / "meters.parquet", row_group_size=4)
    stat = (tmp_path / "meters.parquet").stat()
    state = {
        "rows": 6,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
    }  # as an import stopped after row 6
    (tmp_path / "meters.parquet.import-state").write_text(json.dumps(state))
    resumed = cli("import", "meters.parquet", "--url", url, "--wide", "--batch", "3")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after row 6" in resumed.stderr
    wait(lambda: len(stored(url, "E1")) == 4)
    assert [value for _, value in stored(url, "E1")] == [6.0, 7.0, 8.0, 9.0]
    for again in (["--restart"], []):
        done = cli("import", "meters.parquet", "--url", url, "--wide", *again)
        assert done.returncode == 0, done.stderr
    wait(lambda: len(stored(url, "E1")) == 10)
    time.sleep(0.5)  # and no more come
    assert [value for _, value in stored(url, "E1")] == [float(i) for i in range(10)]  # once each
    assert [value for _, value in stored(url, "W1")] == [1, 3, 5, 7, 9]


def test_an_import_state_from_another_file_is_not_trusted(
    platforms: Callable[[str], EmbeddedPlatform], cli: Cli, tmp_path: Path
) -> None:
    url = url_of(platforms("changed"))
    (tmp_path / "a.csv").write_text("datastream,time,value\nx,0,1\n")
    (tmp_path / "a.csv.import-state").write_text(json.dumps({"rows": 1, "size": 1, "mtime_ns": 1}))
    refused = cli("import", "a.csv", "--url", url)
    assert refused.returncode != 0
    assert "a.csv changed since the import stopped; use --restart to start over" in refused.stderr


def test_an_export_imported_into_an_empty_platform_gives_the_same_readings(
    platforms: Callable[[str], EmbeddedPlatform], cli: Cli, tmp_path: Path
) -> None:
    source, target = url_of(platforms("source")), url_of(platforms("target"))
    readings = [{"datastream": f"s{i % 3}", "time": T0 + i * 1000, "value": i / 4} for i in range(300)]
    readings += [
        {"datastream": "door", "time": T0, "value": "open"},
        {"datastream": "flag", "time": T0, "value": True},
    ]
    assert httpx.post(f"{source}/api/v1/readings", json=readings).json()["accepted"] == len(readings)
    wait(lambda: len(stored(source, "s2")) == 100 and stored(source, "flag"))
    exported = httpx.get(f"{source}/api/v1/export", params={"datastream": "*", "format": "parquet"}).content
    (tmp_path / "all.parquet").write_bytes(exported)
    done = cli("import", "all.parquet", "--url", target)
    assert done.returncode == 0, done.stderr
    wait(lambda: len(stored(target, "s2")) == 100 and stored(target, "flag"))
    again = httpx.get(f"{target}/api/v1/export", params={"datastream": "*", "format": "parquet"}).content
    assert pq.read_table(io.BytesIO(again)).equals(pq.read_table(io.BytesIO(exported)))
    for name in ("s0", "door", "flag"):
        assert stored(target, name) == stored(source, name)


def long_parquet(path: Path, rows: list[tuple[Any, int | None, Any]], time_type: pa.DataType) -> None:
    """Times given in ms, written as `time_type` holds them."""
    as_written = {
        pa.int64(): lambda ms: ms,
        pa.string(): lambda ms: datetime.fromtimestamp(ms / 1000, UTC).isoformat(),
    }.get(time_type, lambda ms: ms * 1000)  # microseconds
    names, times, values = zip(*rows, strict=True)
    times = [None if ms is None else as_written(ms) for ms in times]
    table = pa.table(
        {"datastream": list(names), "time": pa.array(times, type=time_type), "value": list(values)}
    )
    pq.write_table(table, path, row_group_size=3)


@pytest.mark.parametrize("time_type", [pa.timestamp("us", tz="Europe/Berlin"), pa.int64(), pa.string()])
def test_without_url_a_file_goes_straight_into_the_log_with_the_same_checks(
    cli: Cli, tmp_path: Path, time_type: pa.DataType
) -> None:
    """The platform's log, shared between processes: the import runs without the platform, or beside
    it, and the store takes the readings either way. Bad rows are reported by line, whichever way the
    columns are read (a column at a time for typed times, row by row for text)."""
    keep_all = "".join(f'"{tier}" = "{keep}"\n' for tier, keep in KEEP_ALL.items())
    (tmp_path / "iotstream.toml").write_text(
        f'data_dir = "{tmp_path / "data"}"\n[storage.retention]\n{keep_all}'
    )
    minute = T0 + 60_000
    rows = [("s1", T0, 1.0), ("s1", None, 2.0), (None, T0, 3.0), ("s2", T0, None), ("s2", minute, 4.5)]
    long_parquet(tmp_path / "history.parquet", [*rows, ("s1", minute, -1.0)], time_type)
    done = cli("import", "history.parquet", "--batch", "2")
    assert done.returncode == 0, done.stderr
    assert "row 2: no 'time' column value" in done.stderr
    assert "row 3: no 'datastream' column value" in done.stderr
    assert "row 4: no 'value' column value" in done.stderr
    assert "imported 3 readings from history.parquet; 3 rows could not be read" in done.stderr
    with EmbeddedPlatform(load_settings(tmp_path / "iotstream.toml", api={"port": 0})) as platform:
        url = url_of(platform)
        wait(lambda: len(stored(url, "s1")) == 2 and stored(url, "s2"))
        assert stored(url, "s1") == [("2024-01-01T00:00:00Z", 1.0), ("2024-01-01T00:01:00Z", -1.0)]
        assert stored(url, "s2") == [("2024-01-01T00:01:00Z", 4.5)]
        (tmp_path / "more.csv").write_text(f"datastream,time,value\ns3,{T0},9\n")
        beside = cli("import", "more.csv")  # while the platform runs on the same log
        assert beside.returncode == 0, beside.stderr
        wait(lambda: stored(url, "s3") == [("2024-01-01T00:00:00Z", 9)])


def _log_readings(config: Path) -> list[tuple[bytes | None, dict[str, Any]]]:
    """Every record of `observations` in log order: its key and its reading, without the time it was
    taken (which differs between two imports)."""
    with open_log(load_settings(config).log) as log, log.consumer() as consumer:
        consumer.assign([TopicPartition(OBSERVATIONS, 0)])
        records = []
        while batch := consumer.poll(max_records=10_000, timeout_s=0.5):
            records += batch
    readings = [(record.key, json.loads(record.value or b"")) for record in records]
    return [(key, {k: v for k, v in reading.items() if k != "resultTime"}) for key, reading in readings]


def test_worker_processes_write_the_records_this_process_would_in_file_order(
    cli: Cli, tmp_path: Path
) -> None:
    """`--processes 2` has worker processes encode the typed batches; the log gets the same records in
    the same order as with `--processes 0`, and a batch a column check refuses (a NaN) still goes row
    by row, its bad row reported by line."""
    count = 25_000
    values = [float("nan") if i == 12_345 else i / 4 for i in range(count)]
    table = pa.table(
        {
            "datastream": [f"s{i % 7}" for i in range(count)],
            "time": pa.array([T0 + i * 1_000 for i in range(count)], pa.timestamp("ms", "UTC")),
            "value": values,
        }
    )
    pq.write_table(table, tmp_path / "history.parquet", row_group_size=2_500)  # ten batches
    logs = {}
    for processes in ("0", "2"):
        config = tmp_path / f"{processes}.toml"
        config.write_text(f'data_dir = "{tmp_path / processes}"\n')
        done = cli("--config", config.name, "import", "history.parquet", "--processes", processes)
        assert done.returncode == 0, done.stderr
        assert "row 12346: 'value' nan is not a finite number" in done.stderr
        assert f"imported {count - 1} readings from history.parquet" in done.stderr
        logs[processes] = _log_readings(config)
    assert logs["2"] == logs["0"]
    kept = [i for i in range(count) if i != 12_345]
    assert [(key, reading["time"]) for key, reading in logs["2"]] == [
        (f"s{i % 7}".encode(), T0 + i * 1_000) for i in kept
    ]

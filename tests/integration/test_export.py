"""`GET /api/v1/export` and `iotstream export`: every matching datastream's readings or rollups, as CSV
and Parquet files that pandas-free tools (pyarrow) read back to exactly what the API answers."""

import io
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform

T0 = 1_704_067_200_000  # 2024-01-01
KEEP_ALL = {"raw": "36500d", "1m": "36500d", "1h": "36500d"}
READINGS = [
    *({"datastream": "house/W1", "time": T0 + i * 60_000, "value": i * 1.5} for i in range(130)),
    *({"datastream": "house/E1", "time": T0 + i * 600_000, "value": 1000 + i} for i in range(20)),
    {"datastream": "house/door", "time": T0, "value": "open"},
    {"datastream": "house/door", "time": T0 + 1, "value": {"state": "closed", "by": "wind"}},
    {"datastream": "garden/rain", "time": T0, "value": 0.2},
]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("export"), api={"port": 0}, storage={"retention": KEEP_ALL}
    )
    platform = EmbeddedPlatform(settings).start()
    assert platform.api is not None
    try:
        with httpx.Client(base_url=platform.api.url, timeout=30) as client:
            assert client.post("/api/v1/readings", json=READINGS).json()["accepted"] == len(READINGS)
            _wait_stored(client)
            yield client
    finally:
        platform.stop()


def _wait_stored(client: httpx.Client) -> None:
    deadline = time.monotonic() + 30
    while len(client.get("/api/v1/readings", params={"datastream": "garden/rain"}).json()) < 1:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def read_file(content: bytes, form: str) -> pa.Table:
    if form == "parquet":
        return pq.read_table(io.BytesIO(content))
    nulls = pa_csv.ConvertOptions(strings_can_be_null=True)  # a null is an empty field, "" is quoted
    return pa_csv.read_csv(io.BytesIO(content), convert_options=nulls)


def as_rows(table: pa.Table) -> list[tuple[Any, ...]]:
    columns = table.to_pydict()
    times = [int(t.timestamp() * 1000) for t in columns["time"]]
    return list(zip(columns["datastream"], times, columns["value"], columns["value_json"], strict=True))


@pytest.mark.parametrize("form", ["csv", "parquet"])
def test_the_readings_of_every_matching_datastream_come_back_exactly(api: httpx.Client, form: str) -> None:
    answer = api.get("/api/v1/export", params={"datastream": "house/*", "format": form})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-disposition"] == f'attachment; filename="iotstream-export.{form}"'
    rows = as_rows(read_file(answer.content, form))
    expected = []
    for name in ("house/E1", "house/W1", "house/door"):  # by name, then time
        for reading in api.get("/api/v1/readings", params={"datastream": name, "limit": 1000}).json():
            value = reading["value"]
            number = float(value) if isinstance(value, int | float) else None
            text = None if number is not None else msgspec.json.encode(value).decode()
            expected.append((name, _ms(reading["time"]), number, text))
    assert len(rows) == 152
    assert rows == expected
    assert [r[3] for r in rows if r[3]] == ['"open"', '{"state":"closed","by":"wind"}']


def test_a_range_and_rollup_buckets(api: httpx.Client) -> None:
    params = {"datastream": "house/W1", "format": "parquet", "window": "1h", "from": "2024-01-01T00:00:00Z"}
    table = pq.read_table(
        io.BytesIO(api.get("/api/v1/export", params=params | {"to": "2024-01-01T02:00:00Z"}).content)
    )
    columns = table.to_pydict()
    assert columns["count"] == [60, 60]
    assert columns["avg"] == [
        pytest.approx(sum(i * 1.5 for i in range(60)) / 60),
        pytest.approx(sum(i * 1.5 for i in range(60, 120)) / 60),
    ]
    assert columns["first"] == [0.0, 90.0]
    assert table.schema.field("time").type == pa.timestamp("ms", tz="UTC")


def test_no_match_and_bad_options_are_refused_precisely(api: httpx.Client) -> None:
    missing = api.get("/api/v1/export", params={"datastream": "nothing/*"})
    assert (missing.status_code, missing.json()["detail"]) == (404, "no datastream matches 'nothing/*'")
    assert api.get("/api/v1/export", params={"datastream": "*", "format": "xlsx"}).status_code == 422
    assert api.get("/api/v1/export", params={"datastream": "*", "window": "5m"}).status_code == 422


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def test_the_cli_exports_from_a_running_platform_and_from_a_stopped_ones_store(
    api: httpx.Client, cli: Callable[..., Any], tmp_path: Path
) -> None:
    rest = api.get("/api/v1/export", params={"datastream": "house/*", "format": "parquet"}).content
    done = cli("export", "--url", str(api.base_url), "--datastream", "house/*", "-o", "house.parquet")
    assert done.returncode == 0, done.stderr
    assert pq.read_table(tmp_path / "house.parquet").equals(pq.read_table(io.BytesIO(rest)))

    data = tmp_path / "data"
    platform = EmbeddedPlatform(
        load_settings(data_dir=data, api={"port": 0}, storage={"retention": KEEP_ALL})
    )
    platform.start()
    try:
        assert platform.api is not None
        with httpx.Client(base_url=platform.api.url, timeout=30) as client:
            client.post("/api/v1/readings", json=READINGS[-3:])
            _wait_stored(client)
    finally:
        platform.stop()
    retention = '[storage.retention]\nraw = "36500d"\n"1m" = "36500d"\n"1h" = "36500d"\n'
    (tmp_path / "iotstream.toml").write_text(f'data_dir = "{data}"\n{retention}')
    local = cli("export", "--datastream", "*", "--from", "2024-01-01T00:00:00Z")
    assert local.returncode == 0, local.stderr
    nulls = pa_csv.ConvertOptions(strings_can_be_null=True)
    rows = as_rows(pa_csv.read_csv(io.BytesIO(local.stdout.encode()), convert_options=nulls))
    assert rows == [
        ("garden/rain", T0, 0.2, None),
        ("house/door", T0, None, '"open"'),
        ("house/door", T0 + 1, None, '{"state":"closed","by":"wind"}'),
    ]
    refused = cli("export", "--datastream", "*", "--format", "xlsx")
    assert refused.returncode != 0
    assert "--format 'xlsx': use csv or parquet" in refused.stderr

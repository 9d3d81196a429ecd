"""`iotstream up` in one process: what arrives on the log ends up in the store."""

import time
from pathlib import Path

import msgspec
import pytest

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform
from tests.servers import fresh_database


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_readings_on_the_log_are_stored_while_the_platform_runs(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    store_url = (
        f"duckdb:///{tmp_path}/store.duckdb"
        if backend == "duckdb"
        else fresh_database(request.getfixturevalue("postgres_url"))
    )
    settings = load_settings(
        None, log={"url": f"sqlite:///{tmp_path}/log.db", "linger_ms": 0}, storage={"url": store_url}
    )
    now_ms = int(time.time() * 1000)
    with EmbeddedPlatform(settings) as platform:
        assert platform.log is not None
        assert platform.storage is not None
        with platform.log.producer() as producer:
            for i in range(100):
                reading = {"datastream": f"s{i % 4}", "time": now_ms - 1_000 * i, "value": float(i)}
                producer.produce("observations", msgspec.json.encode(reading), f"s{i % 4}".encode())
        deadline = time.monotonic() + 30  # the newest come first: wait for all, not for those
        while (
            sum(len(platform.storage.raw(f"s{k}", 0, now_ms + 1)) for k in range(4)) < 100
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        assert {name: o.result for name, o in platform.storage.latest().items()} == {
            "s0": 0.0,
            "s1": 1.0,
            "s2": 2.0,
            "s3": 3.0,
        }
        assert sum(len(platform.storage.raw(f"s{k}", 0, now_ms + 1)) for k in range(4)) == 100
    assert platform.storage is None  # stopped: the sink committed and the store is closed

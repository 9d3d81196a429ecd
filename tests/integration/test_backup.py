"""Backups as the operating guide describes them: stop the platform, copy its data directory, and a
platform started on the copy has every reading, entity and registration the original had."""

import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.servers import start_up

READINGS = [
    {"datastream": "boiler-1/temp", "time": 1_767_225_600_000 + i * 60_000, "value": 60.0 + i}
    for i in range(5)
]


def _stored(url: str) -> list[dict[str, object]]:
    answer = httpx.get(f"{url}/api/v1/readings", params={"datastream": "boiler-1/temp", "from": 0})
    return [{"time": r["time"], "value": r["value"]} for r in answer.json()]


def _things(url: str) -> list[str]:
    return sorted(thing["name"] for thing in httpx.get(f"{url}/v1.1/Things").json()["value"])


def _stop(process: "subprocess.Popen[str]") -> None:
    process.send_signal(signal.SIGTERM)  # flushes what it holds, then exits
    assert process.wait(timeout=60) == 0


def test_a_copy_of_a_stopped_platforms_data_directory_has_everything(tmp_path: Path) -> None:
    original = tmp_path / "original"
    original.mkdir()
    (original / "iotstream.toml").write_text('data_dir = "iotstream-data"\n')
    process, url = start_up(original)
    try:
        assert httpx.post(f"{url}/api/v1/readings", json=READINGS).status_code == 202
        thing = httpx.post(f"{url}/v1.1/Things", json={"name": "boiler room"})
        assert thing.status_code == 201
        deadline = time.monotonic() + 30
        while len(_stored(url)) < len(READINGS):
            assert time.monotonic() < deadline, "the readings were never stored"
            time.sleep(0.2)
        before = _stored(url), _things(url)
    finally:
        _stop(process)
    shutil.copytree(original / "iotstream-data", tmp_path / "restored" / "iotstream-data")
    (tmp_path / "restored" / "iotstream.toml").write_text('data_dir = "iotstream-data"\n')
    process, url = start_up(tmp_path / "restored")
    try:
        assert (_stored(url), _things(url)) == before
        assert "boiler room" in before[1]
    finally:
        _stop(process)

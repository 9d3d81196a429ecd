"""Faults from outside: the disk fills up under `iotstream up`, and its log or store file is damaged.

A full disk is a small tmpfs the test mounts (as root, which CI is) and fills with a ballast file."""

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import start_up

pytestmark = [pytest.mark.slow, pytest.mark.crash]

T0 = 1_714_557_600_000


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    assert os.geteuid() == 0, "the disk-full test mounts a 32 MB tmpfs: run it as root (CI does)"
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(path: Path, leave_bytes: int) -> None:
    """Writes zeros until only `leave_bytes` are free on `path`'s filesystem."""
    free = os.statvfs(path.parent)
    size = free.f_bavail * free.f_frsize - leave_bytes
    with path.open("wb") as ballast:
        ballast.write(b"\0" * size)


def _post_until_refused(api: httpx.Client, first: int) -> tuple[list[int], httpx.Response]:
    """Batches of 1,000 numbered readings until one is refused: the numbers acknowledged, the refusal."""
    acknowledged: list[int] = []
    number = first
    for _ in range(1_000):
        numbers = range(number, number + 1_000)
        batch = [{"datastream": f"d{n % 10}", "time": T0 + n, "value": n} for n in numbers]
        answer = api.post("/api/v1/readings", json=batch)
        if answer.status_code != 202:
            return acknowledged, answer
        acknowledged += numbers
        number += 1_000
    raise AssertionError("the disk never filled up")


def _stored(api: httpx.Client) -> set[int]:
    numbers: set[int] = set()
    for d in range(10):
        rows = api.get("/api/v1/readings", params={"datastream": f"d{d}", "limit": 100_000}).json()
        numbers |= {r["value"] for r in rows}
    return numbers


def test_a_full_disk_refuses_readings_with_503_loses_nothing_and_resumes_when_space_returns(
    small_disk: Path,
) -> None:
    (small_disk / "iotstream.toml").write_text('[storage.retention]\nraw = "36500d"\n')
    process, url = start_up(small_disk)
    try:
        with httpx.Client(base_url=url, timeout=30) as api:
            ballast = small_disk / "ballast"
            _fill(ballast, leave_bytes=3 * 1024**2)
            acknowledged, refused = _post_until_refused(api, 0)
            assert refused.status_code == 503, refused.text
            assert refused.headers["retry-after"]
            assert "full" in refused.json()["detail"], refused.json()
            new = api.post("/api/v1/readings", json={"datastream": "new-one", "time": T0, "value": 1})
            assert new.status_code == 503, new.text  # registering it in the catalog needs the disk too
            ballast.unlink()  # space returns
            later = [{"datastream": "d0", "time": T0 - 1, "value": -1}]
            deadline = time.monotonic() + 30
            while (answer := api.post("/api/v1/readings", json=later)).status_code != 202:
                assert time.monotonic() < deadline, answer.text
                time.sleep(0.5)
            deadline = time.monotonic() + 60
            while missing := set(acknowledged) - _stored(api):
                assert time.monotonic() < deadline, f"{len(missing)} acknowledged readings not stored"
                time.sleep(0.5)
            assert api.get("/healthz").json() == {"status": "ok"}
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    assert process.returncode == 0


@pytest.mark.parametrize(
    ("damaged", "says"),
    [
        ("log.db", "restore it from a backup or move it away to start an empty log"),
        ("store.duckdb", "restore it from a backup, or move it away to start an empty store"),
    ],
)
def test_a_damaged_log_or_store_file_stops_the_start_with_its_name_and_the_way_out(
    tmp_path: Path, damaged: str, says: str
) -> None:
    (tmp_path / "iotstream.toml").write_text("")
    process, url = start_up(tmp_path)
    try:
        answer = httpx.post(f"{url}/api/v1/readings", json={"datastream": "a", "time": T0, "value": 1})
        assert answer.status_code == 202
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    with (tmp_path / "iotstream-data" / damaged).open("r+b") as file:
        file.write(b"not a database " * 20)  # over the header
    with pytest.raises(RuntimeError) as refused:
        start_up(tmp_path)
    message = str(refused.value)
    assert f"iotstream-data/{damaged}" in message, message
    assert says in message, message

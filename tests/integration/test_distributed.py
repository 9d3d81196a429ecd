"""The distributed mode as separate processes on Tansu (Kafka protocol) and PostgreSQL: two `api`, two
`jobs`, a `sink` and a `notify` process. One `jobs` process is SIGKILLed midway; the survivor takes its
partitions over with their state from the log, and the results equal the readings' own."""

import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.test_end_to_end import check_against_the_readings, house
from tests.meters import DAY, HOME, job_toml
from tests.servers import Server, fresh_database, roles_config, run_roles, start_tansu, url_of

pytestmark = [pytest.mark.slow, pytest.mark.crash]

LATENESS = "3d"  # the 2-day-late readings correct their days; the 10-day-late ones are late


def _config(kafka: str, storage: str, registry: str) -> str:
    notify = '[notify]\nsinks = [{ type = "log" }]\n'
    job = job_toml(HOME, allowed_lateness=LATENESS, idle_timeout="2s")
    return roles_config(kafka, storage, registry) + notify + job


@pytest.fixture
def tansu(tmp_path: Path) -> Iterator[Server]:
    broker = start_tansu(tmp_path)  # its own: the platform's topics have fixed names
    yield broker
    broker.stop()


@pytest.fixture
def processes() -> Iterator[dict[str, subprocess.Popen[str]]]:
    started: dict[str, subprocess.Popen[str]] = {}
    yield started
    for process in started.values():
        if process.poll() is None:
            process.kill()
            process.wait()


def _post(url: str, readings: list[dict[str, Any]]) -> None:
    """Batches of 25, five a second (~12 s in all): the kill lands while readings arrive."""
    with httpx.Client(base_url=url, timeout=60) as api:
        for start in range(0, len(readings), 25):
            answer = api.post("/api/v1/readings", content=msgspec.json.encode(readings[start : start + 25]))
            assert answer.status_code == 202, answer.text
            assert answer.json()["rejected"] == []
            time.sleep(0.2)


def _events_in(url: str) -> float:
    """What the `home` job has read in that process, from its /metrics."""
    families = text_string_to_metric_families(httpx.get(f"{url}/metrics").text)
    events = next(family for family in families if family.name == "iotstream_job_events")
    return sum(sample.value for sample in events.samples if sample.labels.get("job") == "home")


def _start(tmp_path: Path, processes: dict[str, subprocess.Popen[str]], name: str, *roles: str) -> str:
    """`iotstream run ROLES` as `name`; returns where it answers HTTP."""
    processes[name], banner = run_roles(tmp_path, *roles)
    return url_of(banner)


def test_a_jobs_process_killed_midway_changes_no_result(
    tmp_path: Path, tansu: Server, postgres_url: str, processes: dict[str, subprocess.Popen[str]]
) -> None:
    kafka = f"kafka://127.0.0.1:{tansu.port}"
    storage, registry = fresh_database(postgres_url), fresh_database(postgres_url)
    (tmp_path / "iotstream.toml").write_text(_config(kafka, storage, registry))
    urls = [_start(tmp_path, processes, f"api-{n}", "api", "registry") for n in (1, 2)]
    doomed = _start(tmp_path, processes, "jobs-1", "jobs")
    for name in ("jobs-2", "sink", "notify"):
        _start(tmp_path, processes, name, name.split("-")[0])

    readings = house()
    names = sorted({r["datastream"] for r in readings})
    shares = [[r for r in readings if names.index(r["datastream"]) % 2 == i] for i in range(2)]
    posters = [threading.Thread(target=_post, args=(urls[i], shares[i])) for i in range(2)]
    for poster in posters:
        poster.start()
    deadline = time.monotonic() + 60
    while _events_in(doomed) == 0:  # it owns partitions and works on them
        assert time.monotonic() < deadline, "jobs-1 never read a reading"
        time.sleep(0.1)
    time.sleep(3)  # past a checkpoint (every 2 s): its state is in the log
    processes["jobs-1"].send_signal(signal.SIGKILL)
    processes["jobs-1"].wait()
    assert all(poster.is_alive() for poster in posters), "every reading was in before the kill"
    for poster in posters:
        poster.join()

    with httpx.Client(base_url=urls[0], timeout=60) as api:
        check_against_the_readings(api, readings, 3 * DAY)
        for name in names:  # every accepted reading stored once
            stored = api.get("/api/v1/readings", params={"datastream": name, "limit": 100_000}).json()
            assert len(stored) == len({r["time"] for r in readings if r["datastream"] == name}), name
    for name, process in processes.items():
        if name != "jobs-1":
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 0, name

"""Roles composed into processes: `iotstream run` with some roles here and the others in another process
on the same log, store and catalog; `Platform` opening only what its roles use."""

import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from iotstream.config import load_settings
from iotstream.roles import Platform, UnknownRoleError
from iotstream.roles.base import ThreadedRole
from iotstream.roles.parts import Parts
from tests.integration.test_up_crash import CONFIG, D0
from tests.meters import DAY
from tests.servers import fresh_database, run_roles, start_postgres, url_of

pytestmark = pytest.mark.slow

JOB = CONFIG  # every tier kept, and a daily meter job summing `load`


def _process_of(process: subprocess.Popen[str]) -> str:
    return f"{socket.gethostname()}:{process.pid}"


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_ways_in_and_the_sink_with_the_jobs_run_as_two_processes(
    tmp_path: Path, postgres_url: str, processes: list[subprocess.Popen[str]]
) -> None:
    """The API process takes readings into the log; the other process's sink stores them in PostgreSQL
    and its meter job aggregates them, and the API serves both."""
    storage = fresh_database(postgres_url)
    (tmp_path / "iotstream.toml").write_text(f'[storage]\nurl = "{storage}"\n{JOB}')
    api, api_banner = run_roles(tmp_path, "api", "registry")
    processes.append(api)
    back, back_banner = run_roles(tmp_path, "sink", "jobs")
    processes.append(back)
    url = url_of(api_banner)
    back_url = url_of(back_banner)  # its health listener: no API there
    assert "roles: registry, api" in "".join(api_banner)
    assert "roles: sink, jobs" in "".join(back_banner)
    for process_url in (url, back_url):
        assert httpx.get(f"{process_url}/healthz").json() == {"status": "ok"}
        assert _ready(process_url) == [{"status": "ok"}]  # once its consumers hold their partitions
    assert httpx.get(f"{back_url}/api/v1/readings").status_code == 404  # no API there, but its counters:
    assert set(httpx.get(f"{back_url}/api/v1/stats").json()) >= {"sink", "jobs", "lag"}
    metrics = text_string_to_metric_families(httpx.get(f"{back_url}/metrics").text)
    counter = next(family for family in metrics if family.name == "iotstream_readings_stored")
    assert counter.samples[0].labels == {"roles": "sink,jobs", "process": _process_of(back)}

    readings = [{"datastream": "load", "time": D0 + i * 60_000, "value": 1} for i in range(10)]
    readings.append({"datastream": "load", "time": D0 + DAY, "value": 1})  # closes the first day
    with httpx.Client(base_url=url, timeout=10) as client:
        assert client.post("/api/v1/readings", json=readings).status_code == 202
        stored = _eventually(lambda: client.get("/api/v1/readings", params=_day("load")).json(), 11)
        daily = _eventually(lambda: client.get("/api/v1/aggregates", params={"datastream": "load"}).json(), 1)
    assert [reading["value"] for reading in stored] == [1] * 11
    assert (daily[0]["count"], daily[0]["sum"]) == (10, 10)

    for process in processes:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0  # a graceful stop


def test_a_platform_opens_only_what_its_roles_use(tmp_path: Path) -> None:
    settings = load_settings(None, data_dir=tmp_path)
    with Platform(settings, ["sink"]) as platform:
        assert platform.log is not None
        assert platform.storage is not None
        assert (platform.catalog, platform.ingestor, platform.api) == (None, None, None)
        assert platform.running()[-1].startswith("storage sink:")
        assert platform.problems() == []
    assert platform.log is None  # closed


@pytest.mark.crash
def test_readiness_goes_false_while_postgresql_is_stopped_and_comes_back(tmp_path: Path) -> None:
    server, url = start_postgres()
    try:
        settings = load_settings(None, data_dir=tmp_path, storage={"url": url}, api={"port": 0})
        with Platform(settings, ["sink"]) as platform, httpx.Client(base_url=platform.url) as probe:
            ready = _eventually(lambda: [probe.get("/readyz").json()], 1, until={"status": "ok"})
            assert ready == [{"status": "ok"}]
            server.stop()
            answer = probe.get("/readyz")
            assert answer.status_code == 503
            [problem] = answer.json()["problems"]
            assert problem.startswith("storage: ")
            assert probe.get("/healthz").json() == {"status": "ok"}  # alive: the sink retries meanwhile
            server.restart()
            ready = _eventually(lambda: [probe.get("/readyz").json()], 1, until={"status": "ok"})
            assert ready == [{"status": "ok"}]
    finally:
        server.cleanup()


def test_a_jobs_process_without_a_partition_is_alive_but_not_ready(tmp_path: Path) -> None:
    """Two processes of one job over a one-partition topic: one holds it, the other stands by."""
    rule = {"type": "threshold", "name": "hot", "datastreams": ["*"], "above": 30.0}
    settings = load_settings(None, data_dir=tmp_path, jobs=[rule], api={"port": 0})
    ready, unready = {"status": "ok"}, {"status": "failing", "problems": ["jobs: no partitions assigned yet"]}
    with Platform(settings, ["jobs"]) as first, Platform(settings, ["jobs"]) as second:
        urls = [first.url, second.url]
        deadline = time.monotonic() + 30
        while (answers := [httpx.get(f"{url}/readyz").json() for url in urls]) not in (
            [ready, unready],
            [unready, ready],
        ):
            assert time.monotonic() < deadline, answers
            time.sleep(0.1)
        assert [httpx.get(f"{url}/healthz").json() for url in urls] == [ready, ready]


def test_an_unknown_role_is_refused_with_the_names_of_the_roles() -> None:
    names = "sink, registry, notify, jobs, relay, sources, api, mqtt"
    with pytest.raises(UnknownRoleError, match=f"no role 'web'; the roles are {names}"):
        Platform(load_settings(None), ["api", "web"])


class _Dies(ThreadedRole):
    name = "dies"
    description = "a loop that ends at once"

    def start(self, parts: Parts) -> None:
        self.spawn("iotstream-dies", lambda stop: None)


def test_a_role_whose_loop_ended_reports_it() -> None:
    role = _Dies()
    role.start(Parts(load_settings(None)))
    deadline = time.monotonic() + 5
    while not role.problems() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert role.problems() == ["iotstream-dies stopped"]
    role.stop()
    assert role.problems() == []


def _day(datastream: str) -> dict[str, object]:
    return {"datastream": datastream, "from": D0, "to": D0 + 2 * DAY}


Rows = list[dict[str, object]]


def _ready(url: str) -> Rows:
    return _eventually(lambda: [httpx.get(f"{url}/readyz").json()], 1, until={"status": "ok"})


def _eventually(
    query: Callable[[], Rows], count: int, timeout_s: float = 30, until: dict[str, object] | None = None
) -> Rows:
    """The rows once there are `count` (and the last equals `until`, if given), or what came last."""
    deadline = time.monotonic() + timeout_s
    while True:
        rows = query()
        if (len(rows) >= count and until in (None, rows[-1])) or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)

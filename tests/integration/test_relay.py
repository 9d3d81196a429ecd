"""An edge and a central site as separate processes, with a link between them the test cuts: every
reading the edge accepted is stored at the central site exactly once, in order per datastream."""

import itertools
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import msgspec
import pytest
from playwright.sync_api import Browser
from prometheus_client.parser import text_string_to_metric_families

from iotstream._units import parse_time_ms
from iotstream.log import LogSettings, TopicPartition, open_log
from tests.devices import Device, send, wait_for
from tests.proxy import TcpProxy
from tests.servers import Server, free_port, run_roles, start_mqtt_broker

pytestmark = [pytest.mark.slow, pytest.mark.crash]

EDGE_ROLES = ("sink", "registry", "relay", "api")
CENTRAL_ROLES = ("sink", "registry", "api")
DATASTREAMS = [f"line-{i}/flow" for i in range(8)]


class Site:
    """One platform process (`iotstream run`) in its own directory, restartable on the same port."""

    def __init__(self, directory: Path, roles: tuple[str, ...], config: str) -> None:
        self.directory, self.roles, self.port = directory, roles, free_port()
        directory.mkdir()
        (directory / "iotstream.toml").write_text(config)
        self.process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Site":
        output = (self.directory / "output.log").open("a")  # closed when the process ends
        self.process, _ = run_roles(self.directory, *self.roles, port=self.port, output=output)
        return self

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(60)


def site_config(extra: str = "") -> str:
    return f"""
data_dir = "data"
[log]
linger_ms = 1
[storage.retention]
raw = "36500d"
[mqtt]
enabled = false
embedded = false
{extra}
"""


def edge_config(central_url: str, relay: str = "") -> str:
    return site_config(f"""
[relay]
to = "{central_url}"
timeout_ms = "1s"
retry_max_ms = "200ms"
{relay}
""").replace('data_dir = "data"', 'site = "plant-7"\ndata_dir = "data"')


class Load:
    """Posts readings to the edge at a steady pace; remembers those it accepted, and those whose answer
    never came (the edge may or may not have taken them: it was killed, or the answer was lost)."""

    def __init__(self, url: str, per_second: int = 400) -> None:
        self._url = url
        self._per_request = max(per_second // 50, 1)
        self.accepted: list[tuple[str, int]] = []
        self.unanswered: list[tuple[str, int]] = []
        self._stop = threading.Event()
        self._times = itertools.count(1_700_000_000_000, 1_000)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Load":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self._stop.wait(0.02):
                when = next(self._times)
                batch = [
                    {
                        "datastream": DATASTREAMS[(when // 1000 + i) % len(DATASTREAMS)],
                        "time": when + i,
                        "value": i,
                    }
                    for i in range(self._per_request)
                ]
                readings = [(r["datastream"], r["time"]) for r in batch]
                try:
                    response = client.post(f"{self._url}/api/v1/readings", json=batch)
                except httpx.ConnectError:
                    continue  # never reached the edge
                except httpx.HTTPError:
                    self.unanswered += readings
                    continue
                if response.status_code == 202:
                    self.accepted += readings


@contextmanager
def linked(tmp_path: Path, relay: str = "", *, cut: bool = False) -> Iterator[tuple[Site, TcpProxy, Site]]:
    """A central and an edge site with the proxy between them; with `cut`, the edge starts cut off."""
    central = Site(tmp_path / "central", CENTRAL_ROLES, site_config()).start()
    proxy = TcpProxy(central.port)
    if cut:
        proxy.refuse()
    edge = Site(tmp_path / "edge", EDGE_ROLES, edge_config(proxy.url, relay)).start()
    try:
        yield central, proxy, edge
    finally:
        edge.stop()
        proxy.close()
        central.stop()


@pytest.fixture
def sites(tmp_path: Path) -> Iterator[tuple[Site, TcpProxy, Site]]:
    with linked(tmp_path) as linked_sites:
        yield linked_sites


def relayed_readings(central: Site) -> list[tuple[str, int]]:
    """Every reading in the central log's `observations`, in log order per partition."""
    log = open_log(LogSettings(url=f"sqlite:///{central.directory / 'data' / 'log.db'}"))
    consumer = log.consumer()
    partitions = [
        TopicPartition("observations", p) for p in range(log.describe_topic("observations").spec.partitions)
    ]
    consumer.assign(partitions)
    ends = log.end_offsets(partitions)
    found = []
    while any(consumer.position(tp) < end for tp, end in ends.items()):
        for record in consumer.poll(max_records=10_000, timeout_s=0.2):
            value = msgspec.json.decode(record.value or b"{}")
            found.append((value["datastream"], value["time"]))
    consumer.close()
    log.close()
    return found


def wait_until_relayed(
    edge: Site, central: Site, expected: int, timeout_s: float = 60
) -> list[tuple[str, int]]:
    deadline = time.monotonic() + timeout_s
    found: list[tuple[str, int]] = []
    while time.monotonic() < deadline:
        status = httpx.get(f"{edge.url}/api/v1/relay").json()
        found = relayed_readings(central)
        if status["backlog_records"] == 0 and len(found) >= expected:
            return found
        time.sleep(0.5)
    raise AssertionError(
        f"{len(found)} of {expected} readings reached the central site; edge relay: {status}"
    )


def assert_exactly_once_in_order(
    accepted: list[tuple[str, int]], found: list[tuple[str, int]], unanswered: Sequence[tuple[str, int]] = ()
) -> None:
    """Every accepted reading once, nothing the edge was not sent, and each datastream in order."""
    assert len(found) == len(set(found)), "a reading reached the central log twice"
    central = {(f"plant-7/{name}", when) for name, when in accepted}
    maybe = {(f"plant-7/{name}", when) for name, when in unanswered}
    assert central <= set(found), (
        f"{len(central - set(found))} accepted readings never reached the central log"
    )
    assert set(found) <= central | maybe, "the central log has readings nobody sent"
    for name in DATASTREAMS:
        times = [when for stream, when in found if stream == f"plant-7/{name}"]
        assert times == sorted(times), f"{name}: the central log has its readings out of order"


@pytest.mark.parametrize("cut", ["refused", "black-holed"])
def test_an_outage_and_an_edge_restart_lose_and_double_nothing(
    sites: tuple[Site, TcpProxy, Site], cut: str
) -> None:
    central, proxy, edge = sites
    with Load(edge.url) as load:
        time.sleep(2)
        proxy.refuse() if cut == "refused" else proxy.black_hole()
        time.sleep(2)
        deadline = time.monotonic() + 10  # a black-holed request fails after [relay] timeout_ms
        while (status := httpx.get(f"{edge.url}/api/v1/relay").json())[
            "connected"
        ] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert status["connected"] is False, status
        assert status["backlog_records"] > 0, status
        assert status["last_error"], status
        edge.kill()  # a crash, during the outage
        edge.start()
        time.sleep(2)
        proxy.restore()
        time.sleep(2)
    found = wait_until_relayed(edge, central, len(load.accepted))
    assert_exactly_once_in_order(load.accepted, found, load.unanswered)
    assert httpx.get(f"{edge.url}/api/v1/relay").json()["connected"] is True
    deadline = time.monotonic() + 10  # the edge's next batch or heartbeat reports its backlog
    while (site := httpx.get(f"{central.url}/api/v1/sites").json()[0])[
        "lag_records"
    ] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert site["site"] == "plant-7"
    assert site["lag_records"] == 0


def test_a_central_restart_mid_stream_loses_and_doubles_nothing(sites: tuple[Site, TcpProxy, Site]) -> None:
    central, _, edge = sites
    with Load(edge.url) as load:
        time.sleep(2)
        central.kill()
        time.sleep(1)
        central.start()
        time.sleep(2)
    found = wait_until_relayed(edge, central, len(load.accepted))
    assert_exactly_once_in_order(load.accepted, found, load.unanswered)
    expected = sorted(when for name, when in load.accepted if name == DATASTREAMS[0])
    deadline, stored = time.monotonic() + 30, []
    while time.monotonic() < deadline and len(stored) < len(expected):
        time.sleep(0.2)
        params = {"datastream": f"plant-7/{DATASTREAMS[0]}", "limit": 100_000, "from": "2023-01-01"}
        stored = httpx.get(f"{central.url}/api/v1/readings", params=params).json()
    assert [parse_time_ms(r["time"], 0) for r in stored] == expected


def post_until_refused(edge: Site, limit: int) -> tuple[list[tuple[str, int]], httpx.Response | None]:
    """Readings posted in batches of 50 while the link is down: those accepted, and the first refusal."""
    accepted: list[tuple[str, int]] = []
    for start in range(0, limit, 50):
        batch = [
            {"datastream": DATASTREAMS[i % 8], "time": 1_700_000_000_000 + i, "value": i}
            for i in range(start, start + 50)
        ]
        response = httpx.post(f"{edge.url}/api/v1/readings", json=batch)
        if response.status_code != 202:
            return accepted, response
        accepted += [(r["datastream"], r["time"]) for r in batch]
        time.sleep(0.05)
    return accepted, None


def test_a_full_backlog_refuses_readings_and_loses_none_it_accepted(tmp_path: Path) -> None:
    with linked(tmp_path, 'max_backlog = "40KB"', cut=True) as (central, proxy, edge):
        accepted, refusal = post_until_refused(edge, 20_000)
        assert refusal is not None, "the edge never refused readings past max_backlog"
        assert refusal.status_code == 503
        assert "max_backlog" in refusal.json()["detail"]
        assert refusal.headers["Retry-After"]
        proxy.restore()
        found = wait_until_relayed(edge, central, len(accepted))
        assert_exactly_once_in_order(accepted, found)
        reading = {"datastream": "x", "value": 1}
        assert httpx.post(f"{edge.url}/api/v1/readings", json=reading).status_code == 202


def test_drop_oldest_skips_the_oldest_and_counts_them(tmp_path: Path) -> None:
    relay = 'max_backlog = "40KB"\non_full = "drop_oldest"'
    with linked(tmp_path, relay, cut=True) as (central, proxy, edge):
        accepted, refusal = post_until_refused(edge, 3_000)
        assert refusal is None, refusal.text if refusal else ""
        time.sleep(1)  # the next measurement
        dropped = httpx.get(f"{edge.url}/api/v1/relay").json()["dropped"]
        assert dropped > 0
        proxy.restore()
        found = wait_until_relayed(edge, central, len(accepted) - dropped)
        assert len(found) == len(accepted) - dropped
        assert len(set(found)) == len(found)
        for name in DATASTREAMS:  # what is left of each datastream is its newest readings, in order
            sent = [when for stream, when in accepted if stream == name]
            kept = [when for stream, when in found if stream == f"plant-7/{name}"]
            assert kept == sent[len(sent) - len(kept) :]


def test_commands_reach_an_edge_device_once_and_its_answers_come_back(tmp_path: Path) -> None:
    broker = start_mqtt_broker(tmp_path)
    central = Site(tmp_path / "central", CENTRAL_ROLES, site_config()).start()
    proxy = TcpProxy(central.port)
    mqtt = f'enabled = true\nurl = "mqtt://127.0.0.1:{broker.port}"\nversion = {_mqtt_version(broker)}'
    config = edge_config(proxy.url).replace("enabled = false\nembedded = false", mqtt)
    edge = Site(tmp_path / "edge", (*EDGE_ROLES, "mqtt"), config).start()
    device, sleepy = Device(broker.port), Device(broker.port, answers=False)
    try:
        wait_for_site(central, "plant-7")
        write = send(central.url, device.name, "write", "/3311/0/5850", value=0.7, site="plant-7")
        assert wait_for(central.url, write, "succeeded", "failed", "expired")["state"] == "succeeded"
        read = send(central.url, device.name, "read", "/3311/0/5850", site="plant-7")
        assert wait_for(central.url, read, "succeeded", "failed", "expired")["value"] == 0.7
        never = send(central.url, sleepy.name, "execute", "/3/0/4", timeout="3s", site="plant-7")
        assert wait_for(central.url, never, "expired", "succeeded", "failed")["state"] == "expired"
        assert [c["ticket"] for c in sleepy.received] == [never]

        proxy.refuse()
        queued = send(central.url, device.name, "read", "/3311/0/5850", timeout="60s", site="plant-7")
        time.sleep(2)
        assert httpx.get(f"{central.url}/api/v1/commands/{queued}").json()["state"] == "queued"
        for site in (central, edge):  # both sites restart while the command waits
            site.kill()
            site.start()
        assert httpx.get(f"{central.url}/api/v1/commands/{queued}").json()["state"] == "queued"
        proxy.restore()
        assert wait_for(central.url, queued, "succeeded", "failed", "expired")["value"] == 0.7
        assert [c["ticket"] for c in device.received] == [write, read, queued]  # each exactly once
    finally:
        device.close()
        sleepy.close()
        edge.stop()
        proxy.close()
        central.stop()
        broker.stop()


def _mqtt_version(broker: Server) -> int:
    return 5 if "mosquitto" in Path(broker.argv[0]).name else 3  # the amqtt fallback speaks 3.1.1 only


def wait_for_site(central: Site, name: str, timeout_s: float = 30) -> None:
    """Commands may name a site once it has relayed to the central site."""
    deadline = time.monotonic() + timeout_s
    while not any(site["site"] == name for site in httpx.get(f"{central.url}/api/v1/sites").json()):
        assert time.monotonic() < deadline, f"site {name} never relayed"
        time.sleep(0.2)


def metric(url: str, name: str, **labels: str) -> float:
    """One sample of `url`'s /metrics."""
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                return float(sample.value)
    raise AssertionError(f"{url}/metrics has no {name} {labels}")


def test_both_ends_show_the_link_on_metrics_and_the_pipeline_page(
    sites: tuple[Site, TcpProxy, Site], browser: Browser
) -> None:
    central, proxy, edge = sites
    with Load(edge.url):
        wait_for_site(central, "plant-7")
        page = browser.new_page()
        page.goto(f"{central.url}/ui/#/health")
        page.wait_for_selector("#sites td:text('plant-7')")
        page.goto(f"{edge.url}/ui/#/health")
        page.wait_for_selector("#relay [data-card='link'] .big:text('connected')")
        assert metric(edge.url, "iotstream_relay_connected") == 1
        assert metric(central.url, "iotstream_site_records_total", site="plant-7") > 0
        proxy.refuse()
        page.wait_for_selector("#relay [data-card='link'] .big:text('down')", timeout=10_000)
        assert "last error" in page.inner_text("[data-relay-error]")
        assert metric(edge.url, "iotstream_relay_connected") == 0
        assert metric(edge.url, "iotstream_relay_backlog_records") > 0
        assert metric(central.url, "iotstream_site_lag_seconds", site="plant-7") >= 0
        proxy.restore()


def test_central_jobs_and_alert_rules_work_on_relayed_readings(tmp_path: Path) -> None:
    rule = """
[[jobs]]
type = "threshold"
name = "hot"
datastreams = ["plant-7/*"]
above = 50.0
out_of_orderness = "0s"
"""
    central = Site(tmp_path / "central", ("sink", "registry", "jobs", "api"), site_config(rule)).start()
    edge = Site(tmp_path / "edge", EDGE_ROLES, edge_config(central.url)).start()
    try:
        now_ms = int(time.time() * 1000)
        readings = [
            {"datastream": "boiler/temp", "time": now_ms + i * 1000, "value": v}
            for i, v in enumerate([20, 60, 70, 20])
        ]
        assert httpx.post(f"{edge.url}/api/v1/readings", json=readings).status_code == 202
        deadline, episodes = time.monotonic() + 30, []
        while time.monotonic() < deadline and not episodes:
            time.sleep(0.3)
            params = {"from": now_ms - 60_000, "to": now_ms + 60_000, "datastream": "plant-7/boiler/temp"}
            episodes = httpx.get(f"{central.url}/api/v1/alerts", params=params).json()
        [episode] = episodes
        assert (episode["rule"], episode["max"], episode["state"]) == ("hot", 70.0, "closed")
    finally:
        edge.stop()
        central.stop()

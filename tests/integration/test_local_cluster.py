"""`make cluster`: Tansu, PostgreSQL and the roles as processes with the smart-home simulator, on this
machine; readings flow to both APIs, and Ctrl-C takes everything down."""

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.crash]
SCRIPT = Path(__file__).parents[2] / "deploy" / "local_cluster.py"


def test_the_local_cluster_runs_the_house_through_separate_processes_and_stops_them_all() -> None:
    argv = [sys.executable, str(SCRIPT), "--port", "0"]
    cluster = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert cluster.stdout is not None
        banner = cluster.stdout.readline()
        assert banner.startswith("iotstream cluster: dashboard http://127.0.0.1:"), banner
        processes = [cluster.stdout.readline().split(" on ")[-1].strip() for _ in range(6)]  # free ports
        urls = processes[:2]  # the two APIs
        deadline = time.monotonic() + 90
        while not all(_has_house(url) for url in urls):  # the simulator posts through the first
            assert time.monotonic() < deadline, "no readings of the house reached the store"
            time.sleep(0.5)
        for url in urls:
            assert httpx.get(f"{url}/readyz").json() == {"status": "ok"}
        cluster.send_signal(signal.SIGINT)
        assert cluster.wait(timeout=120) == 0
        for url in processes:  # every role's process is gone with it
            host, port = url.removeprefix("http://").split(":")
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((host, int(port)), timeout=1).close()
    finally:
        if cluster.poll() is None:
            cluster.kill()
            cluster.wait()
        if cluster.stdout is not None:
            cluster.stdout.close()


def _has_house(url: str) -> bool:
    listing = httpx.get(f"{url}/api/v1/datastreams", timeout=10).json()
    return any(row["key"] == "TH1" and row["latest"] is not None for row in listing)

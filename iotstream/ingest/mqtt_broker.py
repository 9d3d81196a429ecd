"""The MQTT broker that `[mqtt] embedded = true` starts: mosquitto when installed, else amqtt.

mosquitto runs as a child process with a generated configuration; it is several times faster than
amqtt, which runs in this process and needs nothing installed. Both listen at `[mqtt] url`.
"""

import asyncio
import logging
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Literal, Protocol

from iotstream.exceptions import IotStreamError

__all__ = [
    "MOSQUITTO_SETTINGS",
    "AmqttBroker",
    "BrokerStartError",
    "EmbeddedBroker",
    "MosquittoBroker",
    "find_mosquitto",
    "mosquitto_config",
]

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


def mosquitto_config(host: str, port: int) -> str:
    """A mosquitto.conf with one anonymous listener at host:port, sized for QoS 1 ingestion."""
    lines = [f"listener {port} {host}", *(f"{key} {value}" for key, value in MOSQUITTO_SETTINGS.items())]
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

    def __init__(self, host: str, port: int) -> None:
        binary = find_mosquitto()
        self.kind: Literal["mosquitto", "amqtt"] = "mosquitto" if binary else "amqtt"
        self._broker: _Broker = MosquittoBroker(binary, host, port) if binary else AmqttBroker(host, port)

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

    def __init__(self, binary: str, host: str, port: int, start_timeout_s: float = 10) -> None:
        self._argv = [binary, "-c"]
        self._host, self._port, self._start_timeout_s = host, port, start_timeout_s
        self._dir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Writes the configuration, starts mosquitto and waits until it listens."""
        if _accepts(_connectable(self._host), self._port):  # else its listener would pass for ours
            raise BrokerStartError(f"cannot start mosquitto: {self._host}:{self._port} is already in use")
        self._dir = workdir = Path(tempfile.mkdtemp(prefix="iotstream-mosquitto-"))
        config = workdir / "mosquitto.conf"
        config.write_text(mosquitto_config(self._host, self._port))
        with (workdir / "mosquitto.log").open("wb") as log:
            self.process = subprocess.Popen([*self._argv, str(config)], stdout=log, stderr=log)  # noqa: S603
        try:
            self._wait_until_listening(self.process, workdir / "mosquitto.log")
        except BrokerStartError:
            self.stop()
            raise

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


class AmqttBroker:
    """amqtt, the Python broker, with its event loop on its own thread: the fallback without mosquitto."""

    def __init__(self, host: str, port: int) -> None:
        self._config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Any = None

    @property
    def pid(self) -> None:
        """None: amqtt runs in this process."""
        return None

    def start(self) -> None:
        """Starts the loop thread and the broker on it."""
        logging.getLogger("amqtt").setLevel(logging.WARNING)
        self._loop = loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name="iotstream-mqtt-broker")
        self._thread.start()
        self._broker = asyncio.run_coroutine_threadsafe(self._start(), loop).result(timeout=30)

    async def _start(self) -> Any:
        from amqtt.broker import Broker  # imported only when used: mosquitto needs none of it

        broker = Broker(self._config)
        await broker.start()
        return broker

    def stop(self) -> None:
        """Shuts the broker down and ends its thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._broker is not None:
            asyncio.run_coroutine_threadsafe(self._broker.shutdown(), loop).result(timeout=30)
            self._broker = None
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
        self._loop = self._thread = None

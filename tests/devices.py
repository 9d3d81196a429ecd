"""Test devices and helpers for device commands: a paho-mqtt device that gets its commands on
`iotstream/<device>/commands` and answers on `iotstream/<device>/responses`, and the API calls."""

import threading
import time
import uuid
from typing import Any

import httpx
import msgspec
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

__all__ = ["Device", "send", "wait_for"]


class Device:
    """A device on the broker: keeps the values written to it and answers reads with them (unless it
    is one that never answers)."""

    def __init__(self, port: int, answers: bool = True) -> None:
        self.name = f"device-{uuid.uuid4().hex[:8]}"
        self.received: list[dict[str, Any]] = []
        self.values: dict[str, Any] = {}
        self._answers = answers
        subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2)
        self.client.on_message = self._command
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe(f"iotstream/{self.name}/commands", qos=1)
        assert subscribed.wait(10)

    def _command(self, client: paho.Client, _data: Any, message: paho.MQTTMessage) -> None:
        command = msgspec.json.decode(message.payload)
        self.received.append(command)
        if not self._answers:
            return
        answer: dict[str, Any] = {"ticket": command["ticket"], "status": "ok"}
        if command["action"] == "write":
            self.values[command["path"]] = command["value"]
        elif command["path"] in self.values:
            answer["value"] = self.values[command["path"]]
        else:
            answer = {"ticket": command["ticket"], "status": "error", "error": "no such resource"}
        # Not waiting for the broker here: this is paho's network thread, which reads its acknowledgement.
        client.publish(f"iotstream/{self.name}/responses", msgspec.json.encode(answer), qos=1)

    def respond(self, answer: Any, device: str | None = None) -> None:
        """From the test's thread, waiting for the broker's acknowledgement."""
        payload = answer if isinstance(answer, bytes) else msgspec.json.encode(answer)
        self.client.publish(f"iotstream/{device or self.name}/responses", payload, qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def send(api: str, device: str, action: str, path: str, **fields: Any) -> str:
    answer = httpx.post(
        f"{api}/api/v1/commands", json={"device": device, "action": action, "path": path, **fields}
    )
    assert answer.status_code == 202, answer.text
    ticket: str = answer.json()["ticket"]
    return ticket


def wait_for(api: str, ticket: str, *states: str, timeout_s: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        document: dict[str, Any] = httpx.get(f"{api}/api/v1/commands/{ticket}").json()
        if document["state"] in states:
            return document
        assert time.monotonic() < deadline, document
        time.sleep(0.05)

"""LwM2M: notifications/s turned into stored readings.

    python benchmarks/lwm2m.py [--quick] [--devices N] [--seconds S]

`iotstream up` runs with `[lwm2m] enabled` (SQLite log with fsync, DuckDB store). N devices (aiocoap
servers in this process, each on a port of its own) register with `</3303/0>`; the platform observes
their temperature, /3303/0/5700. Each device then notifies as fast as this process can send, for S
seconds, in SenML JSON with the time of each value (a millisecond apart), so no two readings of a
datastream share a time and each is stored as a reading of its own. It runs twice, on a fresh platform
each time:

- con: the notifications are confirmable, aiocoap's choice for an observe asked with a CON request
  (the server acknowledges each; a device has one in flight at a time and queues the rest, so what it
  has not sent when the run ends is never sent);
- non: the devices send them non-confirmable (what a device does to save its battery; what the server
  cannot take in time is lost on the way).

For each: notifications_sent_per_s (the values the devices sent: each rendering of the resource is a
value of its own), readings_stored_per_s (readings stored, from the first notification until the last
is stored or 5 s pass with none new), received_fraction (the notifications the server took, of those
sent) and stored_fraction (stored / sent).

Prints progress and one final JSON line; writes benchmarks/results/lwm2m.json.
"""

import argparse
import asyncio
import json
import os
import platform
import socket
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import aiocoap
import httpx
from aiocoap import resource

sys.path.insert(0, str(Path(__file__).parent))
from _versions import library_versions
from end_to_end import _start_platform

RESULTS = Path(__file__).with_name("results") / "lwm2m.json"
T0_S = 1_767_225_600  # 2026-01-01: each device's values are a millisecond apart from here
SENML_JSON = 110


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Temperature(resource.ObservableResource):
    """/3303/0/5700 of a device, in SenML JSON with each value's time."""

    def __init__(self, non: bool = False) -> None:
        super().__init__()
        self.rendered = 0  # values sent: the observe's answer, then each notification
        self.observers = 0
        self.non = non  # notifications NON instead of CON

    def update_observation_count(self, newcount: int) -> None:
        self.observers = newcount

    def next(self) -> None:
        self.updated_state()

    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        """A value of its own for each rendering: two updates before one rendering are one value."""
        self.rendered += 1
        record = {
            "bn": "/3303/0/",
            "n": "5700",
            "v": 20 + self.rendered % 100 / 10,
            "t": T0_S + self.rendered / 1000,
        }
        answer = aiocoap.Message(payload=json.dumps([record]).encode(), content_format=SENML_JSON)
        if self.non and self.rendered > 1:  # not the answer to the observe itself
            answer.mtype = aiocoap.NON
        return answer


async def _device(index: int, server_port: int, non: bool) -> tuple[aiocoap.Context, Temperature]:
    temperature = Temperature(non)
    site = resource.Site()
    site.add_resource(("3303", "0", "5700"), temperature)
    context = await aiocoap.Context.create_server_context(
        site, bind=("127.0.0.1", free_port()), transports=["udp6"]
    )
    uri = f"coap://127.0.0.1:{server_port}/rd?ep=bench-{index}&lt=600&b=U"
    request = aiocoap.Message(code=aiocoap.POST, uri=uri, payload=b"</3303/0>")
    answer = await asyncio.wait_for(context.request(request).response, 10)
    if answer.code != aiocoap.CREATED:
        raise RuntimeError(f"bench-{index} was not registered: {answer.code} {answer.payload!r}")
    return context, temperature


async def _observed(devices: list[Temperature], timeout_s: float = 30) -> None:
    """Until the platform observes every device (its first GET with Observe)."""
    deadline = time.monotonic() + timeout_s
    while any(not device.observers for device in devices):
        if time.monotonic() > deadline:
            raise RuntimeError("the platform did not observe every device")
        await asyncio.sleep(0.1)


async def _notify(devices: list[Temperature], seconds: float) -> int:
    """Every device a notification in turn, yielding to the loop between rounds so they go out; how
    many values the devices sent, the observes' answers included."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for device in devices:
            device.next()
        await asyncio.sleep(0)
    await asyncio.sleep(0.5)  # the last notifications leave
    return sum(device.rendered for device in devices)


def _stored(url: str, count: int) -> tuple[int, float]:
    """Readings stored of the benchmark's devices, and when the count last grew."""
    start_ms, end_ms = T0_S * 1000, T0_S * 1000 + 10**9
    last_total, last_change = -1, time.perf_counter()
    with httpx.Client(base_url=url, timeout=60) as api:
        while True:
            total = 0
            for index in range(count):
                key = f"bench-{index}/3303/0/5700"
                params: dict[str, Any] = {"datastream": key, "from": start_ms, "to": end_ms, "limit": 100_000}
                total += len(api.get("/api/v1/readings", params=params).json())
            if total != last_total:
                last_total, last_change = total, time.perf_counter()
            elif time.perf_counter() - last_change > 5:
                return total, last_change
            time.sleep(0.5)


async def _run(
    server_port: int, count: int, seconds: float, non: bool
) -> tuple[int, float, list[aiocoap.Context]]:
    made = [await _device(i, server_port, non) for i in range(count)]
    devices = [temperature for _, temperature in made]
    await _observed(devices)
    started = time.perf_counter()
    sent = await _notify(devices, seconds)
    return sent, started, [context for context, _ in made]


async def _close(contexts: list[aiocoap.Context]) -> None:
    for context in contexts:
        await context.shutdown()
    pending = asyncio.all_tasks() - {asyncio.current_task()}  # the devices' last renderings
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


def _measure(count: int, seconds: float, non: bool) -> dict[str, Any]:
    """One platform, `count` devices notifying for `seconds`, CON or NON."""
    with tempfile.TemporaryDirectory() as tmp:
        config, server_port = Path(tmp) / "iotstream.toml", free_port()
        config.write_text(
            f'data_dir = "{Path(tmp) / "data"}"\n[log]\nfsync = true\n'
            f'[lwm2m]\nenabled = true\nhost = "127.0.0.1"\nport = {server_port}\n'
            '[storage.retention]\nraw = "36500d"\n'
        )
        process, url = _start_platform(config, Path(tmp) / "data")
        try:
            loop = asyncio.new_event_loop()
            sent, started, contexts = loop.run_until_complete(_run(server_port, count, seconds, non))
            stored, last = _stored(url, count)
            received = httpx.get(f"{url}/api/v1/stats", timeout=30).json()["lwm2m"]["notifications"]
            loop.run_until_complete(_close(contexts))
            loop.close()
        finally:
            process.terminate()
            process.communicate(timeout=300)
    kind, stored_per_s = "NON" if non else "CON", stored / (last - started)
    print(f"{kind}: sent {sent / seconds:,.0f} notifications/s; stored {stored_per_s:,.0f} readings/s")
    return {
        "notifications_sent_per_s": round(sent / seconds),
        "received_fraction": round(received / sent, 4),
        "readings_stored_per_s": round(stored_per_s),
        "stored_fraction": round(stored / sent, 4),
        "notifications_sent": sent,
        "notifications_received": received,
        "readings_stored": stored,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="5 s of notifications")
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--seconds", type=float)
    args = parser.parse_args()
    seconds = args.seconds or (5.0 if args.quick else 20.0)
    load_before = os.getloadavg()
    result: dict[str, Any] = {"benchmark": "lwm2m", "devices": args.devices, "seconds": seconds}
    result["con"] = _measure(args.devices, seconds, non=False)
    result["non"] = _measure(args.devices, seconds, non=True)
    result["machine"] = {
        "cpus": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "python": platform.python_version(),
        "libraries": library_versions() | {"aiocoap": metadata.version("aiocoap")},
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

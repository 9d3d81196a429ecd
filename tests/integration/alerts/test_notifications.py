"""Notifications end to end: a threshold rule's episodes reach a webhook, a (fake) Telegram Bot API and
an SMTP server with the Thing's name and location from the registry; a receiver that was down gets
its messages once it is back, while the others are served on time."""

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from iotstream.config import Settings, load_settings
from iotstream.embedded import EmbeddedPlatform
from tests.receivers import HttpReceiver, SmtpReceiver

M = 60_000
T0 = 1_790_000_000_000 - 1_790_000_000_000 % M
TOKEN = "123456:test-token"  # noqa: S105 - the fake Bot API accepts any
THING = {
    "name": "Boiler 1",
    "description": "gas boiler",
    "Locations": [
        {
            "name": "Basement, Building A",
            "description": "",
            "encodingType": "application/geo+json",
            "location": {"type": "Point", "coordinates": [4.35, 50.85]},
        }
    ],
}
DATASTREAM = {
    "name": "boiler-1",
    "description": "flow temperature",
    "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
    "unitOfMeasurement": {"name": "degree Celsius", "symbol": "°C", "definition": "ucum:Cel"},
    "Thing": THING,
    "Sensor": {"name": "PT100", "description": "", "encodingType": "text/plain", "metadata": "-"},
    "ObservedProperty": {"name": "temperature", "definition": "ucum:Cel", "description": ""},
}
# One episode: opens at 101.0 (T0+1m), 99.6 keeps it open, 99.0 closes it; the last reading moves time on.
READINGS = [(99.0, 0), (101.0, 1), (102.0, 2), (99.6, 3), (99.0, 4), (98.0, 5)]


@pytest.fixture
def receivers() -> Iterator[tuple[HttpReceiver, SmtpReceiver]]:
    http, smtp = HttpReceiver(), SmtpReceiver().start()
    try:
        yield http, smtp
    finally:
        http.stop()
        smtp.stop()


def _settings(tmp_path: Path, http_port: int, smtp_port: int) -> Settings:
    web = f"http://127.0.0.1:{http_port}"
    return load_settings(
        data_dir=tmp_path,
        api={"port": 0},
        mqtt={"sensorthings": False},
        storage={"retention": {"raw": "36500d", "1m": "36500d", "1h": "36500d"}},
        jobs=[
            {"type": "threshold", "name": "overheat", "datastreams": ["boiler-*"], "above": 100.0}
            | {"hysteresis": 0.5}
        ],
        notify={
            "retry_initial": "100ms",
            "retry_max": "400ms",
            "sinks": [
                {"type": "webhook", "url": f"{web}/hook"},
                {"type": "telegram", "token": TOKEN, "chat_id": "-1001", "base_url": web},
                {"type": "email", "host": "127.0.0.1", "port": smtp_port}
                | {"sender": "iotstream@example.org", "to": ["ops@example.org"]},
            ],
        },
    )


def _send_episode(platform: EmbeddedPlatform) -> None:
    assert platform.api is not None
    with httpx.Client(base_url=platform.api.url) as api:
        created = api.post("/v1.1/Datastreams", json=DATASTREAM)
        assert created.status_code == 201, created.text
        readings = [{"datastream": "boiler-1", "time": T0 + i * M, "value": v} for v, i in READINGS]
        assert api.post("/api/v1/readings", json=readings).status_code == 202


def _wait_for(what: str, done: Callable[[], bool], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _check_texts(texts: list[str]) -> None:
    opened, closed = texts
    assert opened.startswith("[overheat] alert: Boiler 1 (Basement, Building A), boiler-1: above 100 °C")
    assert opened.endswith("since 2026-09-21T14:14:00Z: max 101 °C, avg 101 °C")  # as of its first reading
    assert closed.startswith("[overheat] resolved: Boiler 1 (Basement, Building A), boiler-1: back at")
    # avg: ((101 + 102) / 2 + (102 + 99.6) / 2) / 2 minutes
    assert closed.endswith("14:17:00Z; lasted 120 s, max 102 °C, avg 101.15 °C")


def test_each_sink_gets_exactly_one_open_and_one_close_message_naming_the_thing_and_place(
    tmp_path: Path, receivers: tuple[HttpReceiver, SmtpReceiver]
) -> None:
    http, smtp = receivers
    http.start()
    with EmbeddedPlatform(_settings(tmp_path, http.port, smtp.port)) as platform:
        _send_episode(platform)
        telegram = f"/bot{TOKEN}/sendMessage"
        counts = lambda: (len(http.bodies("/hook")), len(http.bodies(telegram)), len(smtp.messages))  # noqa: E731
        _wait_for("two messages per sink", lambda: min(counts()) >= 2)
        time.sleep(1.0)  # anything repeated or extra would arrive meanwhile
        assert platform.api is not None
        metrics = httpx.get(f"{platform.api.url}/metrics").text
    hooks, chats, mails = http.bodies("/hook"), http.bodies(telegram), smtp.messages
    assert [hook["alert"]["event"] for hook in hooks] == ["open", "close"]
    assert len({hook["id"] for hook in hooks}) == 2  # what a receiver drops a repeated message by
    facts = {(hook["thing"], hook["location"], hook["unit"]) for hook in hooks}
    assert facts == {("Boiler 1", "Basement, Building A", "°C")}
    assert hooks[1]["alert"] | {"closed_at": T0 + 4 * M} == hooks[1]["alert"]
    _check_texts([hook["text"] for hook in hooks])
    assert [chat["chat_id"] for chat in chats] == ["-1001", "-1001"]
    _check_texts([chat["text"] for chat in chats])
    assert [mail["Subject"] for mail in mails] == [
        "[iotstream] overheat alert: Boiler 1",
        "[iotstream] overheat resolved: Boiler 1",
    ]
    assert [mail["To"] for mail in mails] == ["ops@example.org"] * 2
    _check_texts([mail.get_payload(decode=True).decode().strip() for mail in mails])
    outcomes = {
        (sample.labels["sink"], sample.labels["result"]): sample.value
        for family in text_string_to_metric_families(metrics)
        if family.name == "iotstream_notifications"
        for sample in family.samples
    }
    assert outcomes[("webhook", "sent")] == 2
    assert outcomes[("email", "skipped")] == 2  # two updates


def test_a_receiver_that_was_down_gets_its_messages_and_the_others_do_not_wait(
    tmp_path: Path, receivers: tuple[HttpReceiver, SmtpReceiver]
) -> None:
    http, smtp = receivers  # the HTTP receiver (webhook, Telegram) is down at first
    with EmbeddedPlatform(_settings(tmp_path, http.port, smtp.port)) as platform:
        assert platform.storage is not None
        storage = platform.storage
        started = time.monotonic()
        _send_episode(platform)
        _wait_for("both e-mails while the webhook is down", lambda: len(smtp.messages) == 2, timeout_s=10)
        stored = lambda: [alert.state for alert in storage.alerts("boiler-1")]  # noqa: E731
        _wait_for("the closed episode stored", lambda: stored() == ["closed"])
        served_s = time.monotonic() - started
        _wait_for("retries", lambda: platform.stats()["notify"]["webhook"]["retried"] >= 3)
        assert http.posts == []
        http.start()
        _wait_for("the webhook's messages after it came back", lambda: len(http.bodies("/hook")) >= 2)
        _wait_for("the Telegram messages", lambda: len(http.bodies(f"/bot{TOKEN}/sendMessage")) >= 2)
        time.sleep(1.0)
        counts = platform.stats()["notify"]
    assert served_s < 10
    assert [hook["alert"]["event"] for hook in http.bodies("/hook")] == ["open", "close"]
    _check_texts([hook["text"] for hook in http.bodies("/hook")])
    assert len(http.bodies(f"/bot{TOKEN}/sendMessage")) == 2
    assert (counts["webhook"]["sent"], counts["webhook"]["dead_lettered"]) == (2, 0)
    assert counts["email"] == {"sent": 2, "retried": 0, "dead_lettered": 0, "skipped": 2}

"""One sink's delivery over a real SQLite log: what is sent, skipped, retried and dead-lettered."""

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from iotstream.alerts.config import NotifySettings
from iotstream.alerts.delivery import Delivery, notice_id
from iotstream.alerts.sinks import BaseSink, DeliveryError, Notice
from iotstream.log import BaseLog, TopicPartition, open_log
from iotstream.log.topics import ALERTS, DEADLETTER, platform_topics
from iotstream.processing.recompute import RECOMPUTED
from iotstream.registry.publisher import registry_topics
from tests.contract.conftest import FAST

EPISODE = {"rule": "overheat", "kind": "threshold", "datastream": "boiler-1", "state": "open"}
EPISODE |= {"start": 60_000, "last": 60_000, "duration_s": 0.0}
EPISODE |= {"max": 101.0, "avg": 101.0, "threshold": 100.0}


class FakeSink(BaseSink):
    """Fails the first `failures` attempts (`permanent` ones, if asked), then records what it gets."""

    def __init__(self, failures: int = 0, permanent: bool = False) -> None:
        self.name = "fake"
        self.failures, self.permanent = failures, permanent
        self.attempts = 0
        self.texts: list[str] = []

    def send(self, notice: Notice) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise DeliveryError("HTTP 503: down", permanent=self.permanent)
        self.texts.append(notice.text)


@pytest.fixture
def log(tmp_path: Path) -> Iterator[BaseLog]:
    log = open_log(f"sqlite:///{tmp_path / 'log.db'}", maintenance_interval_ms=0, **FAST)
    for spec in [*platform_topics(1), *registry_topics()]:
        log.create_topic(spec)
    yield log
    log.close()


def _publish(log: BaseLog, *values: Any) -> None:
    with log.producer() as producer:
        for value in values:
            event = {"key": "boiler-1", "value": value}  # as `Job.to` writes it
            raw = value if isinstance(value, bytes) else msgspec.json.encode(event)
            producer.produce(ALERTS, raw, b"boiler-1")


def _drain(delivery: Delivery, steps: int = 5) -> None:
    stop = threading.Event()
    for _ in range(steps):
        delivery.step(stop)


def _dead_letters(log: BaseLog) -> list[str]:
    consumer = log.consumer()
    consumer.assign([TopicPartition(DEADLETTER, 0)])
    records = consumer.poll(max_records=100, timeout_s=0.5)
    consumer.close()
    return [dict(r.headers)["reason"].decode() for r in records]


def _events(*kinds: str) -> list[dict[str, Any]]:
    return [EPISODE | {"event": kind, "state": "closed" if kind == "close" else "open"} for kind in kinds]


def test_a_new_sink_starts_at_the_end_and_a_known_one_resumes_where_it_stopped(log: BaseLog) -> None:
    _publish(log, *_events("open", "close"))  # history from before the sink was configured
    sink = FakeSink()
    first = Delivery(sink, log, NotifySettings(template="{start}"))
    _publish(log, EPISODE | {"event": "open", "start": 1})
    _drain(first)
    first.close()
    _publish(log, EPISODE | {"event": "open", "start": 2})  # raised while the sink was not running
    again = Delivery(sink, log, NotifySettings(template="{start}"))
    _drain(again)
    again.close()
    assert sink.texts == ["1970-01-01T00:00:00.001Z", "1970-01-01T00:00:00.002Z"]


def test_only_opens_and_closes_notify_by_default_and_a_replayed_one_is_not_repeated(log: BaseLog) -> None:
    sink = FakeSink()
    delivery = Delivery(sink, log, NotifySettings(template="{event} {datastream} {thing}"))
    _publish(log, *_events("open", "update", "update", "open", "close"))  # the second open: a job's replay
    _drain(delivery)
    delivery.close()
    assert sink.texts == ["open boiler-1 boiler-1", "close boiler-1 boiler-1"]  # no registry row: the key
    assert delivery.counts == {"sent": 2, "retried": 0, "dead_lettered": 0, "skipped": 3}


def test_alerts_of_a_recomputed_past_are_stored_but_not_notified(log: BaseLog) -> None:
    sink = FakeSink()
    delivery = Delivery(sink, log, NotifySettings(template="{event} {start}"))
    with log.producer() as producer:
        for start, headers in ((1, [RECOMPUTED]), (2, [])):
            value = msgspec.json.encode({"key": "boiler-1", "value": _events("open")[0] | {"start": start}})
            producer.produce(ALERTS, value, b"boiler-1", headers=headers)
    _drain(delivery)
    delivery.close()
    assert sink.texts == ["open 1970-01-01T00:00:00.002Z"]
    assert delivery.counts["skipped"] == 1


def test_updates_notify_when_configured(log: BaseLog) -> None:
    sink = FakeSink()
    delivery = Delivery(sink, log, NotifySettings(events=["update"], template="{event}"))
    _publish(log, *_events("open", "update", "close"))
    _drain(delivery)
    delivery.close()
    assert sink.texts == ["update"]


def test_a_failing_sink_retries_in_order_then_delivers_everything(log: BaseLog) -> None:
    sink = FakeSink(failures=3)
    settings = NotifySettings(retry_initial="1ms", retry_max="4ms", template="{event}")
    delivery = Delivery(sink, log, settings)
    _publish(log, *_events("open", "close"))
    _drain(delivery, steps=8)
    delivery.close()
    assert sink.texts == ["open", "close"]
    assert (delivery.counts["retried"], delivery.counts["sent"]) == (3, 2)
    assert _dead_letters(log) == []


def test_a_permanent_refusal_is_dead_lettered_and_the_next_message_goes_on(log: BaseLog) -> None:
    sink = FakeSink(failures=1, permanent=True)
    delivery = Delivery(sink, log, NotifySettings(template="{event}"))
    _publish(log, *_events("open", "close"))
    _drain(delivery)
    delivery.close()
    assert sink.texts == ["close"]
    assert _dead_letters(log) == ["sink fake refused it: HTTP 503: down"]


def test_a_sink_down_longer_than_give_up_after_dead_letters_the_message(log: BaseLog) -> None:
    now = [1_000.0]
    sink = FakeSink(failures=10**6)
    settings = NotifySettings(retry_initial="1ms", retry_max="1ms", give_up_after="1m", template="{event}")
    delivery = Delivery(sink, log, settings, clock=lambda: now[0])
    _publish(log, *_events("open"))
    _drain(delivery, steps=3)
    assert delivery.counts["retried"] == 3
    now[0] += 61
    _drain(delivery, steps=2)
    delivery.close()
    assert _dead_letters(log) == ["sink fake still failing, gave up: HTTP 503: down"]


def test_records_that_are_not_alert_events_are_dead_lettered_with_the_reason(log: BaseLog) -> None:
    sink = FakeSink()
    delivery = Delivery(sink, log, NotifySettings(template="{event}"))
    _publish(log, b"{not json", {"rule": "overheat"}, EPISODE | {"event": "open", "start": "yesterday"})
    _publish(log, *_events("open"))
    _drain(delivery)
    delivery.close()
    assert sink.texts == ["open"]
    reasons = _dead_letters(log)
    assert reasons[0].startswith("not JSON")
    assert reasons[1:] == [
        "not an alert event: no datastream, event, state, start, last",
        "alert start and last must be epoch milliseconds",
    ]


def test_an_event_has_one_id_however_often_it_is_sent_and_each_update_its_own() -> None:
    opened = EPISODE | {"event": "open"}
    assert notice_id(opened) == notice_id(dict(opened))
    assert notice_id(opened) != notice_id(opened | {"event": "close", "state": "closed"})
    assert notice_id(opened) != notice_id(opened | {"start": 120_000})
    assert notice_id(opened) == notice_id(opened | {"last": 120_000})  # one opening, however late seen
    update = EPISODE | {"event": "update"}
    assert notice_id(update) != notice_id(update | {"last": 120_000})

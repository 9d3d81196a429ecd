"""The edge site's relay, without a central site: its rate bound and what its log keeps for it."""

import threading
import time
from pathlib import Path

import msgspec

from iotstream.config import Settings
from iotstream.log import BaseLog, Record
from iotstream.relay.config import RelaySettings
from iotstream.relay.cursors import log_origin, relay_topics
from iotstream.relay.forwarder import RELAY_GROUP, Forwarder, _oldest_accepted_ms
from iotstream.roles.parts import Parts


def test_the_rate_bound_spreads_a_catch_up_over_time(log: BaseLog) -> None:
    forwarder = Forwarder(log, "plant-7", RelaySettings(to="http://127.0.0.1:9", max_rate=1_000))
    try:
        started = time.monotonic()
        for _ in range(4):
            forwarder._throttle(500, threading.Event())
        elapsed = time.monotonic() - started
    finally:
        forwarder.close()
    assert 1.8 <= elapsed < 4, elapsed  # 2,000 records at 1,000/s, from an empty bucket


def test_an_edge_sites_log_keeps_what_the_relay_has_not_sent(tmp_path: Path) -> None:
    edge = Settings(data_dir=tmp_path, site="plant-7", relay={"to": "http://central:8000"}).in_data_dir()
    central = Settings(data_dir=tmp_path / "central").in_data_dir()
    for settings, kept in ((edge, [RELAY_GROUP]), (central, [])):
        parts = Parts(settings)
        try:
            assert parts.log.settings.keep_unread_by == kept
        finally:
            parts.close()


def test_a_logs_origin_is_made_once_and_kept(log: BaseLog) -> None:
    for spec in relay_topics():
        log.create_topic(spec, exist_ok=True)
    first = log_origin(log)
    assert len(first) == 32
    assert log_origin(log) == first


def test_the_backlogs_age_counts_from_acceptance_not_from_the_readings_own_time() -> None:
    backfilled = msgspec.json.encode({"datastream": "d", "time": 1_000, "value": 1, "resultTime": 5_000_000})
    records = [
        Record("observations", 0, 7, 1_000, b"d", backfilled),
        Record("observations", 0, 8, 2_000, b"d", backfilled),  # not the partition's oldest
        Record("alerts", 0, 3, 4_000_000, b"d", b"{}"),  # no resultTime: its timestamp
    ]
    assert _oldest_accepted_ms(records) == 4_000_000

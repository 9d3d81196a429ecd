"""`GET /metrics` parses with Prometheus' own parser, and its counters move as data flows."""

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform
from tests.meters import DAY, HOME

D0 = 19_723 * DAY


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[EmbeddedPlatform]:
    keep = {"raw": "36500d", "1m": "36500d", "1h": "36500d"}
    settings = load_settings(data_dir=tmp_path, jobs=[HOME], api={"port": 0}, storage={"retention": keep})
    with EmbeddedPlatform(settings) as started:
        yield started


def scrape(api: httpx.Client) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Samples by name and labels, without the labels every sample carries (checked here)."""
    answer = api.get("/metrics")
    assert answer.headers["content-type"].startswith("text/plain")
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            labels = dict(sample.labels)
            assert labels.pop("roles") == "sink,registry,notify,jobs,api,mqtt"
            assert labels.pop("process") == f"{socket.gethostname()}:{os.getpid()}"  # this test's process
            samples.setdefault(sample.name, {})[tuple(sorted(labels.items()))] = sample.value
    return samples


def test_metrics_parse_and_move_as_readings_flow(platform: EmbeddedPlatform) -> None:
    assert platform.api is not None
    with httpx.Client(base_url=platform.api.url, timeout=30) as api:
        before = scrape(api)
        assert before["iotstream_readings_accepted_total"][()] == 0
        readings = [{"datastream": "TH1", "time": D0 + i * 60_000, "value": 20 + i % 5} for i in range(500)]
        readings.append({"datastream": "TH1", "time": D0 + DAY + 1, "value": 1})  # closes the day
        answer = api.post("/api/v1/readings", json=[*readings, {"datastream": ""}])
        assert answer.json()["accepted"] == 501
        deadline = time.monotonic() + 30
        storage_lag = (("group", "iotstream.storage"), ("partition", "0"), ("topic", "observations"))
        while (after := scrape(api))["iotstream_readings_stored_total"][()] < 502 or (  # 501 + the AggDay
            storage_lag not in after.get("iotstream_consumer_lag", {})  # once the sink has committed
        ):
            assert time.monotonic() < deadline, after["iotstream_readings_stored_total"]
            time.sleep(0.2)
    assert after["iotstream_readings_accepted_total"][()] == 501
    assert after["iotstream_readings_rejected_total"][()] == 1
    assert after["iotstream_stored_seconds_count"][()] >= 501
    assert after["iotstream_stored_seconds_bucket"][(("le", "+Inf"),)] >= 501
    assert after["iotstream_log_ack_seconds_count"][()] == 501
    assert after["iotstream_sink_write_seconds_count"][()] >= 1
    assert after["iotstream_job_events_total"][(("job", "home"),)] >= 501
    assert (("job", "home"),) in after["iotstream_job_watermark_delay_seconds"]
    lags = after["iotstream_consumer_lag"]
    assert storage_lag in lags

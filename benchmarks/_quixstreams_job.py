"""The benchmark's job written with quixstreams, for comparison, on a Kafka-protocol broker."""

import tempfile
import time
import uuid
from typing import Any

from iotstream.log import TopicSpec, open_log
from iotstream.log.types import Record


def quixstreams_events_per_s(url: str, records: list[Record]) -> float:
    """Time from the first to the last reading quixstreams processes (its idle stop is not counted)."""
    from quixstreams import Application

    topic_name = f"quix-readings-{uuid.uuid4().hex[:8]}"
    with open_log(url) as log:
        # Explicit retention: quixstreams copies the input topic's configs to its changelog topics.
        log.create_topic(
            TopicSpec(topic_name, partitions=4, retention_ms=86_400_000, retention_bytes=1 << 30)
        )
        with log.producer() as producer:
            for r in records:
                producer.produce(
                    topic_name, r.value, r.key, partition=r.partition, timestamp_ms=r.timestamp_ms
                )
    seen = {"count": 0, "first": 0.0, "last": 0.0}

    def count(_: Any) -> None:
        seen["count"] += 1
        seen["last"] = time.perf_counter()
        if seen["count"] == 1:
            seen["first"] = seen["last"]

    with tempfile.TemporaryDirectory() as state_dir:
        app = Application(
            broker_address=url.removeprefix("kafka://"),
            consumer_group=f"quix-bench-{uuid.uuid4().hex[:6]}",
            auto_offset_reset="earliest",
            state_dir=state_dir,
            consumer_extra_config={"session.timeout.ms": 6_000, "heartbeat.interval.ms": 1_000},
        )
        topic = app.topic(
            topic_name, value_deserializer="json", timestamp_extractor=lambda value, *_: int(value["time"])
        )
        sdf = app.dataframe(topic)
        sdf = sdf.update(count).apply(lambda value: value["value"])
        sdf = sdf.tumbling_window(60_000).mean().final()
        app.run(timeout=10)
    if seen["count"] < len(records):
        raise SystemExit(f"quixstreams processed {seen['count']} of {len(records)} readings")
    return len(records) / (seen["last"] - seen["first"])

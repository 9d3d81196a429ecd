"""The central site's side of the relay on a Kafka log: each batch is one transaction with its
cursor, a retried batch is dropped, and another process sees the cursors."""

import uuid
from pathlib import Path

import msgspec

from iotstream.log import TopicPartition, open_log
from iotstream.log.topics import platform_topics
from iotstream.registry.catalog import open_catalog
from iotstream.relay.config import SitesSettings
from iotstream.relay.cursors import relay_topics
from iotstream.relay.receiver import RelayReceiver
from iotstream.relay.wire import Cursor, RelayBatch, RelayPartition, RelayRecord


def test_batches_go_into_kafka_once_with_their_cursor(kafka_url: str, tmp_path: Path) -> None:
    site = f"site-{uuid.uuid4().hex[:8]}"  # the broker is shared: a site of its own
    log = open_log(kafka_url)
    catalog = open_catalog(f"sqlite:///{tmp_path}/registry.db")
    for spec in [*platform_topics(1), *relay_topics()]:
        log.create_topic(spec, exist_ok=True)
    receivers = [RelayReceiver(log, catalog, SitesSettings(), lambda keys: None, 1) for _ in range(2)]
    try:
        values = [msgspec.json.encode({"datastream": "flow", "time": o, "value": o}) for o in range(40)]
        records = [RelayRecord(o, o, b"flow", v) for o, v in enumerate(values)]
        first, second = records[:30], records[20:]
        assert (
            receivers[0].receive(site, RelayBatch([RelayPartition("observations", 0, first)])).accepted == 30
        )
        answer = receivers[1].receive(site, RelayBatch([RelayPartition("observations", 0, second)]))
        assert (answer.accepted, answer.cursors) == (10, [Cursor("observations", 0, 39)])
        consumer = log.consumer()
        consumer.assign([TopicPartition("observations", 0)])
        consumer.seek_to_beginning()
        found = []
        for _ in range(50):
            for record in consumer.poll(max_records=1_000, timeout_s=0.2):
                document = msgspec.json.decode(record.value or b"{}")
                if document.get("datastream") == f"{site}/flow":
                    found.append(document["time"])
            if len(found) >= 40:
                break
        consumer.close()
        assert found == list(range(40))
    finally:
        for receiver in receivers:
            receiver.close()
        catalog.close()
        log.close()

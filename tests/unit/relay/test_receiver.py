"""The central site's side of the relay: what is new is appended once, renamed into the site's
namespace, with the edge's Datastreams copied into the catalog."""

from collections.abc import Iterator

import msgspec
import pytest
from sqlalchemy import select

from iotstream.log import BaseLog, TopicPartition
from iotstream.registry import models
from iotstream.registry.catalog import Catalog
from iotstream.registry.records import DATASTREAMS_TOPIC
from iotstream.relay.config import SitesSettings
from iotstream.relay.cursors import relay_topics
from iotstream.relay.receiver import RelayReceiver, SiteMismatchError
from iotstream.relay.wire import Cursor, RelayBatch, RelayPartition, RelayRecord


@pytest.fixture
def receiver(log: BaseLog, catalog: Catalog) -> Iterator[RelayReceiver]:
    for spec in relay_topics():
        log.create_topic(spec, exist_ok=True)
    registered: list[str] = []
    opened = RelayReceiver(log, catalog, SitesSettings(), registered.extend, default_partitions=1)
    yield opened
    opened.close()


def readings(partition: int, offsets: range, name: str = "boiler/temp") -> RelayPartition:
    def reading(offset: int) -> bytes:
        return msgspec.json.encode(
            {"datastream": name, "time": 1_000 * offset, "value": offset, "id": f"m{offset}"}
        )

    records = [RelayRecord(o, 1_000 * o, name.encode(), reading(o)) for o in offsets]
    return RelayPartition("observations", partition, records)


def central_readings(log: BaseLog) -> list[dict[str, object]]:
    consumer = log.consumer()
    consumer.assign([TopicPartition("observations", 0)])
    found = [msgspec.json.decode(r.value or b"") for r in consumer.poll(max_records=10_000, timeout_s=0.2)]
    consumer.close()
    return found


def test_new_records_are_appended_once_under_the_sites_names(receiver: RelayReceiver, log: BaseLog) -> None:
    answer = receiver.receive("plant-7", RelayBatch([readings(0, range(0, 10))]))
    assert answer.accepted == 10
    assert answer.cursors == [Cursor("observations", 0, 9)]
    again = receiver.receive("plant-7", RelayBatch([readings(0, range(5, 15))]))  # a retry, overlapping
    assert again.accepted == 5
    assert again.cursors == [Cursor("observations", 0, 14)]
    found = central_readings(log)
    assert [r["time"] for r in found] == [1_000 * o for o in range(15)]
    assert {r["datastream"] for r in found} == {"plant-7/boiler/temp"}
    assert found[0]["id"] == "m0"


def test_two_sites_and_two_edge_partitions_have_cursors_of_their_own(
    receiver: RelayReceiver, log: BaseLog
) -> None:
    receiver.receive("plant-7", RelayBatch([readings(0, range(3)), readings(1, range(2), "pump/flow")]))
    answer = receiver.receive("plant-8", RelayBatch([readings(0, range(4))]))
    assert answer.cursors == [Cursor("observations", 0, 3)]
    names = sorted({str(r["datastream"]) for r in central_readings(log)})
    assert names == ["plant-7/boiler/temp", "plant-7/pump/flow", "plant-8/boiler/temp"]


def test_cursors_and_site_status_survive_a_restart(
    receiver: RelayReceiver, log: BaseLog, catalog: Catalog
) -> None:
    receiver.receive("plant-7", RelayBatch([readings(0, range(10))], backlog_records=42, rate=7.5))
    restarted = RelayReceiver(log, catalog, SitesSettings(), lambda keys: None, default_partitions=1)
    try:
        assert restarted.receive("plant-7", RelayBatch([readings(0, range(10))])).accepted == 0
        [status] = restarted.sites()
        assert (status.site, status.relayed) == ("plant-7", 10)
    finally:
        restarted.close()
    assert len(central_readings(log)) == 10


def test_the_edges_datastreams_are_copied_with_their_thing_location_and_unit(
    receiver: RelayReceiver, catalog: Catalog
) -> None:
    document = {
        "@iot.id": 3,
        "name": "Boiler temperature",
        "description": "",
        "unitOfMeasurement": {"name": "degree Celsius", "symbol": "°C", "definition": "ucum:Cel"},
        "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
        "properties": {"key": "boiler/temp"},
        "key": "boiler/temp",
        "Thing": {
            "@iot.id": 1,
            "name": "Boiler",
            "description": "hall 2",
            "properties": None,
            "Locations": [
                {
                    "@iot.id": 5,
                    "name": "Hall 2",
                    "description": "",
                    "encodingType": "application/geo+json",
                    "location": {"type": "Point", "coordinates": [8.5, 47.4]},
                    "properties": None,
                }
            ],
        },
        "Sensor": {
            "@iot.id": 1,
            "name": "PT100",
            "description": "",
            "encodingType": "text/plain",
            "metadata": "",
        },
        "ObservedProperty": {"@iot.id": 1, "name": "Temperature", "definition": "t", "description": ""},
    }
    record = RelayRecord(0, 0, b"boiler/temp", msgspec.json.encode(document))
    for _ in range(2):  # relayed twice: the same rows, updated
        receiver.receive("plant-7", RelayBatch([RelayPartition(DATASTREAMS_TOPIC, 0, [record])]))
        record = RelayRecord(1, 0, record.key, record.value)
    with catalog.session() as session:
        [row] = session.scalars(select(models.Datastream)).all()
        assert row.key == "plant-7/boiler/temp"
        assert row.unit_of_measurement == document["unitOfMeasurement"]
        assert row.thing.name == "Boiler"
        assert row.thing.properties == {"site": "plant-7", "edge_id": 1}
        assert [place.name for place in row.thing.locations] == ["Hall 2"]
        assert row.sensor.name == "PT100"
        assert len(session.scalars(select(models.Thing)).all()) == 1


def test_an_unusable_registry_record_is_skipped_and_the_relay_goes_on(
    receiver: RelayReceiver, catalog: Catalog
) -> None:
    good = {"@iot.id": 4, "name": "Pump flow", "Thing": {"@iot.id": 2, "name": "Pump"}}
    records = [
        RelayRecord(0, 0, b"broken", b"{not json"),
        RelayRecord(1, 0, b"odd", msgspec.json.encode({"Thing": "not an object"})),
        RelayRecord(2, 0, b"pump/flow", msgspec.json.encode(good)),
    ]
    answer = receiver.receive("plant-7", RelayBatch([RelayPartition(DATASTREAMS_TOPIC, 0, records)]))
    assert answer.cursors == [Cursor(DATASTREAMS_TOPIC, 0, 2)]
    with catalog.session() as session:
        assert session.scalars(select(models.Datastream.key)).all() == ["plant-7/pump/flow"]


def test_a_site_whose_log_was_replaced_is_refused_until_it_is_forgotten(
    receiver: RelayReceiver, log: BaseLog
) -> None:
    receiver.receive("plant-7", RelayBatch([readings(0, range(10))], origin="log-a"))
    with pytest.raises(SiteMismatchError, match="another log than before"):
        receiver.receive("plant-7", RelayBatch([readings(0, range(3))], origin="log-b"))
    assert receiver.forget("plant-7")
    assert not receiver.forget("plant-7")
    answer = receiver.receive("plant-7", RelayBatch([readings(0, range(3))], origin="log-b"))
    assert answer.accepted == 3  # offsets 0-2 of the new log are new
    assert receiver.sites()[0].origin == "log-b"

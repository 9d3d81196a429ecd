"""The sites routes in-process: precise refusals, a batch taken once, the sites and the edge's link."""

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import msgspec
import pytest

from iotstream.api import relay
from iotstream.config import Settings
from iotstream.log import BaseLog
from iotstream.registry.catalog import open_catalog
from iotstream.relay.config import SitesSettings
from iotstream.relay.cursors import relay_topics
from iotstream.relay.receiver import RelayReceiver
from iotstream.relay.wire import MEDIA_TYPE, RelayBatch, RelayPartition, RelayRecord, encode_batch
from tests.unit.api._client import RouteClient


@pytest.fixture
def api(log: BaseLog, tmp_path: Path) -> Iterator[RouteClient]:
    for spec in relay_topics():
        log.create_topic(spec, exist_ok=True)
    catalog = open_catalog(f"sqlite:///{tmp_path}/registry.db")
    receiver = RelayReceiver(log, catalog, SitesSettings(), lambda keys: None, default_partitions=1)
    settings = Settings(sites={"token": "s3cret"}, ingest={"max_body_bytes": 4096})
    yield RouteClient(relay.router, SimpleNamespace(settings=settings, relay_receiver=receiver, stats=dict))
    receiver.close()
    catalog.close()


def batch(offsets: range) -> bytes:
    values = [msgspec.json.encode({"datastream": "boiler", "time": o, "value": o}) for o in offsets]
    records = [RelayRecord(o, o, b"boiler", v) for o, v in zip(offsets, values, strict=True)]
    return encode_batch(RelayBatch([RelayPartition("observations", 0, records)], backlog_records=12))


AUTH = {"Authorization": "Bearer s3cret", "Content-Type": MEDIA_TYPE, "Content-Encoding": "gzip"}


def test_a_batch_is_taken_once_and_the_site_is_listed(api: RouteClient) -> None:
    first = api.request("POST", "/api/v1/relay/plant-7", content=batch(range(5)), headers=AUTH)
    assert first.json() == {
        "cursors": [{"topic": "observations", "partition": 0, "offset": 4}],
        "accepted": 5,
    }
    again = api.request("POST", "/api/v1/relay/plant-7", content=batch(range(5)), headers=AUTH)
    assert again.json()["accepted"] == 0
    [site] = api.request("GET", "/api/v1/sites").json()
    assert (site["site"], site["lag_records"], site["relayed"]) == ("plant-7", 7, 5)  # 12 less the batch


@pytest.mark.parametrize(
    ("url", "body", "headers", "status", "detail"),
    [
        ("/api/v1/relay/plant-7", b"x", {"Content-Encoding": "gzip"}, 401, "needs [sites] token"),
        (
            "/api/v1/relay/plant-7",
            b"x",
            {**AUTH, "Authorization": "Bearer wrong"},
            401,
            "needs [sites] token",
        ),
        ("/api/v1/relay/plant-7", b"x", AUTH, 400, "body is not gzip"),
        ("/api/v1/relay/plant-7", b"x" * 5000, AUTH, 413, "max_body_bytes = 4096"),
        ("/api/v1/relay/-x", b"x", AUTH, 422, "String should match pattern"),
        ("/api/v1/relay/plant-7/commands", b"{}", AUTH, 503, "commands need the catalog"),
    ],
)
def test_what_cannot_be_taken_is_refused_precisely(
    api: RouteClient, url: str, body: bytes, headers: dict[str, str], status: int, detail: str
) -> None:
    api.app.state.services.commands = None
    answer = api.request("POST", url, content=body, headers=headers)
    assert answer.status_code == status
    assert detail in str(answer.json()["detail"])


def test_an_edge_link_is_shown_only_where_a_relay_runs(api: RouteClient) -> None:
    assert api.request("GET", "/api/v1/relay").status_code == 404
    api.app.state.services.stats = lambda: {"relay": {"connected": True, "backlog_records": 0}}
    assert api.request("GET", "/api/v1/relay").json() == {"connected": True, "backlog_records": 0}


def test_a_replaced_edge_log_is_a_conflict_until_the_site_is_deleted(api: RouteClient) -> None:
    def from_log(origin: str) -> bytes:
        decoded = RelayBatch(
            [RelayPartition("observations", 0, [RelayRecord(0, 0, b"k", b"{}")])], origin=origin
        )
        return encode_batch(decoded)

    assert (
        api.request("POST", "/api/v1/relay/plant-7", content=from_log("a"), headers=AUTH).status_code == 200
    )
    conflict = api.request("POST", "/api/v1/relay/plant-7", content=from_log("b"), headers=AUTH)
    assert conflict.status_code == 409
    assert "DELETE /api/v1/sites/plant-7" in conflict.json()["detail"]
    assert api.request("DELETE", "/api/v1/sites/plant-7").status_code == 204
    assert api.request("DELETE", "/api/v1/sites/plant-7").status_code == 404
    assert (
        api.request("POST", "/api/v1/relay/plant-7", content=from_log("b"), headers=AUTH).json()["accepted"]
        == 1
    )

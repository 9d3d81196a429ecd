"""`/api/v1/commands` in-process, on a real SQLite catalog: tickets, the documents, precise refusals."""

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from iotstream.api import commands
from iotstream.registry.catalog import open_catalog
from iotstream.relay.commands import CommandStore
from tests.unit.api._client import RouteClient

T0 = 1_714_557_600_000  # 2024-05-01T10:00:00Z


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CommandStore]:
    catalog = open_catalog(f"sqlite:///{tmp_path}/registry.db")
    yield CommandStore(catalog, lambda: T0)
    catalog.close()


@pytest.fixture
def api(store: CommandStore) -> RouteClient:
    relaying = SimpleNamespace(sites=lambda: [SimpleNamespace(site="plant-7")])  # edge sites known here
    services = SimpleNamespace(
        commands=store, settings=SimpleNamespace(site="central"), relay_receiver=relaying, access=None
    )
    return RouteClient(commands.router, services)


def test_a_command_is_answered_with_its_ticket_and_can_be_followed(
    api: RouteClient, store: CommandStore
) -> None:
    body = {
        "device": "pump-1",
        "action": "write",
        "path": "/3311/0/5850",
        "value": {"on": True},
        "timeout": "5m",
    }
    answer = api.post("/api/v1/commands", json=body)
    assert answer.status_code == 202
    ticket = answer.json()["ticket"]
    assert answer.json() == {"ticket": ticket}
    assert answer.headers["location"] == f"/api/v1/commands/{ticket}"
    assert api.get(f"/api/v1/commands/{ticket}").json() == {
        "ticket": ticket,
        "state": "queued",
        "site": None,
        "device": "pump-1",
        "transport": "mqtt",
        "command": {"action": "write", "path": "/3311/0/5850", "value": {"on": True}},
        "created": "2024-05-01T10:00:00Z",
        "expires": "2024-05-01T10:05:00Z",
        "updated": "2024-05-01T10:00:00Z",
    }
    store.advance(ticket, "succeeded", value=21.5)
    document = api.get(f"/api/v1/commands/{ticket}").json()
    assert (document["state"], document["value"]) == ("succeeded", 21.5)
    assert "error" not in document


def test_a_read_without_timeout_gets_30_seconds_and_a_failure_shows_the_error(
    api: RouteClient, store: CommandStore
) -> None:
    answer = api.post(
        "/api/v1/commands", json={"device": "d", "action": "read", "path": "/3/0/1", "site": "plant-7"}
    )
    ticket = answer.json()["ticket"]
    store.advance(ticket, "failed", error="no such resource")
    document = api.get(f"/api/v1/commands/{ticket}").json()
    assert document["expires"] == "2024-05-01T10:00:30Z"
    assert (document["site"], document["command"], document["state"]) == (
        "plant-7",
        {"action": "read", "path": "/3/0/1"},
        "failed",
    )
    assert document["error"] == "no such resource"
    assert "value" not in document


def test_an_unknown_ticket_is_a_404_that_names_it(api: RouteClient) -> None:
    answer = api.get("/api/v1/commands/nope")
    assert answer.status_code == 404
    assert answer.json() == {"detail": "no command with ticket 'nope'"}


def test_commands_are_listed_newest_first_with_filters(api: RouteClient, store: CommandStore) -> None:
    tickets = [
        api.post("/api/v1/commands", json={"device": device, "action": "read", "path": "/1"}).json()["ticket"]
        for device in ("a", "b", "a")
    ]
    store.advance(tickets[0], "sent")
    listed = api.get("/api/v1/commands", params={"device": "a"}).json()
    assert {c["ticket"] for c in listed} == {tickets[0], tickets[2]}
    assert [c["ticket"] for c in api.get("/api/v1/commands", params={"state": "sent"}).json()] == [tickets[0]]
    assert len(api.get("/api/v1/commands", params={"limit": 2}).json()) == 2
    refused = api.get("/api/v1/commands", params={"state": "lost"})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["query", "state"]


GOOD: dict[str, Any] = {"device": "pump-1", "action": "write", "path": "/3311/0/5850", "value": 1}


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (b"{not json", 400, "the body is not JSON: "),
        (
            b"[1, 2]",
            400,
            "the body must be a JSON object with the fields device, action, path, value, timeout, site",
        ),
        ({**GOOD, "colour": "red"}, 422, "unknown field 'colour'; the fields are device, action, path"),
        ({"action": "read", "path": "/1"}, 422, "'device' is required"),
        ({**GOOD, "device": ""}, 422, "'device' must be a non-empty string"),
        ({**GOOD, "device": 7}, 422, "'device' must be a non-empty string"),
        ({**GOOD, "device": "hall/pump"}, 422, "'device' must be one MQTT topic level"),
        ({**GOOD, "device": "pumps+"}, 422, "'device' must be one MQTT topic level"),
        ({**GOOD, "action": "reboot"}, 422, "'action' must be one of 'read', 'write', 'execute', 'discover'"),
        ({**GOOD, "path": 5}, 422, "'path' must be a non-empty string"),
        ({**GOOD, "value": None}, 422, "'value' is required for a write"),
        ({**GOOD, "action": "read"}, 422, "'value' is not allowed for a read"),
        ({**GOOD, "timeout": "soon"}, 422, "'timeout': 'soon' is not a duration"),
        ({**GOOD, "timeout": 30}, 422, "'timeout' must be a duration such as \"30s\"; got 30"),
        ({**GOOD, "timeout": "2d"}, 422, "'timeout' must be more than 0 and at most 1d; got '2d'"),
        ({**GOOD, "timeout": "0s"}, 422, "'timeout' must be more than 0 and at most 1d; got '0s'"),
        ({**GOOD, "site": ""}, 422, "'site' must be a non-empty string or absent; got ''"),
    ],
)
def test_an_unusable_command_is_refused_with_a_message_naming_the_field(
    api: RouteClient, store: CommandStore, body: Any, status: int, detail: str
) -> None:
    if isinstance(body, bytes):
        answer = api.post("/api/v1/commands", content=body, headers={"content-type": "application/json"})
    else:
        answer = api.post("/api/v1/commands", json=body)
    assert answer.status_code == status
    assert answer.json()["detail"].startswith(detail)
    assert store.list() == []


def test_an_execute_may_carry_a_value_or_none(api: RouteClient) -> None:
    for body in ({"device": "d", "action": "execute", "path": "/3/0/4"}, {**GOOD, "action": "execute"}):
        assert api.post("/api/v1/commands", json=body).status_code == 202


def test_a_command_names_an_edge_site_that_relays_here_or_none(api: RouteClient) -> None:
    own = api.post("/api/v1/commands", json={**GOOD, "site": "central"})
    assert api.get(f"/api/v1/commands/{own.json()['ticket']}").json()["site"] is None  # this platform's
    unknown = api.post("/api/v1/commands", json={**GOOD, "site": "plant-9"})
    assert unknown.status_code == 422
    assert unknown.json()["detail"] == "'site': no site 'plant-9' relays to this platform (sites: plant-7)"

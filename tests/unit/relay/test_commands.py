"""The command store on a real SQLite catalog: transitions, expiry, relayed tickets, concurrent claims."""

import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from iotstream.registry.catalog import Catalog, open_catalog
from iotstream.registry.models import Thing
from iotstream.relay.channel import CommandChannel, RelayedCommand
from iotstream.relay.command_rules import InvalidCommandError
from iotstream.relay.commands import CommandStore
from iotstream.relay.config import RelaySettings

T0 = 1_714_557_600_000  # 2024-05-01T10:00:00Z


class Clock:
    """Epoch ms that a test moves by hand."""

    def __init__(self, now_ms: int = T0) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(catalog: Catalog, clock: Clock) -> CommandStore:
    return CommandStore(catalog, clock)


def test_a_new_command_is_queued_with_a_random_ticket_and_its_expiry(store: CommandStore) -> None:
    first = store.create("pump-1", "write", "/3311/0/5850", {"on": True}, 30_000)
    second = store.create("pump-1", "read", "/3311/0/5850", None, 30_000)
    assert first.ticket != second.ticket
    assert len(first.ticket) == 32
    assert (first.state, first.site, first.device, first.action, first.path) == (
        "queued",
        None,
        "pump-1",
        "write",
        "/3311/0/5850",
    )
    assert first.value == {"on": True}
    assert (first.created_ms, first.expires_ms, first.updated_ms) == (T0, T0 + 30_000, T0)
    assert (first.relayed, first.reported, first.result, first.error) == (False, None, None, None)
    assert store.get(first.ticket) == first


def test_a_command_goes_forward_only_and_its_final_state_never_changes(
    store: CommandStore, clock: Clock
) -> None:
    ticket = store.create("pump-1", "read", "/3/0/1", None, 30_000).ticket
    clock.now_ms += 10
    assert store.advance(ticket, "sent")
    assert not store.advance(ticket, "sent")  # not forward
    assert not store.advance(ticket, "queued")  # backward
    assert store.advance(ticket, "delivered")
    assert not store.advance(ticket, "sent")
    clock.now_ms += 10
    assert store.advance(ticket, "succeeded", value=21.5)
    for state in ("failed", "expired", "succeeded", "delivered", "queued"):
        assert not store.advance(ticket, state, value=0, error="late")
    command = store.get(ticket)
    assert command is not None
    assert (command.state, command.result, command.error) == ("succeeded", 21.5, None)
    assert command.updated_ms == T0 + 20


def test_a_state_may_be_skipped_and_a_failure_keeps_the_devices_error(store: CommandStore) -> None:
    ticket = store.create("valve", "execute", "/3/0/4", None, 30_000).ticket
    assert store.advance(ticket, "delivered")  # e.g. the broker's acknowledgement raced the claim's report
    assert store.advance(ticket, "failed", error="no such resource")
    command = store.get(ticket)
    assert command is not None
    assert (command.state, command.error, command.result) == ("failed", "no such resource", None)
    assert not store.advance("no-such-ticket", "sent")


def test_a_command_past_its_expiry_reads_expired_and_that_is_stored(
    catalog: Catalog, store: CommandStore, clock: Clock
) -> None:
    ticket = store.create("pump-1", "read", "/3/0/1", None, 1_000).ticket
    assert store.advance(ticket, "sent")
    clock.now_ms += 999
    assert store.get(ticket).state == "sent"  # type: ignore[union-attr]
    clock.now_ms += 1
    assert not store.advance(ticket, "succeeded", value=1)  # too late: it reads as expired
    command = store.get(ticket)
    assert command is not None
    assert (command.state, command.updated_ms) == ("expired", T0 + 1_000)
    before = CommandStore(catalog, lambda: T0)  # a clock before the expiry: only the stored state
    assert before.get(ticket).state == "expired"  # type: ignore[union-attr]
    assert not before.advance(ticket, "succeeded", value=1)  # final


def test_listing_expires_lazily_so_a_state_filter_never_shows_an_expired_command(
    catalog: Catalog, store: CommandStore, clock: Clock
) -> None:
    short = store.create("a", "read", "/1", None, 1_000).ticket
    long = store.create("a", "read", "/2", None, 60_000).ticket
    clock.now_ms += 5_000
    assert [c.ticket for c in store.list(state="queued")] == [long]
    assert [c.ticket for c in CommandStore(catalog, lambda: T0).list(state="expired")] == [short]


def test_the_sweep_expires_only_what_is_due_and_not_final(
    catalog: Catalog, store: CommandStore, clock: Clock
) -> None:
    answered = store.create("a", "read", "/1", None, 1_000).ticket
    store.advance(answered, "succeeded", value=1)
    due = store.create("a", "read", "/2", None, 1_000).ticket
    store.advance(due, "delivered")
    later = store.create("a", "read", "/3", None, 60_000).ticket
    clock.now_ms += 1_000
    assert store.expire_due() == 1
    assert store.expire_due() == 0
    stored = {c.ticket: c.state for c in CommandStore(catalog, lambda: T0).list()}
    assert stored == {answered: "succeeded", due: "expired", later: "queued"}


def test_list_is_newest_first_and_filters_by_device_site_and_state(store: CommandStore, clock: Clock) -> None:
    made = []
    for device, site in [("a", None), ("b", None), ("a", "plant-7"), ("a", None)]:
        made.append(store.create(device, "read", "/1", None, 60_000, site).ticket)
        clock.now_ms += 1
    store.advance(made[3], "sent")
    assert [c.ticket for c in store.list()] == made[::-1]
    assert [c.ticket for c in store.list(device="a")] == [made[3], made[2], made[0]]
    assert [c.ticket for c in store.list(site="plant-7")] == [made[2]]
    assert [c.ticket for c in store.list(device="a", state="queued")] == [made[2], made[0]]
    assert [c.ticket for c in store.list(limit=2)] == [made[3], made[2]]


def test_queued_for_site_gives_the_oldest_queued_unexpired_commands_of_that_site(
    store: CommandStore, clock: Clock
) -> None:
    local_short = store.create("a", "read", "/1", None, 1_000).ticket
    local = []
    for n in range(3):
        clock.now_ms += 1
        local.append(store.create("a", "read", f"/{n}", None, 60_000).ticket)
    edge = store.create("a", "read", "/1", None, 60_000, "plant-7").ticket
    store.advance(local[1], "sent")
    clock.now_ms += 1_000
    assert [c.ticket for c in store.queued_for_site(None, 10)] == [local[0], local[2]]
    assert [c.ticket for c in store.queued_for_site(None, 1)] == [local[0]]
    assert [c.ticket for c in store.queued_for_site("plant-7", 10)] == [edge]
    assert local_short not in {c.ticket for c in store.queued_for_site(None, 10)}


def test_creating_a_given_ticket_again_returns_the_first_command_unchanged(
    store: CommandStore, clock: Clock
) -> None:
    first = store.create("pump-1", "write", "/1", 5, 30_000, ticket="central-1", expires_ms=T0 + 7_000)
    assert (first.ticket, first.expires_ms, first.relayed, first.state) == (
        "central-1",
        T0 + 7_000,
        True,
        "queued",
    )
    store.advance("central-1", "sent")
    clock.now_ms += 100
    again = store.create("pump-2", "write", "/2", 6, 60_000, ticket="central-1", expires_ms=T0 + 9_000)
    assert again == store.get("central-1")
    assert (again.device, again.path, again.value, again.expires_ms, again.state) == (
        "pump-1",
        "/1",
        5,
        T0 + 7_000,
        "sent",
    )


def test_unreported_lists_relayed_commands_until_their_state_is_marked_reported(store: CommandStore) -> None:
    store.create("a", "read", "/1", None, 60_000)  # local: nothing to report
    ticket = store.create("a", "read", "/1", None, 60_000, ticket="t-1").ticket
    assert [(c.ticket, c.state, c.reported) for c in store.unreported(10)] == [("t-1", "queued", None)]
    assert store.mark_reported(ticket, "queued")
    assert store.unreported(10) == []
    store.advance(ticket, "sent")
    assert [(c.ticket, c.state, c.reported) for c in store.unreported(10)] == [("t-1", "sent", "queued")]
    assert store.mark_reported(ticket, "sent")
    assert store.unreported(10) == []
    assert not store.mark_reported("no-such-ticket", "sent")


def test_a_relayed_command_that_expires_is_unreported_again(store: CommandStore, clock: Clock) -> None:
    store.create("a", "read", "/1", None, 1_000, ticket="t-2")
    store.mark_reported("t-2", "queued")
    clock.now_ms += 1_000
    assert [(c.ticket, c.state) for c in store.unreported(10)] == [("t-2", "expired")]


def test_of_concurrent_claims_from_two_processes_exactly_one_wins(tmp_path: Path) -> None:
    """Two catalogs on one file stand for two `mqtt` processes: every queued command is claimed once."""
    url = f"sqlite:///{tmp_path}/shared.db"
    catalogs = [open_catalog(url), open_catalog(url)]
    stores = [CommandStore(catalog) for catalog in catalogs]
    tickets = [stores[0].create("a", "read", f"/{n}", None, 60_000).ticket for n in range(30)]
    won: list[list[str]] = [[], []]
    start = threading.Barrier(2)

    def claim(index: int) -> None:
        start.wait()
        won[index] = [t for t in tickets if stores[index].advance(t, "sent")]

    threads = [threading.Thread(target=claim, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for catalog in catalogs:
        catalog.close()
    assert sorted(won[0] + won[1]) == sorted(tickets)  # each claimed, and by one of them only


def test_creating_wakes_every_store_on_the_same_catalog(catalog: Catalog, tmp_path: Path) -> None:
    deliverer, api = CommandStore(catalog), CommandStore(catalog)
    other = open_catalog(f"sqlite:///{tmp_path}/other.db")
    try:
        assert not deliverer.wakeup("mqtt").is_set()
        api.create("a", "read", "/1", None, 60_000)
        assert deliverer.wakeup("mqtt").is_set()
        assert not deliverer.wakeup("lwm2m").is_set()
        assert not CommandStore(other).wakeup("mqtt").is_set()
    finally:
        other.close()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"device": ""}, "'device' must be a non-empty string"),
        ({"device": "a/b"}, "'device' must be one MQTT topic level of at most 255 characters, without"),
        ({"device": "a+"}, "'device' must be one MQTT topic level"),
        ({"device": "#"}, "'device' must be one MQTT topic level"),
        ({"device": "a\0"}, "'device' must be one MQTT topic level"),
        ({"device": "d" * 256}, "'device' must be one MQTT topic level"),
        (
            {"action": "reboot"},
            "'action' must be one of 'read', 'write', 'execute', 'discover', 'write-attributes', 'create',"
            " 'delete'; got 'reboot'",
        ),
        ({"path": ""}, "'path' must be a non-empty string"),
        ({"action": "write"}, "'value' is required for a write"),
        ({"value": 3}, "'value' is not allowed for a read"),
        ({"timeout_ms": 0}, "'timeout' must be more than 0 and at most 1 day; got 0 ms"),
        ({"timeout_ms": 86_400_001}, "'timeout' must be more than 0 and at most 1 day; got 86400001 ms"),
        ({"ticket": ""}, "'ticket' must be a string of 1 to 64 characters; got ''"),
    ],
)
def test_an_unusable_command_is_refused_naming_the_field(
    store: CommandStore, fields: dict[str, Any], message: str
) -> None:
    command: dict[str, Any] = {"device": "pump-1", "action": "read", "path": "/3/0/1", "value": None}
    command |= {"timeout_ms": 30_000} | fields
    with pytest.raises(InvalidCommandError, match="^" + message.replace("+", r"\+")):
        store.create(**command)
    assert store.list() == []


def lwm2m_endpoint(catalog: Catalog, name: str) -> None:
    """A Thing as the LwM2M server leaves one for an endpoint that registered."""
    with catalog.session(write=True) as session:
        session.add(
            Thing(name=name, description="", tenant="default", properties={"lwm2m": {"registered": True}})
        )


def test_a_command_to_an_lwm2m_endpoint_goes_to_the_lwm2m_deliverer_alone(catalog: Catalog) -> None:
    lwm2m_endpoint(catalog, "boiler-7")
    with catalog.session(write=True) as session:  # a Thing of that name in another tenant is another device
        session.add(Thing(name="pump-1", description="", tenant="acme", properties={"lwm2m": {}}))
    store = CommandStore(catalog)
    lwm2m = store.create("boiler-7", "write", "/3303/0/5750", "kitchen", 60_000)
    mqtt = store.create("pump-1", "read", "/3/0/1", None, 60_000)
    tenants = store.create("@acme/boiler-7", "read", "/3/0/1", None, 60_000)
    relayed = store.create("boiler-7", "read", "/3/0/1", None, 60_000, site="plant-7")
    assert [c.transport for c in (lwm2m, mqtt, tenants, relayed)] == ["lwm2m", "mqtt", "mqtt", None]
    assert store.wakeup("lwm2m").is_set()
    assert [c.ticket for c in store.queued_for_site(None, 10, "lwm2m")] == [lwm2m.ticket]
    assert [c.ticket for c in store.queued_for_site(None, 10, "mqtt")] == [mqtt.ticket, tenants.ticket]
    assert [c.ticket for c in store.queued_for_site("plant-7", 10)] == [relayed.ticket]


@pytest.mark.parametrize(
    ("action", "path", "value", "message"),
    [
        ("read", "/3311/on", None, "'path' must be an LwM2M path such as /3311/0/5850"),
        ("execute", "/3/0", None, "'path' for execute must name a resource (/3303/0/5700); got '/3/0'"),
        ("delete", "/3/0/1", None, "'path' for delete must name an instance (/3303/0); got '/3/0/1'"),
        ("write", "/3311/0/5850", {"on": True}, "'value' of a resource is a number, a boolean or text"),
    ],
)
def test_a_command_an_lwm2m_endpoint_cannot_take_is_refused_naming_the_field(
    catalog: Catalog, action: str, path: str, value: Any, message: str
) -> None:
    lwm2m_endpoint(catalog, "boiler-7")
    store = CommandStore(catalog)
    with pytest.raises(InvalidCommandError, match="^" + re.escape(message)):
        store.create("boiler-7", action, path, value, 60_000)
    assert store.list() == []
    assert store.create("pump-1", action, path, value, 60_000).transport == "mqtt"  # an MQTT device's own


def test_a_relayed_command_an_lwm2m_device_here_cannot_take_is_kept_failed_and_reported(
    catalog: Catalog,
) -> None:
    """The central site does not know the edge's device is an LwM2M one: the edge refuses the command
    and reports it failed with the reason, rather than letting it expire."""
    lwm2m_endpoint(catalog, "boiler-7")
    store = CommandStore(catalog)
    channel = CommandChannel(store, "plant-7", RelaySettings(to="http://central.invalid"))
    expires_ms = time.time_ns() // 1_000_000 + 60_000
    try:
        relayed = RelayedCommand("t-1", "boiler-7", "execute", "/3/0", expires_ms)
        usable = RelayedCommand("t-2", "boiler-7", "read", "/3/0/1", expires_ms)
        assert channel._keep([relayed, usable, relayed]) == ["t-1", "t-2", "t-1"]  # all acknowledged
    finally:
        channel.close()
    failed = store.get("t-1")
    assert failed is not None
    assert (failed.state, failed.relayed, failed.expires_ms) == ("failed", True, expires_ms)
    assert failed.error == "'path' for execute must name a resource (/3303/0/5700); got '/3/0'"
    assert [(c.ticket, c.state) for c in store.unreported(10)] == [("t-1", "failed"), ("t-2", "queued")]

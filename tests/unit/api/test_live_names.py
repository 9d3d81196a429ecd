"""Live events reach a tenant's clients under the tenant's names, and nobody else's clients."""

import asyncio

import msgspec

from iotstream.api.live import LiveClient, _Events
from iotstream.registry.access import Scope

TYPES = {"observations": b"reading", "aggregates.1d": b"window"}


def test_a_tenants_events_are_renamed_for_its_clients_and_hidden_from_others() -> None:
    events = _Events(TYPES)
    events.add(b"@acme/pump", b'{"datastream":"@acme/pump","time":1,"value":2}', "observations")
    events.add(b"@acme/pump", b'{"key":"@acme/pump","window":"1d","start":0,"sum":2}', "aggregates.1d")
    events.add(b"pump", b'{"datastream":"pump","time":1,"value":3}', "observations")
    loop = asyncio.new_event_loop()
    try:
        acme = LiveClient(["*"], loop, 8, Scope("acme"))
        default = LiveClient(["*"], loop, 8, Scope())
        framed = [msgspec.json.decode(event) for event in events.wanted_by(acme)]
        assert framed == [
            {"type": "reading", "event": {"datastream": "pump", "time": 1, "value": 2}},
            {"type": "window", "event": {"key": "pump", "window": "1d", "start": 0, "sum": 2}},
        ]
        assert [msgspec.json.decode(e)["event"]["value"] for e in events.wanted_by(default)] == [3]
    finally:
        loop.close()

"""Talking to a running platform from elsewhere: the Python client (`Client`, `AsyncClient`), and the
importer's parts (`files`: history in files turned into readings; `sending`: readings sent over HTTP
with retries).

The client needs only httpx, msgspec and websockets (pandas for DataFrames, optional), so a device can
run it without the server's dependencies: `pip install iotstream-client`, or `iotstream` itself.

Example::

    from iotstream.client import Client

    with Client("http://localhost:8000", buffer="/var/lib/sensor-7") as client:
        client.send("sensor-7/temperature", 21.5)
        for event in client.subscribe("sensor-7/*"):
            print(event)
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from iotstream.client._readings import Rejected
    from iotstream.client.async_client import AsyncClient
    from iotstream.client.async_live import AsyncSubscription
    from iotstream.client.client import Client
    from iotstream.client.commands import AsyncTicket, CommandStatus, Ticket
    from iotstream.client.events import AlertEvent, Event, ReadingEvent, WindowEvent
    from iotstream.client.exceptions import (
        AuthError,
        BufferFullError,
        ClientError,
        DataFramesMissingError,
        NotFoundError,
        RejectedError,
        RequestError,
        UnreachableError,
    )
    from iotstream.client.live import ClosedError, Subscription
    from iotstream.client.registry import (
        Datastream,
        ObservedProperty,
        RegisteredDatastream,
        RegisteredThing,
        Sensor,
        Thing,
        Unit,
    )

__all__ = [
    "AlertEvent",
    "AsyncClient",
    "AsyncSubscription",
    "AsyncTicket",
    "AuthError",
    "BufferFullError",
    "Client",
    "ClientError",
    "ClosedError",
    "CommandStatus",
    "DataFramesMissingError",
    "Datastream",
    "Event",
    "NotFoundError",
    "ObservedProperty",
    "ReadingEvent",
    "RegisteredDatastream",
    "RegisteredThing",
    "Rejected",
    "RejectedError",
    "RequestError",
    "Sensor",
    "Subscription",
    "Thing",
    "Ticket",
    "Unit",
    "UnreachableError",
    "WindowEvent",
]

# Names load with their module on first use: the importer's `files` and `sending` are imported on
# their own by `iotstream import`, which then need not load websockets and the rest of the client.
_MODULE_OF = {
    "AlertEvent": "events",
    "AsyncClient": "async_client",
    "AsyncSubscription": "async_live",
    "AsyncTicket": "commands",
    "AuthError": "exceptions",
    "BufferFullError": "exceptions",
    "Client": "client",
    "ClientError": "exceptions",
    "ClosedError": "live",
    "CommandStatus": "commands",
    "DataFramesMissingError": "exceptions",
    "Datastream": "registry",
    "Event": "events",
    "NotFoundError": "exceptions",
    "ObservedProperty": "registry",
    "ReadingEvent": "events",
    "RegisteredDatastream": "registry",
    "RegisteredThing": "registry",
    "Rejected": "_readings",
    "RejectedError": "exceptions",
    "RequestError": "exceptions",
    "Sensor": "registry",
    "Subscription": "live",
    "Thing": "registry",
    "Ticket": "commands",
    "Unit": "registry",
    "UnreachableError": "exceptions",
    "WindowEvent": "events",
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)

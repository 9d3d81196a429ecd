"""The platform's roles, each a unit with one start/stop/health shape, and their composition into a
process (`Platform`).

The names below load on first use: a command that needs only `roles.parts` (an import straight into
the log) does not pay for every role's web framework and drivers at start-up.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from iotstream.roles.base import Role, ThreadedRole
    from iotstream.roles.parts import Parts
    from iotstream.roles.platform import Platform, UnknownRoleError

__all__ = ["ROLE_NAMES", "Parts", "Platform", "Role", "ThreadedRole", "UnknownRoleError"]

ROLE_NAMES = (
    "sink",
    "registry",
    "notify",
    "jobs",
    "relay",
    "sources",
    "api",
    "mqtt",
    "lwm2m",
)  # the order they start in

_HOMES = {
    "Role": "base",
    "ThreadedRole": "base",
    "Parts": "parts",
    "Platform": "platform",
    "UnknownRoleError": "platform",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)

"""Tenants, their systems, users and tokens: who may see and change what (see `principal`).

The names below load on first use, so the settings, which need only `principal`'s names, do not bring
the database layer into every command.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from iotstream.registry.access.principal import DEFAULT_TENANT, OPEN, Principal, Role, Scope, ScopeError
    from iotstream.registry.access.store import (
        AccessError,
        AccessStore,
        ConflictError,
        NotFoundError,
        TokenInfo,
    )
    from iotstream.registry.access.verifier import TokenVerifier

__all__ = [
    "DEFAULT_TENANT",
    "OPEN",
    "AccessError",
    "AccessStore",
    "ConflictError",
    "NotFoundError",
    "Principal",
    "Role",
    "Scope",
    "ScopeError",
    "TokenInfo",
    "TokenVerifier",
]

_HOMES = dict.fromkeys(["DEFAULT_TENANT", "OPEN", "Principal", "Role", "Scope", "ScopeError"], "principal")
_STORE_NAMES = ["AccessError", "AccessStore", "ConflictError", "NotFoundError", "TokenInfo"]
_HOMES |= dict.fromkeys(_STORE_NAMES, "store")
_HOMES["TokenVerifier"] = "verifier"


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)

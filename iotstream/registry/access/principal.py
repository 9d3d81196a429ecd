"""Who is asking, and which datastream names they see.

A tenant's datastreams live in the log, the store and the catalog under keys that carry the tenant:
`@acme/house1/power` is tenant `acme`'s `house1/power`. Each tenant therefore names its datastreams as it
likes without colliding with another's, and one check at each door (`Scope`) decides what a caller may
name and see. The `default` tenant keeps unprefixed keys, so a platform that ran without tenants keeps
its data. With access control on, no caller may name its own datastreams beginning with `@`: that names
another tenant's (`@acme/apps/hot/t1`, an app output acme shares), which a caller reads only when shared.

A system is a part of a tenant (a building, a fleet): its datastreams are those whose names begin with
`<system>/`, and a token scoped to a system sees only those.
"""

import enum
import functools
import re
from dataclasses import dataclass

__all__ = ["DEFAULT_TENANT", "OPEN", "Principal", "Role", "Scope", "ScopeError", "check_name", "owner_of"]

DEFAULT_TENANT = "default"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def check_name(kind: str, name: str) -> str:
    """Tenant and system names appear in keys, URLs and MQTT topics: lower-case, short, no separators."""
    if not _NAME.match(name):
        raise ValueError(
            f"{kind} name {name!r} must be 1-63 lower-case letters, digits, '_' or '-',"
            " starting with a letter or digit"
        )
    return name


def owner_of(key: str) -> tuple[str, str]:
    """The tenant a stream key belongs to, and the name that tenant knows it by.

    >>> owner_of("@acme/house1/power"), owner_of("house1/power")
    (('acme', 'house1/power'), ('default', 'house1/power'))
    """
    if key.startswith("@") and "/" in key:
        tenant, name = key[1:].split("/", 1)
        return tenant, name
    return DEFAULT_TENANT, key


class Role(enum.IntEnum):
    """Each role may do what the ones below it may."""

    reader = 1  # read data, watch live feeds
    writer = 2  # also send readings, create and change entities, send commands
    admin = 3  # also manage the tenant's tokens, users and systems (the default tenant's: the platform)

    def __str__(self) -> str:
        return self.name


class ScopeError(ValueError):
    """A name the caller may not use; its message says why (in a 400 or beside a rejected reading)."""


@dataclass(frozen=True)
class Scope:
    """Maps the names a caller uses to stream keys and back; `everything` sees every key as it is
    (access control off)."""

    tenant: str = DEFAULT_TENANT
    system: str | None = None
    everything: bool = False
    shared: tuple[str, ...] = ()  # key prefixes of other tenants' app outputs this caller may read

    @functools.cached_property
    def prefix(self) -> str:  # once per scope: it is asked for every reading
        return "" if self.tenant == DEFAULT_TENANT or self.everything else f"@{self.tenant}/"

    def key(self, name: str) -> str:
        """The stream key of `name`; raises `ScopeError` for a name this caller may not use."""
        if self.everything:
            return name
        if name.startswith("@"):  # `@<tenant>/…` names another tenant's datastream (shared, or not)
            raise ScopeError(f"datastream names beginning with '@' are reserved for tenants: {name!r}")
        if self.system is not None and not name.startswith(f"{self.system}/"):
            raise ScopeError(
                f"a token of system {self.system!r} may only name datastreams '{self.system}/…': {name!r}"
            )
        return self.prefix + name

    def read_key(self, name: str) -> str:
        """The stream key of a datastream the caller reads: its own (as `key`), or another tenant's
        shared with it, named `@<owner>/<name>`."""
        if self.shared and name.startswith("@"):
            owner, _, rest = name[1:].partition("/")
            key = rest if owner == DEFAULT_TENANT else name
            if key.startswith(self.shared):
                return key
        return self.key(name)

    def name(self, key: str) -> str | None:
        """The name this caller knows `key` by, or None when the key is not theirs to see."""
        if self.everything:
            return key
        prefix = self.prefix
        if prefix:
            if not key.startswith(prefix):
                return self._shared_name(key)
            name = key[len(prefix) :]
        elif key.startswith("@"):
            return self._shared_name(key)
        else:
            name = key
        if self.system is not None and not name.startswith(f"{self.system}/"):
            return self._shared_name(key)
        return name

    def _shared_name(self, key: str) -> str | None:
        if not self.shared or not key.startswith(self.shared):
            return None
        return key if key.startswith("@") else f"@{DEFAULT_TENANT}/{key}"

    def visible_keys(self, keys: "list[str] | set[str]") -> dict[str, str]:
        """Of `keys`, those this caller sees, each with its name."""
        return {key: name for key in keys if (name := self.name(key)) is not None}


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a token (of a device, an app or a user's session) with its role."""

    tenant: str
    role: Role
    system: str | None = None
    token_id: str | None = None
    user: str | None = None
    max_readings_per_s: float | None = None  # the tenant's rate limit
    everything: bool = False
    shared: tuple[str, ...] = ()  # key prefixes of app outputs other tenants share with this tenant

    @functools.cached_property
    def scope(self) -> Scope:
        return Scope(self.tenant, self.system, self.everything, self.shared)

    @property
    def operator(self) -> bool:
        """An admin of the default tenant manages the platform: every tenant, /metrics."""
        return self.role >= Role.admin and self.tenant == DEFAULT_TENANT and self.system is None

    def may(self, role: Role) -> bool:
        return self.role >= role

    def __str__(self) -> str:
        if self.everything:
            return "anyone (access control is off)"
        who = f"user {self.user}" if self.user else f"token {self.token_id}"
        where = self.tenant if self.system is None else f"{self.tenant}/{self.system}"
        return f"{who} ({self.role} of {where})"


OPEN = Principal(DEFAULT_TENANT, Role.admin, everything=True)  # every caller, when access control is off

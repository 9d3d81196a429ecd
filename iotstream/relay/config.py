"""Settings of sites: `site` names this platform, `[relay]` forwards its log to a central site, and
`[sites]` is how a central site takes what edge sites relay."""

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from iotstream._units import DurationMs, parse_duration_ms, parse_size_bytes

__all__ = ["SITE_NAME", "RelaySettings", "SitesSettings", "check_site_name"]

SITE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_AGE = re.compile(r"^\s*\d+(?:\.\d+)?\s*(ms|s|m|h|d|w)\s*$", re.IGNORECASE)


def check_site_name(name: str) -> str:
    """A site's name is one path segment of the central site's URLs and the prefix of its datastreams."""
    if not SITE_NAME.match(name):
        raise ValueError(
            f"site name {name!r} must be 1-63 letters, digits, '_', '.' or '-',"
            " starting with a letter or digit"
        )
    return name


class RelaySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    to: str | None = Field(
        default=None,
        description="The central site's API (http://host:port or https://…); the relay runs when set.",
    )
    topics: list[str] = Field(
        default=["observations", "alerts", "aggregates.*"],
        description="Topics to forward; `*` matches within a name. The registry's Datastreams always go.",
    )
    token: SecretStr | None = Field(
        default=None, description="Sent as `Authorization: Bearer` to the central site."
    )
    max_rate: float = Field(
        default=20_000, ge=0, description="Records per second at most while catching up; 0: no bound."
    )
    batch_records: int = Field(default=2_000, ge=1, le=100_000, description="Records per request at most.")
    max_backlog: str | None = Field(
        default=None,
        description="Bound on what waits to be relayed: a size (`2GiB`) or an age (`3d`); none by default.",
    )
    on_full: Literal["refuse", "drop_oldest"] = Field(
        default="refuse",
        description="Past `max_backlog`: ingestion answers 503 (`refuse`), or the oldest unsent records "
        "are dropped and counted (`drop_oldest`).",
    )
    timeout_ms: DurationMs = Field(default=10_000, ge=100, description="How long one request may take.")
    retry_max_ms: DurationMs = Field(default=5_000, ge=10, description="Longest wait between retries.")
    compression: Literal["gzip", "none"] = Field(
        default="gzip",
        description="How request bodies are sent: gzip-compressed (level 1) or as they are (`none`), "
        "sparing the edge's CPU on a fast link.",
    )

    @field_validator("to")
    @classmethod
    def _http(cls, to: str | None) -> str | None:
        if to is not None and not to.startswith(("http://", "https://")):
            raise ValueError(
                f"[relay] to = {to!r} must be the central site's API: http://host:port or https://…"
            )
        return to.rstrip("/") if to else to

    @field_validator("max_backlog")
    @classmethod
    def _bound(cls, bound: str | None) -> str | None:
        if bound is not None:
            backlog_limits(bound)  # raises with the reason
        return bound

    @property
    def backlog_bytes(self) -> int | None:
        return None if self.max_backlog is None else backlog_limits(self.max_backlog)[0]

    @property
    def backlog_age_ms(self) -> int | None:
        return None if self.max_backlog is None else backlog_limits(self.max_backlog)[1]


def backlog_limits(bound: str) -> tuple[int | None, int | None]:
    """(bytes, age in ms) of a `max_backlog`: one of them is set."""
    if _AGE.match(bound):
        return None, parse_duration_ms(bound)
    try:
        return parse_size_bytes(bound), None
    except ValueError:
        raise ValueError(
            f"max_backlog {bound!r} is neither a size (2GiB, 500MB) nor an age (12h, 3d)"
        ) from None


class SitesSettings(BaseModel):
    """What a central site does with relayed records."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prefix: str = Field(
        default="{site}/",
        description="Relayed datastreams are named this prefix + the edge's name; `{site}` is the site.",
    )
    token: SecretStr | None = Field(
        default=None, description="When set, relays must send it as `Authorization: Bearer`."
    )

    @field_validator("prefix")
    @classmethod
    def _names_the_site(cls, prefix: str) -> str:
        if "{site}" not in prefix:
            raise ValueError(
                f"[sites] prefix {prefix!r} must contain {{site}}, or two sites' names would collide"
            )
        return prefix

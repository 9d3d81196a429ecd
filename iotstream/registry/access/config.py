"""The `[auth]` table: whether every request must say who it is, and how long a login lasts."""

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from iotstream._units import DurationMs

__all__ = ["AuthSettings"]


class AuthSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(
        default=False,
        description="Every request needs a token, a login session or a password (off: one user, no set-up).",
    )
    scrape_token: SecretStr | None = Field(
        default=None, description="A bearer token that may read /metrics and nothing else (for Prometheus)."
    )
    session_ttl: DurationMs = Field(
        default=43_200_000, gt=0, description="How long a dashboard login lasts (default 12h)."
    )

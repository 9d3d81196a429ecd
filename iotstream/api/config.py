"""The `[api]` table: where the HTTP API and dashboard listen, and who may call them from a browser."""

from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["ApiSettings"]


class ApiSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field(default="127.0.0.1", description="Only this machine by default; 0.0.0.0 for all.")
    port: int = Field(default=8000, ge=0, le=65_535, description="0 picks a free port.")
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Browser origins (https://app.example.com) allowed to call the API cross-origin; none: "
        "no CORS. When set, POST /api/v1/readings goes through FastAPI instead of its faster path.",
    )
    public_url: str | None = Field(
        default=None,
        description="Where clients reach the API (a load balancer's URL): SensorThings MQTT notifications"
        " of a process without the API link there. Default: http://host:port of this setting.",
    )
    tls_cert: Path | None = Field(
        default=None, description="Serve HTTPS with this certificate (PEM, chain first); with tls_key."
    )
    tls_key: Path | None = Field(default=None, description="The certificate's private key (PEM).")
    max_connections: int = Field(
        default=1_000,
        ge=1,
        description="Open HTTP and WebSocket connections at most; a request beyond them is answered 503.",
    )
    max_header_bytes: int = Field(
        default=65_536,
        ge=1_024,
        description="A request's line and headers together at most; a longer head is answered 431.",
    )

    @model_validator(mode="after")
    def _both_or_neither(self) -> Self:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both for HTTPS, or neither")
        return self

"""The `[api]` table: where the HTTP API and dashboard listen, and who may call them from a browser."""

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ApiSettings"]


class ApiSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field(default="127.0.0.1", description="Only this machine by default; 0.0.0.0 for all.")
    port: int = Field(default=8000, ge=0, le=65_535, description="0 picks a free port.")
    cors_origins: list[str] = Field(default_factory=list)
    public_url: str | None = Field(
        default=None,
        description="Where clients reach the API (a load balancer's URL): SensorThings MQTT notifications"
        " of a process without the API link there. Default: http://host:port of this setting.",
    )

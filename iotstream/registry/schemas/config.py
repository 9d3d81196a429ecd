"""Settings of the Schema Registry: the platform's own, or an existing one it uses instead."""

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["SchemaSettings"]


class SchemaSettings(BaseModel):
    """The `[schemas]` table of `iotstream.toml`; also `IOTSTREAM_SCHEMAS__URL`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None = Field(
        default=None,
        description="An existing Confluent-compatible Schema Registry (http[s]://[user:password@]host:port) "
        "to use instead of the platform's own; its /schema-registry API is then not served.",
    )
    timeout_s: float = Field(default=10.0, gt=0, description="Bound on one request to that registry.")

    @field_validator("url")
    @classmethod
    def _http(cls, url: str | None) -> str | None:
        if not url:  # "" in a file or the environment: the platform's own
            return None
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"[schemas] url {url!r} must be an http:// or https:// address")
        return url.rstrip("/")

"""Settings of the registry: where the catalog lives."""

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["RegistrySettings"]


class RegistrySettings(BaseModel):
    """The `[registry]` table of `iotstream.toml`; also `IOTSTREAM_REGISTRY__URL`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(
        default="sqlite:///registry.db",
        description="sqlite:///path.db (relative to data_dir) or postgresql://user:password@host:port/database",
    )

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        if not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError(
                f"unsupported registry url {url!r}; expected sqlite:///path or postgresql://host/db"
            )
        return url

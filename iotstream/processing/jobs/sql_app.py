"""Stream apps declared in `iotstream.toml` (`[[jobs]] type = "sql"`), next to those made over the API.

They are not built as jobs at start-up like the other types: the `jobs` role declares them in the
catalog, where the API lists, pauses and reports them like any app, and runs them with the others.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from iotstream._units import DurationMs
from iotstream.registry.access.principal import DEFAULT_TENANT, check_name

__all__ = ["SqlAppSettings"]


class SqlAppSettings(BaseModel):
    """One `[[jobs]]` table with `type = "sql"`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["sql"] = Field(description='"sql": a stream app, one SQL SELECT run over the readings.')
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="Its datastreams are apps/<name>/…")
    sql: str = Field(description="One SELECT over `readings`")
    tenant: str = Field(default=DEFAULT_TENANT, description="Whose readings it reads and writes")
    share_with: list[str] = Field(default_factory=list, description="Tenants that may read its output")
    out_of_orderness: DurationMs = Field(
        default=0,
        description="With a GROUP BY window: how far (event time) the watermark trails the newest reading; "
        "readings this much out of order still count, and each window's result waits this long.",
    )
    allowed_lateness: DurationMs = Field(
        default=0,
        description="With a GROUP BY window: how far past a window's end the watermark may be while a late "
        "reading still corrects its result; a later one goes to `observations.late`.",
    )

    _tenant = field_validator("tenant")(lambda cls, name: check_name("tenant", name))

    @model_validator(mode="after")
    def _runnable(self) -> "SqlAppSettings":
        from iotstream.processing.apps import SqlError, plan  # sqlglot: only where an app is configured

        try:
            plan(self.sql)
        except SqlError as err:
            raise ValueError(f"app {self.name!r}: {err}") from None
        return self

    @property
    def job_name(self) -> str:
        from iotstream.processing.apps import AppSpec

        return AppSpec(self.tenant, self.name, self.sql).job_name

    def value_of(self, datastream: str) -> None:
        """No daily aggregate: an app's outputs are readings."""
        return None

    def declaration(self) -> dict[str, object]:
        """As `AppStore.declare` takes it."""
        return {
            "tenant": self.tenant,
            "name": self.name,
            "sql": self.sql,
            "share_with": self.share_with,
            "out_of_orderness_ms": self.out_of_orderness,
            "allowed_lateness_ms": self.allowed_lateness,
        }

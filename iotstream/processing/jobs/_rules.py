"""What alert rules share: a name, the datastreams they watch (names or glob patterns), and no daily
value of their own."""

import fnmatch
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field, field_validator

from iotstream.processing.windowing import Event
from iotstream.registry.access.principal import DEFAULT_TENANT, check_name, owner_of

__all__ = ["RuleSettings", "job_name", "watched_only"]


def job_name(tenant: str, name: str) -> str:
    return name if tenant == DEFAULT_TENANT else f"{tenant}.{name}"


class RuleSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="The rule's name, unique within its tenant: its alerts carry it as `rule`, and its job "
        "and consumer group are named after it.",
    )
    datastreams: list[str] = Field(min_length=1, description="Names or glob patterns (boiler-*).")
    tenant: str = Field(
        default=DEFAULT_TENANT,
        description="Whose datastreams the names are: a rule watches only its tenant's.",
    )

    _tenant = field_validator("tenant")(lambda cls, name: check_name("tenant", name))

    @property
    def job_name(self) -> str:
        """Unique among every tenant's jobs: a tenant's rule is run as `<tenant>.<name>`."""
        return job_name(self.tenant, self.name)

    def value_of(self, datastream: str) -> None:
        """No daily aggregate: alerts are episodes, not window values."""
        return None

    def watches(self, key: str) -> bool:
        tenant, name = owner_of(key)
        return tenant == self.tenant and any(fnmatch.fnmatchcase(name, p) for p in self.datastreams)


def watched_only(settings: RuleSettings) -> Callable[[Event], tuple[Event, ...]]:
    """A `flat_map` keeping the rule's datastreams; each name is matched against the patterns once."""
    watched: dict[str, bool] = {}

    def wanted(event: Event) -> tuple[Event, ...]:
        name = event[0]
        if name not in watched:
            watched[name] = settings.watches(name)
        return (event,) if watched[name] else ()

    return wanted

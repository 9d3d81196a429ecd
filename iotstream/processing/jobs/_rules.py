"""What alert rules share: a name, the datastreams they watch (names or glob patterns), and no daily
value of their own."""

import fnmatch
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

from iotstream.processing.windowing import Event

__all__ = ["RuleSettings", "watched_only"]


class RuleSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    datastreams: list[str] = Field(min_length=1, description="Names or glob patterns (boiler-*).")

    def value_of(self, datastream: str) -> None:
        """No daily aggregate: alerts are episodes, not window values."""
        return None

    def watches(self, datastream: str) -> bool:
        return any(fnmatch.fnmatchcase(datastream, pattern) for pattern in self.datastreams)


def watched_only(settings: RuleSettings) -> Callable[[Event], tuple[Event, ...]]:
    """A `flat_map` keeping the rule's datastreams; each name is matched against the patterns once."""
    watched: dict[str, bool] = {}

    def wanted(event: Event) -> tuple[Event, ...]:
        name = event[0]
        if name not in watched:
            watched[name] = settings.watches(name)
        return (event,) if watched[name] else ()

    return wanted

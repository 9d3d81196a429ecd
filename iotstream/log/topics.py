"""The platform's own topics (see ARCHITECTURE.md, "Topic layout"), created by `iotstream up`."""

from iotstream.log.types import TopicSpec

__all__ = ["ALERTS", "DEADLETTER", "LATE", "OBSERVATIONS", "REGISTRY_DATASTREAMS", "platform_topics"]

OBSERVATIONS = "observations"
LATE = "observations.late"
DEADLETTER = "observations.deadletter"
ALERTS = "alerts"
REGISTRY_DATASTREAMS = "registry.datastreams"  # Datastreams by name, with Thing, Locations and unit


def platform_topics(partitions: int) -> list[TopicSpec]:
    """Readings are keyed by datastream, so `partitions` bounds how many processors share the work."""
    return [
        TopicSpec(OBSERVATIONS, partitions=partitions),
        TopicSpec(LATE, partitions=partitions),
        TopicSpec(DEADLETTER, partitions=1),
        TopicSpec(ALERTS, partitions=partitions),
    ]

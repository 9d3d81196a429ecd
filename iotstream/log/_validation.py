"""Checks shared by every log backend, so a topic valid on one is valid on all."""

import re

from iotstream.log.exceptions import InvalidTopicError
from iotstream.log.types import TopicSpec

__all__ = ["validate_spec"]

_LEGAL_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


def validate_spec(spec: TopicSpec) -> None:
    """Kafka's rules for names, partitions and retention."""
    if not _LEGAL_NAME.match(spec.name) or spec.name in {".", ".."}:
        raise InvalidTopicError(
            f"invalid topic name {spec.name!r}: use 1-249 characters from a-z A-Z 0-9 . _ -"
        )
    if spec.partitions < 1:
        raise InvalidTopicError(f"topic {spec.name!r}: partitions must be ≥ 1, got {spec.partitions}")
    for field in ("retention_ms", "retention_bytes"):
        value = getattr(spec, field)
        if value is not None and value < 0:
            raise InvalidTopicError(f"topic {spec.name!r}: {field} must be ≥ 0, got {value}")

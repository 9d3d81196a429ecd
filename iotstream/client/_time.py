"""Times as the client takes them (epoch ms, aware datetimes, ISO-8601 text) and as it sends them.

The server's `iotstream._units` does the same for the platform, but it needs pydantic, which a device
running only the client does not have; these few functions are kept here instead.
"""

import time
from datetime import UTC, datetime, timedelta

__all__ = ["TimeLike", "iso", "now_ms", "to_datetime", "to_ms"]

TimeLike = int | datetime | str  # epoch milliseconds, an aware datetime, or ISO-8601 text
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def to_ms(when: TimeLike) -> int:
    """Epoch milliseconds, exactly (float seconds would turn .123 into .122 now and then).

    Text without a zone is UTC, as the platform reads it; a datetime must say its zone.

    >>> to_ms(1714557600000), to_ms("2024-05-01T10:00:00.123Z"), to_ms("2024-05-01T12:00:00+02:00")
    (1714557600000, 1714557600123, 1714557600000)
    """
    if isinstance(when, bool):
        raise TypeError("a time must be epoch milliseconds, an aware datetime or ISO-8601 text, not a bool")
    if isinstance(when, int):
        return when
    if isinstance(when, str):
        return _parsed_ms(when)
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ValueError(f"{when!r} has no time zone; give one (e.g. tzinfo=datetime.UTC)")
        return (when - _EPOCH) // _MS
    raise TypeError(f"a time must be epoch ms, an aware datetime or ISO-8601 text, got {type(when).__name__}")


def _parsed_ms(text: str) -> int:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as err:
        raise ValueError(f"time {text!r} is not ISO-8601") from err
    return to_ms(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def iso(ms: int) -> str:
    """Epoch ms as the ISO-8601 text query parameters take (a bare number below 1e11 would be seconds).

    >>> iso(1714557600123)
    '2024-05-01T10:00:00.123Z'
    """
    return (_EPOCH + ms * _MS).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_datetime(ms: int) -> datetime:
    """Epoch ms as an aware UTC datetime.

    >>> to_datetime(0).isoformat()
    '1970-01-01T00:00:00+00:00'
    """
    return _EPOCH + ms * _MS

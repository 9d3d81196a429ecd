"""Human-friendly durations and sizes for configuration files and command-line options."""

import functools
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator

__all__ = [
    "END_OF_TIME_MS",
    "DurationMs",
    "SizeBytes",
    "iso_ms",
    "parse_duration_ms",
    "parse_size_bytes",
    "parse_time_ms",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_DURATION_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib|tb|tib)?\s*$", re.IGNORECASE)
_SIZE_BYTES = {
    "b": 1,
    "kb": 1_000,
    "kib": 1024,
    "mb": 1_000_000,
    "mib": 1024**2,
    "gb": 1_000_000_000,
    "gib": 1024**3,
    "tb": 1_000_000_000_000,
    "tib": 1024**4,
}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
END_OF_TIME_MS = 253_402_300_800_000  # 10000-01-01: later than any time storage accepts


def parse_duration_ms(text: str | int | float) -> int:
    """Return milliseconds for `"250ms"`, `"30s"`, `"5m"`, `"2h"`, `"3d"`, `"1w"`; bare numbers are ms.

    >>> parse_duration_ms("3d")
    259200000
    """
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    if isinstance(text, float):
        return _whole(text, text, "duration")
    match = _DURATION.match(str(text).lower())
    if match is None:
        raise ValueError(
            f"{text!r} is not a duration; use a number and a unit such as 500ms, 30s, 5m, 2h, 7d"
        )
    return _whole(float(match.group(1)) * _DURATION_MS[match.group(2) or "ms"], text, "duration")


def parse_size_bytes(text: str | int) -> int:
    """Return bytes for `"512"`, `"64KiB"`, `"10MB"`, `"1GiB"`.

    >>> parse_size_bytes("1MiB")
    1048576
    """
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    match = _SIZE.match(str(text))
    if match is None:
        raise ValueError(f"{text!r} is not a size; use a number and a unit such as 512, 64KiB, 10MB, 1GiB")
    return _whole(float(match.group(1)) * _SIZE_BYTES[(match.group(2) or "b").lower()], text, "size")


def _whole(value: float, text: object, what: str) -> int:
    """`int(value)`, refusing what a float cannot count: TOML's `inf` and `nan`, and digits past 1e308,
    which `float` reads as infinity; `int` would raise OverflowError, which no caller expects."""
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite {what}")
    return int(value)


DurationMs = Annotated[int, BeforeValidator(parse_duration_ms)]
SizeBytes = Annotated[int, BeforeValidator(parse_size_bytes)]


def parse_time_ms(raw: Any, default_ms: int, *, naive_is_utc: bool = False) -> int | str:
    """A reading's time as epoch ms (from epoch ms or ISO-8601), `default_ms` when absent, or why not.

    ISO times need a zone unless `naive_is_utc` (what devices posting readings get).

    >>> parse_time_ms("2024-01-01T00:00:00Z", 0), parse_time_ms(None, 7)
    (1704067200000, 7)
    >>> parse_time_ms("2024-01-01T00:00:00", 0)
    "time '2024-01-01T00:00:00' has no time zone"
    >>> parse_time_ms("2024-01-01T00:00:00", 0, naive_is_utc=True)
    1704067200000
    """
    if raw is None:
        return default_ms
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if not isinstance(raw, str):
        return f"time must be ISO-8601 text or epoch milliseconds, got {type(raw).__name__}"
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return f"time {raw!r} is not ISO-8601 or epoch milliseconds"
    if parsed.tzinfo is None:
        if not naive_is_utc:
            return f"time {raw!r} has no time zone"
        parsed = parsed.replace(tzinfo=UTC)
    return epoch_ms(parsed)


def epoch_ms(when: datetime) -> int:
    """An aware datetime as epoch ms, exactly (float seconds would round 1513296000.123 down a ms).

    >>> epoch_ms(datetime(2017, 12, 15, 0, 0, 0, 123_000, tzinfo=UTC))
    1513296000123
    """
    return (when - _EPOCH) // timedelta(milliseconds=1)


def iso_ms(ms: int) -> str:
    """Epoch ms → `2024-05-01T10:00:00Z` (milliseconds shown only when there are some).

    >>> iso_ms(1714557600000), iso_ms(1714557600123)
    ('2024-05-01T10:00:00Z', '2024-05-01T10:00:00.123Z')
    """
    seconds, millis = divmod(ms, 1000)
    return f"{_iso_seconds(seconds)}.{millis:03d}Z" if millis else f"{_iso_seconds(seconds)}Z"


@functools.lru_cache(maxsize=65_536)
def _iso_seconds(seconds: int) -> str:
    """Cached: readings of one second share it, and formatting a datetime is most of a notification's
    cost (the SensorThings extension formats two per reading)."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").removesuffix("+00:00")

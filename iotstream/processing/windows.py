"""Which windows a timestamp belongs to: tumbling, hopping, session and time-zone-aligned daily windows.

Windows are half-open `[start_ms, end_ms)` in UTC epoch milliseconds. A daily window in a time zone
runs from local midnight to the next local midnight, so it lasts 23 or 25 hours on DST days.
"""

from abc import ABC, abstractmethod
from datetime import date, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from iotstream.processing.exceptions import ProcessingConfigError

__all__ = ["BaseWindows", "Daily", "Hopping", "Sessions", "Tumbling", "Window"]


class Window(NamedTuple):
    start_ms: int
    end_ms: int


class BaseWindows(ABC):
    """A window definition. `name` labels results and topics (`aggregates.<name>`)."""

    name: str

    @abstractmethod
    def assign(self, timestamp_ms: int) -> tuple[Window, ...]:
        """The windows containing `timestamp_ms`."""

    @property
    @abstractmethod
    def longest_ms(self) -> int:
        """How far a window may reach past a reading's time: with the allowed lateness, how long the
        reading can still change a result."""


class Tumbling(BaseWindows):
    """Fixed, gap-less, non-overlapping windows, aligned to the epoch (so to UTC midnight).

    >>> Tumbling(60_000).assign(90_000)
    (Window(start_ms=60000, end_ms=120000),)
    """

    def __init__(self, duration_ms: int, name: str | None = None) -> None:
        if duration_ms <= 0:
            raise ProcessingConfigError(f"a tumbling window needs a positive duration, got {duration_ms} ms")
        self.duration_ms = duration_ms
        self.name = name or _label(duration_ms)

    def assign(self, timestamp_ms: int) -> tuple[Window, ...]:
        start = timestamp_ms - timestamp_ms % self.duration_ms
        return (Window(start, start + self.duration_ms),)

    @property
    def longest_ms(self) -> int:
        return self.duration_ms


class Hopping(BaseWindows):
    """Windows of `duration_ms` starting every `step_ms`; a timestamp is in duration/step of them.

    >>> Hopping(60_000, 30_000).assign(75_000)
    (Window(start_ms=30000, end_ms=90000), Window(start_ms=60000, end_ms=120000))
    """

    def __init__(self, duration_ms: int, step_ms: int, name: str | None = None) -> None:
        if not 0 < step_ms <= duration_ms:
            raise ProcessingConfigError(
                "a hopping window needs 0 < step ≤ duration, "
                f"got step {step_ms} ms, duration {duration_ms} ms"
            )
        self.duration_ms = duration_ms
        self.step_ms = step_ms
        self.name = name or f"{_label(duration_ms)}-every-{_label(step_ms)}"

    def assign(self, timestamp_ms: int) -> tuple[Window, ...]:
        last_start = timestamp_ms - timestamp_ms % self.step_ms
        first_start = last_start - self.duration_ms + self.step_ms
        return tuple(
            Window(start, start + self.duration_ms)
            for start in range(first_start, last_start + 1, self.step_ms)
            if start + self.duration_ms > timestamp_ms
        )

    @property
    def longest_ms(self) -> int:
        return self.duration_ms


class Sessions(BaseWindows):
    """Activity sessions per key: a gap of `gap_ms` without readings ends one.

    `assign` gives the window of a single reading, `[t, t + gap)`; the window operator merges the
    overlapping windows of a key into one session.
    """

    def __init__(self, gap_ms: int, name: str | None = None) -> None:
        if gap_ms <= 0:
            raise ProcessingConfigError(f"a session window needs a positive gap, got {gap_ms} ms")
        self.gap_ms = gap_ms
        self.name = name or f"session-{_label(gap_ms)}"

    def assign(self, timestamp_ms: int) -> tuple[Window, ...]:
        return (Window(timestamp_ms, timestamp_ms + self.gap_ms),)

    @property
    def longest_ms(self) -> int:
        return self.gap_ms  # a reading's own window; the session it joins closes no earlier


class Daily(BaseWindows):
    """Calendar days in a time zone, from local midnight to local midnight.

    >>> day = Daily("Europe/Berlin").assign(1_711_843_200_000)[0]  # 2024-03-31, clocks go forward
    >>> (day.end_ms - day.start_ms) / 3_600_000
    23.0
    """

    def __init__(self, timezone: str = "UTC", name: str | None = None) -> None:
        try:
            self.zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ProcessingConfigError(
                f"unknown time zone {timezone!r}; use an IANA name like Europe/Berlin"
            ) from err
        self.timezone = timezone
        self.name = name or "1d"
        self._recent: dict[date, Window] = {}
        self._last = Window(0, 0)

    def assign(self, timestamp_ms: int) -> tuple[Window, ...]:
        last = self._last
        if last.start_ms <= timestamp_ms < last.end_ms:  # most readings fall in the day just seen
            return (last,)
        day = datetime.fromtimestamp(timestamp_ms / 1000, self.zone).date()
        window = self._recent.get(day)
        if window is None:
            if len(self._recent) > 64:
                self._recent.clear()
            window = self._recent[day] = Window(
                self._midnight_ms(day), self._midnight_ms(day + timedelta(days=1))
            )
        self._last = window
        return (window,)

    @property
    def longest_ms(self) -> int:
        return 25 * 3_600_000  # the day clocks go back

    def _midnight_ms(self, day: date) -> int:
        return int(datetime(day.year, day.month, day.day, tzinfo=self.zone).timestamp() * 1000)


def _label(duration_ms: int) -> str:
    """A short name: 60000 → "1m", 86400000 → "1d"."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)):
        if duration_ms % size == 0:
            return f"{duration_ms // size}{unit}"
    return f"{duration_ms}ms"

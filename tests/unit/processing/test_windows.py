from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from iotstream.processing.exceptions import ProcessingConfigError
from iotstream.processing.windows import Daily, Hopping, Tumbling, Window


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


@pytest.mark.parametrize(
    ("day", "hours"),
    [("2024-03-31", 23), ("2024-10-27", 25), ("2024-07-01", 24)],
)
def test_daily_windows_follow_local_midnight_through_dst(day: str, hours: int) -> None:
    noon = _ms(f"{day}T12:00:00+00:00")
    (window,) = Daily("Europe/Berlin").assign(noon)
    assert (window.end_ms - window.start_ms) == hours * 3_600_000
    start = datetime.fromtimestamp(window.start_ms / 1000, ZoneInfo("Europe/Berlin"))
    assert (start.hour, start.minute, start.date().isoformat()) == (0, 0, day)


def test_daily_windows_default_to_utc_and_a_reading_at_midnight_opens_the_new_day() -> None:
    (window,) = Daily().assign(_ms("2024-05-02T00:00:00+00:00"))
    assert window == Window(_ms("2024-05-02T00:00:00+00:00"), _ms("2024-05-03T00:00:00+00:00"))


def test_tumbling_and_hopping_windows_contain_their_timestamp() -> None:
    assert Tumbling(60_000).assign(59_999) == (Window(0, 60_000),)
    assert Tumbling(60_000).assign(-1) == (Window(-60_000, 0),)
    windows = Hopping(60_000, 15_000).assign(70_000)
    assert [w.start_ms for w in windows] == [15_000, 30_000, 45_000, 60_000]
    assert all(w.start_ms <= 70_000 < w.end_ms for w in windows)


@pytest.mark.parametrize(
    "make",
    [lambda: Tumbling(0), lambda: Hopping(10, 20), lambda: Daily("Mars/Olympus_Mons")],
)
def test_impossible_windows_are_refused_with_a_reason(make: object) -> None:
    with pytest.raises(ProcessingConfigError):
        make()  # type: ignore[operator]

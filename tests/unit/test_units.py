from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iotstream._units import iso_ms, parse_duration_ms, parse_size_bytes, parse_time_ms


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("250ms", 250),
        ("30s", 30_000),
        ("5m", 300_000),
        ("2h", 7_200_000),
        ("3d", 259_200_000),
        (15, 15),
        ("40", 40),
    ],
)
def test_durations(text: str | int, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize(
    ("text", "size"), [("512", 512), ("64KiB", 65_536), ("10MB", 10_000_000), ("1GiB", 1024**3)]
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size_bytes(text) == size


@pytest.mark.parametrize("text", ["", "3 days", "-1s", "1y"])
def test_bad_durations_say_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration_ms(text)


@pytest.mark.parametrize("text", [float("inf"), float("-inf"), float("nan"), "9" * 400 + "d"])
def test_durations_a_float_cannot_count_are_refused_with_a_value_error(text: str | float) -> None:
    """The configuration fuzzer found TOML's `inf` as a duration raising OverflowError."""
    with pytest.raises(ValueError, match="is not a finite duration"):
        parse_duration_ms(text)


def test_a_size_past_what_a_float_counts_is_refused_with_a_value_error() -> None:
    with pytest.raises(ValueError, match="is not a finite size"):
        parse_size_bytes("9" * 400 + "GiB")


@given(st.integers(min_value=-62_135_596_800_000, max_value=253_402_300_799_999))
def test_iso_ms_writes_what_datetime_writes_for_every_millisecond_of_years_1_to_9999(ms: int) -> None:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    expected = moment.isoformat(timespec="milliseconds" if ms % 1000 else "seconds").replace("+00:00", "Z")
    assert iso_ms(ms) == expected


@given(st.integers(min_value=-62_135_596_800_000, max_value=253_402_300_799_999))
def test_an_iso_time_is_read_back_to_the_millisecond_it_was_written_from(ms: int) -> None:
    """Through float seconds, 0.6 % of millisecond times came back a millisecond early."""
    assert parse_time_ms(iso_ms(ms), 0) == ms

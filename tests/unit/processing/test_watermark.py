from iotstream.processing.watermark import NO_WATERMARK, Watermarks
from iotstream.testing import FakeClock


def test_the_slowest_active_partition_holds_the_watermark() -> None:
    clock = FakeClock()
    marks = Watermarks(out_of_orderness_ms=500, idle_timeout_ms=10_000, clock=clock)
    marks.assign(0)
    marks.assign(1)
    marks.observe(0, 20_000)
    assert marks.current() == NO_WATERMARK  # partition 1 has not delivered anything yet
    marks.observe(1, 5_000)
    assert marks.current() == 4_500


def test_an_idle_partition_stops_holding_the_watermark_back() -> None:
    clock = FakeClock()
    marks = Watermarks(out_of_orderness_ms=0, idle_timeout_ms=10_000, clock=clock)
    marks.observe(0, 5_000)
    marks.observe(1, 60_000)
    assert marks.current() == 5_000
    clock.advance(6)
    marks.observe(1, 70_000)
    clock.advance(5)  # partition 0 silent for 11 s
    assert marks.current() == 70_000
    marks.observe(0, 6_000)  # it wakes up with old data: the watermark does not go back
    assert marks.current() == 70_000


def test_when_every_partition_is_idle_the_last_windows_can_still_close() -> None:
    clock = FakeClock()
    marks = Watermarks(out_of_orderness_ms=1_000, idle_timeout_ms=10_000, clock=clock)
    marks.observe(0, 5_000)
    marks.observe(1, 9_000)
    clock.advance(11)
    assert marks.current() == 8_000

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


def test_a_task_whose_partitions_are_all_idle_follows_the_job_and_only_then() -> None:
    clock = FakeClock()
    marks = Watermarks(out_of_orderness_ms=1_000, idle_timeout_ms=10_000, clock=clock)
    marks.observe(0, 5_000)
    marks.follow(50_000)  # the other tasks' active partitions are further on
    assert (marks.active(), marks.current()) == (4_000, 4_000)  # still active: its own data counts
    clock.advance(11)
    assert (marks.active(), marks.current()) == (None, 50_000)
    marks.follow(40_000)  # never backwards
    assert marks.current() == 50_000
    marks.observe(0, 60_000)  # it speaks again: its own watermark counts
    assert (marks.active(), marks.current()) == (59_000, 59_000)


def test_a_task_that_never_saw_a_reading_follows_the_job_once_idle() -> None:
    clock = FakeClock()
    marks = Watermarks(out_of_orderness_ms=0, idle_timeout_ms=10_000, clock=clock)
    marks.assign(0)
    marks.follow(7_000)
    assert marks.current() == NO_WATERMARK
    clock.advance(11)
    assert marks.current() == 7_000


def test_a_restored_watermark_never_goes_below_the_checkpointed_one() -> None:
    """A task that followed the others past its own readings keeps those windows closed after a restart."""
    clock = FakeClock()
    marks = Watermarks(out_of_orderness_ms=0, idle_timeout_ms=10_000, clock=clock)
    marks.assign(0, 5_000)  # its own readings reached 5 s
    marks.never_below(90_000)  # it had followed the job to 90 s
    assert marks.current() == 90_000
    marks.observe(0, 6_000)
    assert marks.current() == 90_000

"""Test doubles shipped with the package, so jobs can be unit tested without a log or a clock."""

__all__ = ["FakeClock"]


class FakeClock:
    """A monotonic clock that moves only when told; pass it where a `clock` callable is accepted.

    >>> clock = FakeClock(); clock.advance(2.5); clock()
    2.5
    """

    def __init__(self, start_s: float = 0.0) -> None:
        self.now_s = start_s

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds

"""``FakeClock``: a clock that moves only when a test moves it."""

from __future__ import annotations

import threading

__all__ = ["FakeClock"]


class FakeClock:
    """A monotonic clock for ``FakeChutes(clock=...)`` that moves only when told.

    The fake's cold chutes turn hot on its clock, so a test that owns the clock decides
    exactly when::

        clock = FakeClock()
        fake = FakeChutes(clock=clock)
        fake.add_chute("me/llm", hot=False, warmup_after=30)
        clock.advance(30)          # now it is hot

    :meth:`sleep` and :meth:`asleep` advance it instead of waiting, so they can replace a
    client's sleep in tests (time passes for the fake, none for the test).

    Args:
        start: the reading before any advance.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        """The current reading, in seconds."""
        with self._lock:
            return self._now

    @property
    def now(self) -> float:
        """The current reading, in seconds."""
        return self()

    def advance(self, seconds: float) -> None:
        """Move the clock forward.

        Args:
            seconds: how far; not negative (a monotonic clock never goes back).

        Raises:
            ValueError: for a negative or non-finite amount.
        """
        seconds = float(seconds)
        if not 0 <= seconds < float("inf"):
            raise ValueError(f"a clock only moves forward by a finite amount, got {seconds!r}")
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        """Advance by ``seconds`` without waiting (a stand-in for ``time.sleep``)."""
        self.advance(max(0.0, seconds))

    async def asleep(self, seconds: float) -> None:
        """Advance by ``seconds`` without waiting (a stand-in for ``asyncio.sleep``)."""
        self.advance(max(0.0, seconds))

    def __repr__(self) -> str:
        return f"FakeClock(now={self():g})"

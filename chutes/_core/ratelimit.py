"""Client-side rate limiting: a token bucket that hands out waits, never sleeps.

Rule: :meth:`TokenBucket.reserve` is the only decision; it takes its slot under a lock held
for a few arithmetic operations, so threads and tasks sharing one bucket can neither exceed
the rate nor deadlock, and a caller cancelled while waiting gives its slot back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import attrs

from .errors import ConfigurationError
from .public import export

__all__ = ["RateLimit"]


def _positive(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigurationError(f"RateLimit.{attribute.name} must be a positive number")


@attrs.frozen
class RateLimit:
    """At most ``per_minute`` requests a minute, with bursts of up to ``burst``.

    The chutes edge bans clients that exceed about 60 requests a minute and lengthens the ban
    on repeat, so a client that fans out should stay under it. Attempts count, retries too.
    """

    per_minute: float = attrs.field(validator=_positive)
    burst: int = attrs.field(default=1, validator=_positive)


class TokenBucket:
    """The shared state of one :class:`RateLimit`.

    Args:
        limit: the rate and burst.
        clock: a monotonic clock in seconds (injected in tests).
    """

    __slots__ = ("_clock", "_lock", "_per_second", "_stamp", "_tokens", "limit")

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._per_second = limit.per_minute / 60.0
        self._tokens = float(limit.burst)
        self._stamp = clock()

    def reserve(self) -> float:
        """Take the next slot; return how many seconds to wait before using it."""
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._stamp)
            self._stamp = now
            self._tokens = min(float(self.limit.burst), self._tokens + elapsed * self._per_second)
            self._tokens -= 1.0
            if self._tokens >= 0:
                return 0.0
            return -self._tokens / self._per_second

    def refund(self) -> None:
        """Give back a slot whose caller gave up before using it (a cancelled wait)."""
        with self._lock:
            self._tokens = min(float(self.limit.burst), self._tokens + 1.0)


export(__all__, globals())

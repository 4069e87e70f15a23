"""The retry decision: given what happened, accept, retry after a delay, or fail.

Rule: decisions are data. :func:`decide` takes the clock and the random source as
arguments and never sleeps; the facades' attempt loops execute what it returns.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Mapping
from typing import Final

import attrs

from .config import RetryPolicy
from .errors import ConnectionFailure, RateLimitReason

__all__ = [
    "Accept",
    "Decision",
    "Fail",
    "Retry",
    "backoff",
    "decide",
    "parse_retry_after",
    "streams_body",
]

# Failures where the request surely did not run (or failed before any work): safe to resend.
_SAFE_FAILURES: Final = frozenset(
    {
        ConnectionFailure.CONNECT,
        ConnectionFailure.CONNECT_TIMEOUT,
        ConnectionFailure.POOL_TIMEOUT,
        ConnectionFailure.NO_RESPONSE,
    }
)


@attrs.frozen
class Accept:
    """The response is a success: hand it to the caller."""


@attrs.frozen
class Retry:
    """Send the request again after ``delay`` seconds."""

    delay: float


@attrs.frozen
class Fail:
    """Stop and raise; ``retry_after`` is the server's requested wait, when it sent one."""

    retry_after: float | None = None


Decision = Accept | Retry | Fail
ACCEPT: Final = Accept()


def streams_body(stream: bool, status: int) -> bool:
    """Whether a response's body is left for a stream to read (a success of a streaming
    call); error bodies are always read whole, for their ``detail``."""
    return stream and status < 300


def parse_retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds to wait from ``retry-after-ms``, or ``Retry-After`` (seconds or HTTP date).

    Args:
        headers: the response headers, looked up by lower-case name.
        now: the current wall-clock time (epoch seconds), for HTTP dates.
    """
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis) / 1000
        except ValueError:
            value = -1.0
        if value >= 0 and value == value:
            return value
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        return max(0.0, when.timestamp() - now)
    return seconds if seconds >= 0 and seconds == seconds and seconds != float("inf") else None


def backoff(policy: RetryPolicy, attempt: int, rng: Callable[[], float]) -> float:
    """The exponential delay after ``attempt`` (1-based) failed attempts, capped, jittered.

    With jitter the delay is spread over [half, all] of the exponential value.
    """
    delay = min(policy.max_delay, policy.initial_delay * 2.0 ** (attempt - 1))
    if policy.jitter:
        delay *= 0.5 + 0.5 * rng()
    return delay


def decide(
    policy: RetryPolicy,
    *,
    attempt: int,
    max_retries: int,
    now: float,
    rng: Callable[[], float],
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
    failure: ConnectionFailure | None = None,
    reason: RateLimitReason | None = None,
) -> Decision:
    """Decide what follows an attempt that got ``status`` (with ``headers``) or ``failure``.

    Args:
        policy: what is retried and the delays.
        attempt: how many attempts have been made, this one included (1-based).
        max_retries: how many retries the call may make in all.
        now: the wall-clock time (epoch seconds), for ``Retry-After`` dates.
        rng: a source of floats in [0, 1), for jitter.
        status: the HTTP status received, if any.
        headers: the response headers (lower-case lookups), if any.
        failure: the transport failure, when no status was received.
        reason: why a 429 came (see :class:`chutes.RateLimitError`): a daily limit is never
            retried, the edge's rate limit only with ``retry_rate_limited``.
    """
    if status is not None and status < 300:
        return ACCEPT
    retry_after = parse_retry_after(headers, now) if headers is not None else None
    if status is not None:
        retryable = status in policy.statuses
        if status == 429 and reason == "daily_limit":
            retryable = False
        elif status == 429 and reason == "rate_limited":
            retryable = retryable and policy.retry_rate_limited
    else:
        retryable = failure in _SAFE_FAILURES or (
            failure is ConnectionFailure.READ_TIMEOUT and policy.retry_read_timeouts
        )
    if not retryable or attempt > max_retries:
        return Fail(retry_after)
    if retry_after is not None:
        if retry_after > policy.max_delay:
            return Fail(retry_after)
        # initial_delay=0 is the contract's "never sleep", and it wins over the server; a
        # server asking for less (0, a date in the past) still waits initial_delay, so a
        # retry loop can never spin.
        return Retry(max(retry_after, policy.initial_delay) if policy.initial_delay > 0 else 0.0)
    return Retry(backoff(policy, attempt, rng))

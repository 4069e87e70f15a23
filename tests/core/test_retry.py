"""The retry decision: accept, retry after a delay, or fail; backoff and Retry-After."""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Mapping

import pytest

from chutes._core.config import RetryPolicy
from chutes._core.errors import ConnectionFailure
from chutes._core.retry import Accept, Decision, Fail, Retry, backoff, decide, parse_retry_after

NOW = 1_795_628_499.0  # a fixed wall clock (epoch seconds)
EXACT = RetryPolicy(jitter=False)


def fixed(value: float) -> Callable[[], float]:
    """An rng that always returns ``value``."""
    return lambda: value


HALF = fixed(0.5)


def never() -> float:
    """An rng that must not be consulted."""
    raise AssertionError("the rng was called")


def run(
    policy: RetryPolicy = EXACT,
    *,
    attempt: int = 1,
    max_retries: int = 2,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
    failure: ConnectionFailure | None = None,
    rng: Callable[[], float] = HALF,
) -> Decision:
    """decide() with a fixed clock and rng."""
    return decide(
        policy,
        attempt=attempt,
        max_retries=max_retries,
        now=NOW,
        rng=rng,
        status=status,
        headers=headers,
        failure=failure,
    )


# --- statuses ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_success_is_accepted(status: int) -> None:
    """A 2xx status is accepted."""
    assert run(status=status) == Accept()


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
def test_retryable_status_retried_first(status: int) -> None:
    """A retryable status is retried on the first attempt, after the first backoff delay."""
    assert run(status=status, attempt=1) == Retry(0.5)


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [
        pytest.param(1, Retry(0.5), id="attempt-1-retry"),
        pytest.param(2, Retry(1.0), id="attempt-2-retry"),
        pytest.param(3, Fail(), id="attempt-3-fail"),
        pytest.param(4, Fail(), id="attempt-4-fail"),
    ],
)
def test_retry_budget(attempt: int, expected: Decision) -> None:
    """With max_retries=2, attempts 1 and 2 are retried and attempt 3 fails."""
    assert run(status=503, attempt=attempt, max_retries=2) == expected


@pytest.mark.parametrize(
    "status",
    [
        pytest.param(504, id="504-may-have-run"),
        pytest.param(400, id="400"),
        pytest.param(401, id="401"),
        pytest.param(402, id="402"),
        pytest.param(403, id="403"),
        pytest.param(404, id="404"),
        pytest.param(409, id="409"),
        pytest.param(422, id="422"),
        pytest.param(501, id="501"),
    ],
)
def test_non_retryable_status_fails_at_once(status: int) -> None:
    """Statuses outside the policy fail on the first attempt."""
    assert run(status=status, attempt=1, max_retries=5) == Fail()


def test_max_retries_zero_fails_at_once() -> None:
    """With max_retries=0 even a retryable status fails at once."""
    assert run(status=503, attempt=1, max_retries=0) == Fail()


def test_custom_statuses() -> None:
    """A policy's own statuses decide what is retried (504 added, 429 removed)."""
    policy = RetryPolicy(jitter=False, statuses=frozenset({504}))
    assert (run(policy, status=504), run(policy, status=429)) == (Retry(0.5), Fail())


# --- transport failures -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        pytest.param(ConnectionFailure.CONNECT, Retry(0.5), id="connect"),
        pytest.param(ConnectionFailure.CONNECT_TIMEOUT, Retry(0.5), id="connect-timeout"),
        pytest.param(ConnectionFailure.POOL_TIMEOUT, Retry(0.5), id="pool-timeout"),
        pytest.param(ConnectionFailure.NO_RESPONSE, Retry(0.5), id="no-response"),
        pytest.param(ConnectionFailure.READ_TIMEOUT, Fail(), id="read-timeout"),
        pytest.param(ConnectionFailure.WRITE_TIMEOUT, Fail(), id="write-timeout"),
        pytest.param(ConnectionFailure.DROPPED, Fail(), id="dropped"),
        pytest.param(ConnectionFailure.PROTOCOL, Fail(), id="protocol"),
    ],
)
def test_failure_default_policy(failure: ConnectionFailure, expected: Decision) -> None:
    """Only failures where the request surely did not run are retried by default."""
    assert run(failure=failure) == expected


def test_read_timeout_retried_when_policy_allows() -> None:
    """retry_read_timeouts=True makes read timeouts retryable."""
    policy = RetryPolicy(jitter=False, retry_read_timeouts=True)
    assert run(policy, failure=ConnectionFailure.READ_TIMEOUT) == Retry(0.5)


def test_retry_read_timeouts_leaves_write_timeouts() -> None:
    """retry_read_timeouts does not make write timeouts retryable."""
    policy = RetryPolicy(jitter=False, retry_read_timeouts=True)
    assert run(policy, failure=ConnectionFailure.WRITE_TIMEOUT) == Fail()


def test_failure_respects_budget() -> None:
    """A retryable failure fails once the retries are used up."""
    assert run(failure=ConnectionFailure.CONNECT, attempt=3, max_retries=2) == Fail()


# --- backoff ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "delay"),
    [
        pytest.param(1, 0.5, id="1"),
        pytest.param(2, 1.0, id="2"),
        pytest.param(3, 2.0, id="3"),
        pytest.param(4, 4.0, id="4"),
        pytest.param(5, 8.0, id="5"),
        pytest.param(6, 16.0, id="6"),
        pytest.param(7, 30.0, id="7-capped"),
        pytest.param(20, 30.0, id="20-capped"),
    ],
)
def test_backoff_exact_without_jitter(attempt: int, delay: float) -> None:
    """Without jitter the delay doubles from 0.5 s and is capped at 30 s."""
    assert run(status=503, attempt=attempt, max_retries=100, rng=never) == Retry(delay)


@pytest.mark.parametrize(
    ("rng_value", "attempt", "delay"),
    [
        pytest.param(0.0, 1, 0.25, id="low-1"),
        pytest.param(0.999, 1, 0.5 * 0.9995, id="high-1"),
        pytest.param(0.0, 3, 1.0, id="low-3"),
        pytest.param(0.999, 3, 2.0 * 0.9995, id="high-3"),
        pytest.param(0.0, 10, 15.0, id="low-capped"),
        pytest.param(0.999, 10, 30.0 * 0.9995, id="high-capped"),
    ],
)
def test_backoff_jitter_bounds(rng_value: float, attempt: int, delay: float) -> None:
    """With jitter the delay lies in [half, all] of the exponential (capped) value."""
    assert backoff(RetryPolicy(), attempt, fixed(rng_value)) == pytest.approx(delay)


def test_jittered_delay_never_exceeds_cap() -> None:
    """Even with the highest rng value the delay stays within max_delay."""
    assert backoff(RetryPolicy(max_delay=3.0), 50, fixed(0.999999)) <= 3.0


def test_zero_initial_delay_never_sleeps() -> None:
    """initial_delay=0 gives a zero delay on every attempt."""
    policy = RetryPolicy(initial_delay=0)
    delays = [run(policy, status=503, attempt=a, max_retries=10) for a in range(1, 6)]
    assert delays == [Retry(0.0)] * 5


def test_small_max_delay_caps_backoff() -> None:
    """max_delay caps the exponential delay from the start."""
    assert run(RetryPolicy(jitter=False, max_delay=0.2), status=503) == Retry(0.2)


# --- Retry-After ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({}, None, id="absent"),
        pytest.param({"retry-after": "5"}, 5.0, id="seconds"),
        pytest.param({"retry-after": "0"}, 0.0, id="zero"),
        pytest.param({"retry-after": "1.5"}, 1.5, id="fractional"),
        pytest.param({"retry-after": " 7 "}, 7.0, id="padded"),
        pytest.param(
            {"retry-after": email.utils.formatdate(NOW + 10, usegmt=True)}, 10.0, id="http-date"
        ),
        pytest.param(
            {"retry-after": email.utils.formatdate(NOW - 100, usegmt=True)}, 0.0, id="past-date"
        ),
        pytest.param({"retry-after-ms": "1500"}, 1.5, id="ms"),
        pytest.param({"retry-after-ms": "1500", "retry-after": "10"}, 1.5, id="ms-wins"),
        pytest.param({"retry-after-ms": "soon", "retry-after": "3"}, 3.0, id="bad-ms-falls-back"),
        pytest.param({"retry-after-ms": "-5", "retry-after": "3"}, 3.0, id="neg-ms-falls-back"),
        pytest.param({"retry-after-ms": "-5"}, None, id="negative-ms"),
        pytest.param({"retry-after-ms": "nan"}, None, id="nan-ms"),
        pytest.param({"retry-after": "soon"}, None, id="garbage"),
        pytest.param({"retry-after": ""}, None, id="empty"),
        pytest.param({"retry-after": "-1"}, None, id="negative"),
        pytest.param({"retry-after": "nan"}, None, id="nan"),
        pytest.param({"retry-after": "inf"}, None, id="inf"),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    """Retry-After (seconds or HTTP date, relative to now) and retry-after-ms are parsed."""
    assert parse_retry_after(headers, NOW) == expected


def test_retry_after_within_cap_is_used_exactly() -> None:
    """A Retry-After within max_delay replaces the backoff delay, without jitter."""
    decision = run(RetryPolicy(), status=429, headers={"retry-after": "7"}, rng=never)
    assert decision == Retry(7.0)


def test_retry_after_at_cap_is_used() -> None:
    """A Retry-After equal to max_delay is still honoured."""
    assert run(status=429, headers={"retry-after": "30"}) == Retry(30.0)


def test_retry_after_beyond_cap_fails() -> None:
    """A Retry-After beyond max_delay ends the retries and carries the wait."""
    assert run(status=429, headers={"retry-after": "120"}) == Fail(retry_after=120.0)


def test_retry_after_ms_beyond_cap_fails() -> None:
    """A retry-after-ms beyond max_delay ends the retries too."""
    assert run(status=503, headers={"retry-after-ms": "45000"}) == Fail(retry_after=45.0)


def test_retry_after_kept_when_budget_spent() -> None:
    """When the retries are used up the failure still carries the server's wait."""
    assert run(status=429, attempt=3, headers={"retry-after": "4"}) == Fail(retry_after=4.0)


def test_retry_after_on_non_retryable_status() -> None:
    """A non-retryable status fails, keeping the Retry-After it sent."""
    assert run(status=400, headers={"retry-after": "4"}) == Fail(retry_after=4.0)


def test_garbage_retry_after_falls_back_to_backoff() -> None:
    """An unparsable Retry-After is ignored in favour of the backoff delay."""
    assert run(status=429, headers={"retry-after": "later"}) == Retry(0.5)


def test_success_ignores_retry_after() -> None:
    """A success is accepted whatever Retry-After says."""
    assert run(status=200, headers={"retry-after": "120"}) == Accept()


def test_zero_initial_delay_overrides_retry_after() -> None:
    """With initial_delay=0 a Retry-After within the cap still gives a zero wait."""
    decision = decide(
        RetryPolicy(initial_delay=0),
        attempt=1,
        max_retries=2,
        now=NOW,
        rng=lambda: 0.5,
        status=429,
        headers={"retry-after": "5"},
    )
    assert decision == Retry(0.0)


def test_zero_initial_delay_keeps_the_cap_on_retry_after() -> None:
    """With initial_delay=0 a Retry-After beyond the cap still fails with retry_after set."""
    decision = decide(
        RetryPolicy(initial_delay=0),
        attempt=1,
        max_retries=2,
        now=NOW,
        rng=lambda: 0.5,
        status=429,
        headers={"retry-after": "120"},
    )
    assert decision == Fail(120.0)

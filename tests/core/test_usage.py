"""Usage accounting: counters per chute and in total, the last quota, thread safety."""

from __future__ import annotations

import contextlib
import threading

import attrs
import pytest

from chutes._core.models import Quota
from chutes._core.usage import ChuteUsage, UsageSnapshot, UsageTracker

A = "https://a.chutes.ai"
B = "https://b.chutes.ai"


def test_empty_snapshot() -> None:
    """A new tracker reports zeros, no chutes and no quota."""
    assert UsageTracker().snapshot() == UsageSnapshot()


def test_record_call_counts() -> None:
    """record_call counts a request, its failure and its retries."""
    tracker = UsageTracker()
    tracker.record_call(A, failed=False, retries=0, quota=None)
    tracker.record_call(A, failed=True, retries=2, quota=None)
    snap = tracker.snapshot()
    assert (snap.requests, snap.failures, snap.retries) == (2, 1, 2)


def test_record_tokens() -> None:
    """record_tokens adds prompt, completion and total tokens."""
    tracker = UsageTracker()
    tracker.record_tokens(A, 17, 8, 25)
    tracker.record_tokens(A, 3, 2, 5)
    snap = tracker.snapshot()
    assert (snap.prompt_tokens, snap.completion_tokens, snap.total_tokens) == (20, 10, 30)


def test_record_failure_counts_only_a_failure() -> None:
    """record_failure adds a failure without adding a request."""
    tracker = UsageTracker()
    tracker.record_call(A, failed=False, retries=0, quota=None)
    tracker.record_failure(A)
    snap = tracker.snapshot()
    assert (snap.requests, snap.failures) == (1, 1)


def test_by_chute() -> None:
    """by_chute keeps separate counters per chute base URL."""
    tracker = UsageTracker()
    tracker.record_call(A, failed=False, retries=1, quota=None)
    tracker.record_call(B, failed=True, retries=0, quota=None)
    tracker.record_tokens(B, 1, 2, 3)
    assert tracker.snapshot().by_chute == {
        A: ChuteUsage(requests=1, retries=1),
        B: ChuteUsage(requests=1, failures=1, prompt_tokens=1, completion_tokens=2, total_tokens=3),
    }


def test_totals_sum_chutes() -> None:
    """The top-level counters are the sum over chutes."""
    tracker = UsageTracker()
    tracker.record_call(A, failed=False, retries=1, quota=None)
    tracker.record_call(B, failed=True, retries=2, quota=None)
    tracker.record_tokens(A, 10, 5, 15)
    tracker.record_tokens(B, 1, 1, 2)
    snap = tracker.snapshot()
    assert (
        snap.requests,
        snap.failures,
        snap.retries,
        snap.prompt_tokens,
        snap.completion_tokens,
        snap.total_tokens,
    ) == (2, 1, 3, 11, 6, 17)


def test_quota_is_last_reported() -> None:
    """The snapshot's quota is the last one reported."""
    tracker = UsageTracker()
    tracker.record_call(A, failed=False, retries=0, quota=Quota(100, 10, 90))
    tracker.record_call(B, failed=False, retries=0, quota=Quota(100, 11, 89))
    assert tracker.snapshot().quota == Quota(100, 11, 89)


def test_quota_not_cleared_by_none() -> None:
    """A call without quota headers keeps the last quota seen."""
    tracker = UsageTracker()
    tracker.record_call(A, failed=False, retries=0, quota=Quota(100, 10, 90))
    tracker.record_call(A, failed=True, retries=0, quota=None)
    assert tracker.snapshot().quota == Quota(100, 10, 90)


def test_snapshot_does_not_change_later() -> None:
    """A snapshot keeps its values when more calls are recorded afterwards."""
    tracker = UsageTracker()
    tracker.record_call(A, failed=False, retries=0, quota=None)
    snap = tracker.snapshot()
    tracker.record_call(A, failed=False, retries=0, quota=Quota(1, 1, 0))
    tracker.record_call(B, failed=False, retries=0, quota=None)
    assert (snap.requests, snap.by_chute, snap.quota) == (1, {A: ChuteUsage(requests=1)}, None)


def test_snapshot_attributes_frozen() -> None:
    """A snapshot's attributes cannot be reassigned."""
    snap = UsageTracker().snapshot()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        snap.requests = 5  # type: ignore[misc]


def test_snapshot_by_chute_read_only() -> None:
    """A snapshot's by_chute mapping cannot be modified."""
    tracker = UsageTracker()
    tracker.record_call(A, failed=False, retries=0, quota=None)
    snap = tracker.snapshot()
    with pytest.raises(TypeError):
        snap.by_chute[B] = ChuteUsage()  # type: ignore[index]


def test_mutating_snapshot_does_not_touch_tracker() -> None:
    """Whatever a caller does to a snapshot's mapping, the tracker's counts are unaffected."""
    tracker = UsageTracker()
    tracker.record_call(A, failed=False, retries=0, quota=None)
    by_chute = tracker.snapshot().by_chute
    with contextlib.suppress(AttributeError, TypeError):
        by_chute.clear()  # type: ignore[attr-defined]
    assert tracker.snapshot().by_chute == {A: ChuteUsage(requests=1)}


def test_exact_under_threads() -> None:
    """8 threads x 500 calls each are all counted, per chute and in total."""
    tracker = UsageTracker()
    threads_n, calls_n = 8, 500
    barrier = threading.Barrier(threads_n)

    def work(index: int) -> None:
        chute = f"https://c{index % 2}.chutes.ai"
        barrier.wait()
        for _ in range(calls_n):
            tracker.record_call(chute, failed=index == 0, retries=1, quota=None)
            tracker.record_tokens(chute, 1, 2, 3)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    snap = tracker.snapshot()
    total = threads_n * calls_n
    assert (snap.requests, snap.failures, snap.retries, snap.total_tokens) == (
        total,
        calls_n,
        total,
        3 * total,
    )
    assert {k: v.requests for k, v in snap.by_chute.items()} == {
        "https://c0.chutes.ai": total // 2,
        "https://c1.chutes.ai": total // 2,
    }

"""The client-side rate limiter holds bursts from threads and tasks to the configured rate.

Time is a fake clock injected into the client's :class:`TokenBucket`; the facades' ``_sleep``
is replaced by one that advances that clock instead of sleeping. A caller wakes at the time
it read in ``reserve()`` plus the wait it was given (a context variable keeps that reading
per thread and per task), and the clock only moves forward, so no test really waits.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chutes
from chutes._core.ratelimit import TokenBucket

KEY = "cpk_0123456789abcdef0123456789abcdef.0123456789abcdef0123456789abcdef.RATELIMITabc"
EPS = 1e-9


class FakeClock:
    """A thread-safe, monotonic fake clock whose sleeps advance it instead of waiting."""

    def __init__(self) -> None:
        self._now = 0.0
        self._lock = threading.Lock()
        self._read: contextvars.ContextVar[float] = contextvars.ContextVar("read", default=0.0)
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        """The clock the bucket reads; remembers the reading for this thread or task."""
        with self._lock:
            now = self._now
        self._read.set(now)
        return now

    def now(self) -> float:
        """The current fake time, without touching the per-caller reading."""
        with self._lock:
            return self._now

    def sleep(self, delay: float) -> None:
        """Wake at (this caller's last reading + ``delay``): move the clock there if later."""
        wake = self._read.get() + delay
        with self._lock:
            self.sleeps.append(delay)
            self._now = max(self._now, wake)

    async def asleep(self, delay: float) -> None:
        """The asyncio form of :meth:`sleep`; yields once so tasks interleave."""
        self.sleep(delay)
        await asyncio.sleep(0)


class Recorder:
    """An httpx handler that answers 200 and records the fake time of every request."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.sent: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.sent.append(self.clock.now())
        return httpx.Response(200, json={"ok": True})


def _limited(per_minute: float = 60, burst: int = 1) -> chutes.RateLimit:
    return chutes.RateLimit(per_minute=per_minute, burst=burst)


@pytest.fixture
def clock() -> FakeClock:
    """A fresh fake clock at 0 s."""
    return FakeClock()


@pytest.fixture
def recorder(clock: FakeClock) -> Recorder:
    """The transport handler recording send times."""
    return Recorder(clock)


@pytest.fixture
def sync_client(
    clock: FakeClock, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> Iterator[chutes.Client]:
    """A rate-limited blocking client (60/min, burst 1) on the fake clock."""
    monkeypatch.setattr("chutes._runtime.Runtime.sleep", clock.sleep)
    with httpx.Client(transport=httpx.MockTransport(recorder)) as http:
        client = chutes.Client(api_key=KEY, http_client=http, rate_limit=_limited())
        client._caller.pool.limiter = TokenBucket(_limited(), clock=clock)
        with client:
            yield client


@pytest.fixture
async def async_client(
    clock: FakeClock, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """A rate-limited asyncio client (60/min, burst 1) on the fake clock."""
    monkeypatch.setattr("chutes._runtime.AsyncRuntime.sleep", clock.asleep)

    async def handler(request: httpx.Request) -> httpx.Response:
        return recorder(request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = chutes.AsyncClient(api_key=KEY, http_client=http, rate_limit=_limited())
        client._caller.pool.limiter = TokenBucket(_limited(), clock=clock)
        async with client:
            yield client


def _assert_paced(sent: list[float], calls: int) -> None:
    """The i-th request (1-based, in time order) went out no earlier than (i-1) * 1.0 s."""
    assert len(sent) == calls
    for i, when in enumerate(sorted(sent)):
        assert when >= i * 1.0 - EPS, (i, when)


def test_threads_burst_is_paced(
    sync_client: chutes.Client, recorder: Recorder, clock: FakeClock
) -> None:
    """200 calls from 8 threads go out at most one per fake second; the last at 199 s."""
    chute = sync_client.chute(url="http://127.0.0.1:9")

    def worker(_: int) -> int:
        return sum(chute.get("/x").status_code == 200 for _ in range(25))

    with ThreadPoolExecutor(max_workers=8) as pool:
        done = list(pool.map(worker, range(8), timeout=60))
    assert sum(done) == 200
    _assert_paced(recorder.sent, 200)
    assert clock.now() == pytest.approx(199.0)
    assert max(recorder.sent) == pytest.approx(199.0)
    assert sync_client.usage.requests == 200


async def test_tasks_burst_is_paced(
    async_client: chutes.AsyncClient, recorder: Recorder, clock: FakeClock
) -> None:
    """200 calls from 8 tasks go out at most one per fake second; the last at 199 s."""
    chute = async_client.chute(url="http://127.0.0.1:9")

    async def worker() -> int:
        return sum([(await chute.get("/x")).status_code == 200 for _ in range(25)])

    done = await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(8))), timeout=60)
    assert sum(done) == 200
    _assert_paced(recorder.sent, 200)
    assert clock.now() == pytest.approx(199.0)
    assert max(recorder.sent) == pytest.approx(199.0)
    assert async_client.usage.requests == 200


async def test_cancelled_waiters_refund_their_slots(
    async_client: chutes.AsyncClient,
    recorder: Recorder,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tasks cancelled while waiting give their slots back; the rest finish, nothing hangs."""
    gate = asyncio.Event()
    waiting: dict[asyncio.Task[Any], float] = {}
    changed = asyncio.Event()

    async def gated_sleep(delay: float) -> None:
        task = asyncio.current_task()
        assert task is not None
        waiting[task] = delay
        changed.set()
        await gate.wait()
        clock.sleep(delay)

    async def until(count: int) -> None:
        while len(waiting) < count:
            changed.clear()
            await changed.wait()

    monkeypatch.setattr("chutes._runtime.AsyncRuntime.sleep", gated_sleep)
    chute = async_client.chute(url="http://127.0.0.1:9")
    first = [asyncio.create_task(chute.get(f"/first/{i}")) for i in range(6)]
    await asyncio.wait_for(until(5), timeout=5)  # slot 0 went out at once; 5 wait
    assert sorted(waiting.values()) == [1.0, 2.0, 3.0, 4.0, 5.0]
    cancelled = [task for task, delay in waiting.items() if delay in (2.0, 3.0)]
    for task in cancelled:
        task.cancel()
    results = await asyncio.wait_for(asyncio.gather(*cancelled, return_exceptions=True), 5)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)

    later = [asyncio.create_task(chute.get(f"/later/{i}")) for i in range(2)]
    await asyncio.wait_for(until(7), timeout=5)
    assert sorted(waiting[task] for task in later) == [4.0, 5.0]  # not 6 and 7: refunded

    gate.set()
    survivors = [task for task in first if task not in cancelled] + later
    responses = await asyncio.wait_for(asyncio.gather(*survivors), timeout=5)
    assert [r.status_code for r in responses] == [200] * 6
    _assert_paced(recorder.sent, 6)
    assert clock.now() == pytest.approx(5.0)
    usage = async_client.usage
    assert usage.failures == 0
    assert 6 <= usage.requests <= 8  # whether cancelled calls count is not specified


class _Interrupted(BaseException):
    """Stands for a KeyboardInterrupt raised while a thread waits for its slot."""


def test_interrupted_wait_refunds_its_slot(
    sync_client: chutes.Client,
    recorder: Recorder,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A blocking call interrupted during its wait gives the slot back to the next call."""
    chute = sync_client.chute(url="http://127.0.0.1:9")
    waits: list[float] = []

    def interrupting_sleep(delay: float) -> None:
        waits.append(delay)
        if len(waits) == 1:
            raise _Interrupted
        clock.sleep(delay)

    monkeypatch.setattr("chutes._runtime.Runtime.sleep", interrupting_sleep)
    assert chute.get("/a").status_code == 200  # slot 0: no wait
    with pytest.raises(_Interrupted):
        chute.get("/b")  # slot 1: interrupted while waiting
    assert chute.get("/c").status_code == 200  # reuses slot 1
    assert waits == [1.0, 1.0]
    assert recorder.sent == [0.0, 1.0]


def test_with_options_copies_share_the_limiter(
    sync_client: chutes.Client, recorder: Recorder, clock: FakeClock
) -> None:
    """A with_options copy draws from the same bucket as its parent."""
    copy = sync_client.with_options(timeout=5.0, max_retries=0)
    assert copy._caller.pool.limiter is sync_client._caller.pool.limiter
    for client in (sync_client, copy, sync_client, copy):
        assert client.chute(url="http://127.0.0.1:9").get("/x").status_code == 200
    assert recorder.sent == [0.0, 1.0, 2.0, 3.0]
    assert clock.sleeps == [1.0, 1.0, 1.0]


async def test_async_with_options_copies_share_the_limiter(
    async_client: chutes.AsyncClient, recorder: Recorder
) -> None:
    """An asyncio with_options copy draws from the same bucket as its parent."""
    copy = async_client.with_options(max_retries=0)
    assert copy._caller.pool.limiter is async_client._caller.pool.limiter
    for client in (async_client, copy, copy):
        assert (await client.chute(url="http://127.0.0.1:9").get("/x")).status_code == 200
    assert recorder.sent == [0.0, 1.0, 2.0]


@pytest.mark.parametrize(
    "facade", [pytest.param("sync", id="sync"), pytest.param("async", id="async")]
)
async def test_off_by_default(facade: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without rate_limit= there is no bucket: no reserve() call and no sleep."""
    reserves: list[float] = []
    sleeps: list[float] = []
    real_reserve = TokenBucket.reserve

    def counting_reserve(self: TokenBucket) -> float:
        wait = real_reserve(self)
        reserves.append(wait)
        return wait

    async def async_sleep(delay: float) -> None:
        sleeps.append(delay)

    monkeypatch.setattr(TokenBucket, "reserve", counting_reserve)
    monkeypatch.setattr("chutes._runtime.Runtime.sleep", sleeps.append)
    monkeypatch.setattr("chutes._runtime.AsyncRuntime.sleep", async_sleep)
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    if facade == "sync":
        with (
            httpx.Client(transport=transport) as http,
            chutes.Client(api_key=KEY, http_client=http) as client,
        ):
            assert client._caller.pool.limiter is None
            for _ in range(20):
                client.chute(url="http://127.0.0.1:9").get("/x")
    else:
        async with (
            httpx.AsyncClient(transport=transport) as http,
            chutes.AsyncClient(api_key=KEY, http_client=http) as aclient,
        ):
            assert aclient._caller.pool.limiter is None
            for _ in range(20):
                await aclient.chute(url="http://127.0.0.1:9").get("/x")
    assert reserves == []
    assert sleeps == []


def test_rate_limit_number_means_per_minute() -> None:
    """rate_limit=60 makes a 60-per-minute bucket with a burst of 1."""
    with chutes.Client(api_key=KEY, rate_limit=60) as client:
        limiter = client._caller.pool.limiter
        assert limiter is not None
        assert limiter.limit == chutes.RateLimit(per_minute=60, burst=1)


# --- TokenBucket unit properties -----------------------------------------------------------


class StepClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_bucket_burst_then_spacing() -> None:
    """A full bucket hands out `burst` slots at once, then one per 1/rate seconds."""
    bucket = TokenBucket(_limited(per_minute=60, burst=5), clock=StepClock())
    assert [bucket.reserve() for _ in range(8)] == [0.0] * 5 + [1.0, 2.0, 3.0]


def test_bucket_refills_at_the_rate() -> None:
    """After draining, t seconds give back t * rate slots."""
    clock = StepClock()
    bucket = TokenBucket(_limited(per_minute=120, burst=4), clock=clock)
    assert [bucket.reserve() for _ in range(4)] == [0.0] * 4
    clock.now += 1.0  # two tokens at 2 per second
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.5]


def test_bucket_refill_is_capped_at_burst() -> None:
    """A long idle time refills the bucket to `burst` and no further."""
    clock = StepClock()
    bucket = TokenBucket(_limited(per_minute=60, burst=3), clock=clock)
    bucket.reserve()
    clock.now += 10_000.0
    assert [bucket.reserve() for _ in range(4)] == [0.0, 0.0, 0.0, 1.0]


def test_bucket_refund_gives_the_slot_back() -> None:
    """A refunded reservation's wait is handed to the next caller."""
    bucket = TokenBucket(_limited(per_minute=60, burst=1), clock=StepClock())
    assert bucket.reserve() == 0.0
    assert bucket.reserve() == 1.0
    bucket.refund()
    assert bucket.reserve() == 1.0
    assert bucket.reserve() == 2.0


def test_bucket_refund_is_capped_at_burst() -> None:
    """Refunds never raise the bucket above `burst`."""
    bucket = TokenBucket(_limited(per_minute=60, burst=2), clock=StepClock())
    for _ in range(5):
        bucket.refund()
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 1.0]


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"per_minute": 0}, id="zero-rate"),
        pytest.param({"per_minute": -1}, id="negative-rate"),
        pytest.param({"per_minute": 60, "burst": 0}, id="zero-burst"),
        pytest.param({"per_minute": True}, id="bool-rate"),
    ],
)
def test_rate_limit_refuses_non_positive(options: dict[str, Any]) -> None:
    """RateLimit refuses a rate or burst that is not a positive number."""
    with pytest.raises(chutes.ConfigurationError):
        chutes.RateLimit(**options)


@settings(max_examples=200, deadline=None)
@given(
    per_minute=st.integers(min_value=1, max_value=600),
    burst=st.integers(min_value=1, max_value=5),
    steps=st.lists(st.floats(min_value=0.0, max_value=3.0), min_size=1, max_size=40),
)
def test_bucket_never_exceeds_rate(per_minute: int, burst: int, steps: list[float]) -> None:
    """Whatever the arrival times, slots in any window number at most burst + rate * window."""
    clock = StepClock()
    bucket = TokenBucket(_limited(per_minute=per_minute, burst=burst), clock=clock)
    rate = per_minute / 60.0
    slots = []
    for step in steps:
        clock.now += step
        wait = bucket.reserve()
        assert wait >= 0.0
        slots.append(clock.now + wait)
    for i in range(len(slots)):
        for j in range(i + 1, len(slots)):
            assert slots[j] >= slots[i] - 1e-6
            assert j - i + 1 <= burst + (slots[j] - slots[i]) * rate + 1e-6

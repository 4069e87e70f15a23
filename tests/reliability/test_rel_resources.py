"""Nothing leaks: abandoned streams and timed-out requests give back every socket.

Each test counts this process's open file descriptors before any connection is made (the
fault server is already listening, the client already built) and after the 1,000
operations, once the server has closed its side of every connection. The server thread's
sockets live in this process too, so the count is only compared after its side is closed
as well: no slack is needed. The client's httpcore pool must hold no connection in use, and
no more connections than it started with (none: a stream closed before its end, or a
timed-out request, cannot leave its connection reusable).
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import chutes

N = 1_000
BATCH = 50  # concurrent async requests at a time
THREADS = 16  # concurrent blocking requests at a time
STALL_READ = 0.05  # the read timeout against a stalling server
NO_SLEEP = chutes.RetryPolicy(initial_delay=0)


def open_fds() -> int:
    """How many file descriptors this process has open."""
    return len(os.listdir("/proc/self/fd"))


def pool_of(client: chutes.Client | chutes.AsyncClient) -> Any:
    """The httpcore connection pool under the client's owned httpx client."""
    return client._caller.pool.http._transport._pool


def in_use(pool: Any) -> list[Any]:
    """The pool's connections that are not idle."""
    return [c for c in pool.connections if not c.is_idle()]


def _settled(server: Any, fds: int) -> bool:
    return server.open_connections == 0 and open_fds() <= fds


async def _settle(server: Any, fds: int) -> None:
    for _ in range(500):
        if _settled(server, fds):
            return
        await asyncio.sleep(0.01)


def _first_event_then_stall(server: Any) -> None:
    server.fallback = server.sse([b"data: first\n\n"], ending="stall")


def test_abandoned_streams_release_everything_sync(fault_server: Any, rel_key: str) -> None:
    """1,000 blocking streams left after their first event release every fd and connection."""
    _first_event_then_stall(fault_server)
    with chutes.Client(api_key=rel_key, timeout=5.0, retry_policy=NO_SLEEP) as client:
        chute = client.chute(url=fault_server.url)
        pool = pool_of(client)
        fds, connections = open_fds(), len(pool.connections)
        for _ in range(N):
            with chute.stream("/events") as events:
                assert next(iter(events)).data == "first"
        assert in_use(pool) == []
        assert len(pool.connections) <= connections
        assert fault_server.wait_until(lambda: _settled(fault_server, fds))
        assert open_fds() == fds
        assert fault_server.count("/events") == N
        assert (client.usage.requests, client.usage.failures) == (N, 0)


async def test_abandoned_streams_release_everything_async(fault_server: Any, rel_key: str) -> None:
    """1,000 asyncio streams left after their first event release every fd and connection."""
    _first_event_then_stall(fault_server)
    async with chutes.AsyncClient(api_key=rel_key, timeout=5.0, retry_policy=NO_SLEEP) as client:
        chute = client.chute(url=fault_server.url)
        pool = pool_of(client)
        fds, connections = open_fds(), len(pool.connections)
        for _ in range(N):
            async with chute.stream("/events") as events:
                assert (await anext(aiter(events))).data == "first"
        assert in_use(pool) == []
        assert len(pool.connections) <= connections
        await _settle(fault_server, fds)
        assert open_fds() == fds
        assert fault_server.count("/events") == N
        assert (client.usage.requests, client.usage.failures) == (N, 0)


def test_timeouts_release_everything_sync(fault_server: Any, rel_key: str) -> None:
    """1,000 blocking read timeouts (16 threads) release every fd and connection."""
    fault_server.fallback = fault_server.stall()
    timeout = chutes.Timeout(connect=5.0, read=STALL_READ, write=5.0, pool=5.0)
    with chutes.Client(api_key=rel_key, timeout=timeout, retry_policy=NO_SLEEP) as client:
        chute = client.chute(url=fault_server.url)
        pool = pool_of(client)
        fds, connections = open_fds(), len(pool.connections)

        def one(_: int) -> str:
            try:
                chute.get("/stall")
            except chutes.APITimeoutError as exc:
                return exc.failure.name
            return "answered"

        with ThreadPoolExecutor(max_workers=THREADS) as workers:
            outcomes = list(workers.map(one, range(N), timeout=120))
        assert outcomes == ["READ_TIMEOUT"] * N
        assert in_use(pool) == []
        assert len(pool.connections) <= connections
        assert fault_server.wait_until(lambda: _settled(fault_server, fds))
        assert open_fds() == fds
        assert fault_server.count("/stall") == N  # read timeouts are not retried
        assert (client.usage.requests, client.usage.failures) == (N, N)


async def test_timeouts_release_everything_async(fault_server: Any, rel_key: str) -> None:
    """1,000 asyncio read timeouts (batches of 50) release every fd and connection."""
    fault_server.fallback = fault_server.stall()
    timeout = chutes.Timeout(connect=5.0, read=STALL_READ, write=5.0, pool=5.0)
    async with chutes.AsyncClient(
        api_key=rel_key, timeout=timeout, retry_policy=NO_SLEEP
    ) as client:
        chute = client.chute(url=fault_server.url)
        pool = pool_of(client)
        fds, connections = open_fds(), len(pool.connections)

        async def one() -> str:
            try:
                await chute.get("/stall")
            except chutes.APITimeoutError as exc:
                return exc.failure.name
            return "answered"

        outcomes: list[str] = []
        for _ in range(N // BATCH):
            outcomes += await asyncio.wait_for(
                asyncio.gather(*(one() for _ in range(BATCH))), timeout=30
            )
        assert outcomes == ["READ_TIMEOUT"] * N
        assert in_use(pool) == []
        assert len(pool.connections) <= connections
        await _settle(fault_server, fds)
        assert open_fds() == fds
        assert fault_server.count("/stall") == N
        assert (client.usage.requests, client.usage.failures) == (N, N)

"""What many threads need of the client's own connection pool."""

from __future__ import annotations

import chutes
from chutes._async.transport import AsyncWatchingTransport
from chutes._sync.transport import WatchingTransport


def test_the_pool_keeps_every_connection_it_opens_alive() -> None:
    """httpcore's blocking pool may close a surplus keep-alive connection it has just
    handed to a waiting thread, hanging that request (encode/httpcore#1110): so none is
    surplus, and a batch of 64 threads never meets it."""
    transport = WatchingTransport()
    try:
        pool = transport._pool
        assert pool._max_keepalive_connections == pool._max_connections == 100
    finally:
        transport.close()


async def test_the_asyncio_pool_keeps_httpx_s_twenty() -> None:
    """The asyncio pool has no such bug and keeps httpx's 20 idle connections: keeping all
    100 alive made 100 tasks in flight several times slower (benchmark S3)."""
    transport = AsyncWatchingTransport()
    try:
        pool = transport._pool
        assert (pool._max_keepalive_connections, pool._max_connections) == (20, 100)
    finally:
        await transport.aclose()


def test_a_client_sends_through_that_pool() -> None:
    """A client that makes its own httpx client sends through the watching transport."""
    with chutes.Client(api_key="k") as client:
        http = client._caller.pool.http
        assert isinstance(http._transport, WatchingTransport)

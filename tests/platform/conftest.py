"""Fixtures for the platform tests: the fake on a test-owned clock, the socket server, and
raw HTTP clients on each."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from platform_server import KEY, LoopbackTransport, PlatformServer

from chutes.testing import FakeChutes, FakeClock

AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def clock() -> FakeClock:
    """A clock that moves only when the test moves it."""
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> FakeChutes:
    """A strict fake platform on ``clock``, accepting ``KEY``, with no chutes yet."""
    return FakeChutes(api_key=KEY, clock=clock, username="myuser")


@pytest.fixture
def http(fake: FakeChutes) -> Iterator[httpx.Client]:
    """A raw httpx client on the fake that sends ``KEY``."""
    with httpx.Client(transport=fake, headers=AUTH) as client:
        yield client


@pytest.fixture
def anon(fake: FakeChutes) -> Iterator[httpx.Client]:
    """A raw httpx client on the fake that sends no key."""
    with httpx.Client(transport=fake) as client:
        yield client


@pytest.fixture
def platform_server() -> Iterator[PlatformServer]:
    """The socket server on 127.0.0.1 (a free port), stopped after the test."""
    server = PlatformServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def loopback(platform_server: PlatformServer) -> Iterator[LoopbackTransport]:
    """A transport that sends any ``https://*.chutes.ai`` request to the socket server."""
    transport = LoopbackTransport(platform_server.port)
    try:
        yield transport
    finally:
        transport.close()

"""Fixtures for the platform tests: the fake on a test-owned clock, raw HTTP clients on it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from chutes.testing import FakeChutes, FakeClock

# Shaped like a real key: cpk_<32 hex>.<32 hex>.<32 alphanumerics>.
KEY = (
    "cpk_0123456789abcdef0123456789abcdef.fedcba9876543210fedcba9876543210."
    "PLATFORMKEYabc123def456ghi789jkl"
)
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

"""pytest fixtures for code that uses chutes (registered through the ``pytest11`` entry point).

- ``fake_chutes``: a fresh :class:`chutes.testing.FakeChutes` accepting the key ``test-key``;
  strict like the platform, so a test adds the chutes and models it calls
  (``fake_chutes.add_chute("me/llm")``, ``fake_chutes.add_model(...)``).
- ``chutes_client``: a ``chutes.Client`` on that fake, closed after the test.
- ``async_chutes_client``: a ``chutes.AsyncClient`` on that fake, closed after the test.

Imports of ``chutes`` happen inside the fixtures, so merely having the plugin installed
costs a test run nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from chutes import AsyncClient, Client
    from chutes.testing import FakeChutes


@pytest.fixture
def fake_chutes() -> FakeChutes:
    """A fake chutes platform that accepts the key ``test-key`` (add the chutes you call)."""
    from chutes.testing import FakeChutes

    return FakeChutes(api_key="test-key")


@pytest.fixture
def chutes_client(fake_chutes: FakeChutes) -> Iterator[Client]:
    """A blocking client wired to ``fake_chutes``."""
    client = fake_chutes.client(max_retries=2)
    with client:
        yield client


@pytest.fixture
def async_chutes_client(fake_chutes: FakeChutes) -> Iterator[AsyncClient]:
    """An asyncio client wired to ``fake_chutes`` (use it from async tests)."""
    client = fake_chutes.async_client(max_retries=2)
    yield client
    # The fake holds no sockets; closing only marks the client closed, in a loop of its own
    # because a sync fixture's teardown runs outside the test's event loop.
    asyncio.run(client.aclose())

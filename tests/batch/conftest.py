"""Fixtures for the batch tests: the chat server on 127.0.0.1, and a runner on each client.

Batches pace themselves with real time (their starts, pauses and slowdowns are what the
tests measure at the server), so here the facades really sleep.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from batch_kit import Runner
from batch_server import BatchServer, serve


@pytest.fixture(autouse=True)
def sleeps() -> list[float]:
    """Overrides the suite's recording sleeps: batches here sleep for real."""
    return []


@pytest.fixture
def server() -> Iterator[BatchServer]:
    """The chat server, stopped after the test."""
    yield from serve()


@pytest.fixture(params=["sync", "async"])
def runner(request: pytest.FixtureRequest, server: BatchServer) -> Runner:
    """A runner on the server, once with each client."""
    return Runner(request.param, server)

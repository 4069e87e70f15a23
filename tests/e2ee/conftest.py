"""Fixtures of the E2EE tests: the 127.0.0.1 platform, started and stopped by each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from e2ee_server import E2EEServer


@pytest.fixture
def start_server() -> Iterator[Callable[..., E2EEServer]]:
    """Start E2EE platforms (keywords as E2EEServer's); every one is stopped afterwards."""
    started: list[E2EEServer] = []

    def start(**options: Any) -> E2EEServer:
        server = E2EEServer(**options).start()
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def e2ee_server(start_server: Callable[..., E2EEServer]) -> E2EEServer:
    """A running E2EE platform with five pqcrypto instances (the most the route lists)."""
    return start_server(instances=5)

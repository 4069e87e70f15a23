"""Fixtures for the reliability tests: fault servers (``fault_server.py``) on 127.0.0.x."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest
from fault_server import REL_KEY, FaultServer


@pytest.fixture
def rel_key() -> str:
    """The API key the reliability tests use."""
    return REL_KEY


@pytest.fixture
def make_fault_server() -> Iterator[Callable[..., FaultServer]]:
    """Start fault servers on 127.0.0.x addresses; all are stopped after the test."""
    started: list[FaultServer] = []

    def make(host: str = "127.0.0.1") -> FaultServer:
        assert host.startswith("127.0.0."), "only loopback addresses"
        server = FaultServer(host).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def fault_server(make_fault_server: Callable[..., FaultServer]) -> FaultServer:
    """A fault server on 127.0.0.1 answering ``200 {"ok": true}`` unless scripted."""
    return make_fault_server()


@pytest.fixture
def unused_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

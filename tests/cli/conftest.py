"""Fixtures for the command-line tests: the servers the subprocesses talk to (see
``clirun.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from clirun import FaultServer, Platform, PlatformServer


@pytest.fixture
def platform() -> Iterator[Platform]:
    """The platform server with ports for its API, its gateway and ``myuser/tts``."""
    server = PlatformServer().start()
    try:
        ports = [
            server.listen_as(host)
            for host in ("api.chutes.ai", "llm.chutes.ai", "myuser-tts.chutes.ai")
        ]
        yield Platform(server, *(f"http://127.0.0.1:{port}" for port in ports))
    finally:
        server.stop()


@pytest.fixture
def fault() -> Iterator[FaultServer]:
    """A scriptable server on 127.0.0.1 answering ``200 {"ok": true}`` unless scripted."""
    server = FaultServer().start()
    try:
        yield server
    finally:
        server.stop()

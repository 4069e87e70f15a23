"""Shared fixtures for the facade tests.

Both facades talk to a respx router through a plain ``httpx.MockTransport``, so nothing is
patched globally and no request leaves the process. Retry sleeps are recorded, never slept.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
import respx

import chutes

# Shaped like a real key (cpk_<32 hex>.<32 hex>.<32 alnum>-ish), with distinctive parts so a
# leak of any part of it is easy to find in text.
KEY = "cpk_0123456789abcdef0123456789abcdef.0123456789abcdef0123456789abcdef.KEYSECRETabc123"


@pytest.fixture
def api_key() -> str:
    """The API key every test client is made with."""
    return KEY


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's own CHUTES_* variables out of every test."""
    for name in ("CHUTES_API_KEY", "CHUTES_API_URL", "CHUTES_LOG"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record every retry delay of both facades instead of sleeping."""
    recorded: list[float] = []

    def fake_sleep(delay: float) -> None:
        recorded.append(delay)

    async def fake_async_sleep(delay: float) -> None:
        recorded.append(delay)

    monkeypatch.setattr("chutes._runtime.Runtime.sleep", fake_sleep)
    monkeypatch.setattr("chutes._runtime.AsyncRuntime.sleep", fake_async_sleep)
    return recorded


@pytest.fixture
def router() -> respx.MockRouter:
    """A respx router that every test client's transport answers from."""
    return respx.MockRouter(assert_all_called=False)


@pytest.fixture
def http_client(router: respx.MockRouter) -> Iterator[httpx.Client]:
    """A borrowed ``httpx.Client`` on the router; the test, not chutes, closes it."""
    with httpx.Client(transport=httpx.MockTransport(router.handler)) as http:
        yield http


@pytest.fixture
async def async_http_client(router: respx.MockRouter) -> AsyncIterator[httpx.AsyncClient]:
    """A borrowed ``httpx.AsyncClient`` on the router; the test, not chutes, closes it."""
    async with httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler)) as http:
        yield http


@pytest.fixture
def make_client(http_client: httpx.Client) -> Iterator[Callable[..., chutes.Client]]:
    """Build ``chutes.Client`` objects on the router with any options; all closed afterwards."""
    made: list[chutes.Client] = []

    def make(**options: Any) -> chutes.Client:
        options.setdefault("api_key", KEY)
        options.setdefault("http_client", http_client)
        client = chutes.Client(**options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
async def make_async_client(
    async_http_client: httpx.AsyncClient,
) -> AsyncIterator[Callable[..., chutes.AsyncClient]]:
    """Build ``chutes.AsyncClient`` objects on the router with any options; all closed after."""
    made: list[chutes.AsyncClient] = []

    def make(**options: Any) -> chutes.AsyncClient:
        options.setdefault("api_key", KEY)
        options.setdefault("http_client", async_http_client)
        client = chutes.AsyncClient(**options)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


@pytest.fixture
def client(make_client: Callable[..., chutes.Client]) -> chutes.Client:
    """A ``chutes.Client`` with default options on the router."""
    return make_client()


@pytest.fixture
def aclient(make_async_client: Callable[..., chutes.AsyncClient]) -> chutes.AsyncClient:
    """A ``chutes.AsyncClient`` with default options on the router."""
    return make_async_client()

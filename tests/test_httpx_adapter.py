"""The httpx adapter: what it copies from a RequestSpec into an httpx request."""

from __future__ import annotations

from typing import Any

import httpx
import respx

import chutes
from chutes import _httpx

KEY = "cpk_0123456789abcdef0123456789abcdef.0123456789abcdef0123456789abcdef.ADAPTabc123"
BASE = "https://alice-echo.chutes.ai"


def test_a_url_is_parsed_once_and_shared() -> None:
    cache: dict[str, Any] = {}
    url = BASE + "/v1/adapter-test"
    first = _httpx._httpx_url(url, cache)
    assert isinstance(first, httpx.URL)
    assert _httpx._httpx_url(url, cache) is first
    assert first == httpx.URL(url)


def test_a_url_with_a_query_is_parsed_each_time_and_not_kept() -> None:
    cache: dict[str, Any] = {}
    url = BASE + "/v1/adapter-test?user=someone"
    first = _httpx._httpx_url(url, cache)
    assert first == httpx.URL(url)
    assert first.params["user"] == "someone"
    assert _httpx._httpx_url(url, cache) is not first
    assert cache == {}


def test_the_cache_is_bounded() -> None:
    cache: dict[str, Any] = {}
    for i in range(_httpx.URL_CACHE_SIZE * 2 + 3):
        _httpx._httpx_url(f"{BASE}/v1/bounded/{i}", cache)
        assert len(cache) <= _httpx.URL_CACHE_SIZE
    assert f"{BASE}/v1/bounded/{_httpx.URL_CACHE_SIZE * 2 + 2}" in cache


def test_each_client_keeps_its_own_urls_and_its_copies_share_them() -> None:
    with respx.mock(assert_all_called=False) as router:
        router.post(BASE + "/run").respond(200, json={})
        with chutes.Client(api_key=KEY) as client, chutes.Client(api_key=KEY) as other:
            client.chute(url=BASE).post("/run", json={})
            client.with_options(timeout=5).chute(url=BASE).post("/run", json={})
            client.chute(url=BASE).post("/run", json={}, params={"q": "private"})
            assert list(client._pool.urls) == [BASE + "/run"]
            assert client.with_options(timeout=5)._pool.urls is client._pool.urls
            assert other._pool.urls == {}
            assert [str(call.request.url) for call in router.calls] == [
                BASE + "/run",
                BASE + "/run",
                BASE + "/run?q=private",
            ]

"""The httpx adapter: what it copies from a RequestSpec into an httpx request."""

from __future__ import annotations

import httpx

from chutes import _httpx


def test_a_url_is_parsed_once_and_shared() -> None:
    url = "https://alice-echo.chutes.ai/v1/adapter-test"
    first = _httpx._httpx_url(url)
    assert isinstance(first, httpx.URL)
    assert _httpx._httpx_url(url) is first
    assert first == httpx.URL(url)


def test_a_url_with_a_query_is_parsed_each_time_and_not_kept() -> None:
    url = "https://alice-echo.chutes.ai/v1/adapter-test?user=someone"
    before = _httpx._parsed_url.cache_info().currsize
    first = _httpx._httpx_url(url)
    assert first == httpx.URL(url)
    assert first.params["user"] == "someone"
    assert _httpx._httpx_url(url) is not first
    assert _httpx._parsed_url.cache_info().currsize == before


def test_the_cache_is_bounded() -> None:
    for i in range(300):
        _httpx._httpx_url(f"https://alice-echo.chutes.ai/v1/bounded/{i}")
    assert _httpx._parsed_url.cache_info().currsize <= 256

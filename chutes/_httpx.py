"""The adapter: RequestSpec -> httpx, httpx.Response -> chutes.Response, httpx errors -> ours.

Every httpx exception is translated here (one context manager), so none reaches a caller.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from ._core.config import Timeout
from ._core.errors import APIConnectionError, APITimeoutError, ConnectionFailure
from ._core.requests import RequestSpec
from ._response import Response

__all__ = [
    "anext_chunk",
    "aread",
    "asend",
    "build_request",
    "next_chunk",
    "read",
    "send",
    "translate_errors",
    "wrap_response",
]

_BEFORE_RESPONSE: dict[type[BaseException], ConnectionFailure] = {
    httpx.ConnectTimeout: ConnectionFailure.CONNECT_TIMEOUT,
    httpx.PoolTimeout: ConnectionFailure.POOL_TIMEOUT,
    httpx.WriteTimeout: ConnectionFailure.WRITE_TIMEOUT,
    httpx.ReadTimeout: ConnectionFailure.READ_TIMEOUT,
    httpx.ConnectError: ConnectionFailure.CONNECT,
    httpx.ProxyError: ConnectionFailure.CONNECT,
    # A reset or close before any response byte: the stale keep-alive case among others.
    # (A RemoteProtocolError counts only when httpcore says no response came at all.)
    httpx.ReadError: ConnectionFailure.NO_RESPONSE,
    httpx.WriteError: ConnectionFailure.NO_RESPONSE,
    httpx.RemoteProtocolError: ConnectionFailure.NO_RESPONSE,
}


@functools.lru_cache(maxsize=64)
def _httpx_timeout(timeout: Timeout) -> httpx.Timeout:
    return httpx.Timeout(
        connect=timeout.connect, read=timeout.read, write=timeout.write, pool=timeout.pool
    )


URL_CACHE_SIZE = 256


def _httpx_url(url: str, cache: dict[str, Any]) -> httpx.URL:
    # httpx parses a str URL on every request, which costs more than the rest of building
    # it; a chute's URLs repeat, and an httpx.URL is immutable, so one parse serves them
    # all. The cache is the client's (it goes when the client goes) and bounded; URLs with
    # a query are not kept: they vary, and may carry the caller's data.
    found: httpx.URL | None = cache.get(url)
    if found is None:
        found = httpx.URL(url)
        if "?" not in url:
            if len(cache) >= URL_CACHE_SIZE:
                cache.clear()
            cache[url] = found
    return found


def build_request(
    client: httpx.Client | httpx.AsyncClient, spec: RequestSpec, urls: dict[str, Any]
) -> httpx.Request:
    """The httpx request for ``spec`` (the borrowed client's own headers and cookies apply);
    ``urls`` is the client's cache of parsed URLs."""
    return client.build_request(
        spec.method,
        _httpx_url(spec.url, urls),
        headers=spec.headers,
        content=spec.content,
        timeout=_httpx_timeout(spec.timeout),
    )


def _failure(exc: httpx.HTTPError, *, response_started: bool) -> ConnectionFailure:
    if response_started:
        if isinstance(exc, httpx.ReadTimeout):
            return ConnectionFailure.READ_TIMEOUT
        return ConnectionFailure.DROPPED
    if isinstance(exc, httpx.RemoteProtocolError) and "without sending a response" not in str(exc):
        # The server answered, but not in HTTP (a bad status line, say): the work may have
        # run, so this is not the "closed before answering" case that is safe to resend.
        return ConnectionFailure.PROTOCOL
    for kind in type(exc).__mro__:
        found = _BEFORE_RESPONSE.get(kind)
        if found is not None:
            return found
    return ConnectionFailure.PROTOCOL


def _translated(exc: httpx.HTTPError, url: str, *, response_started: bool) -> APIConnectionError:
    failure = _failure(exc, response_started=response_started)
    cls = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
    detail = str(exc) or type(exc).__name__
    return cls(f"{failure.value}: {url} ({detail})", failure=failure, url=url)


@contextmanager
def translate_errors(url: str, *, response_started: bool = False) -> Iterator[None]:
    """Turn any httpx error raised inside into :class:`APIConnectionError` (or a timeout)."""
    try:
        yield
    except httpx.HTTPError as exc:
        raise _translated(exc, url, response_started=response_started) from exc


# The per-call verbs below are plain functions rather than the context manager above: they
# run on every request, where a generator-based context manager costs more than the work.


def send(http: httpx.Client, request: httpx.Request, url: str) -> httpx.Response:
    """Send and return the response with its body unread; redirects are never followed."""
    try:
        return http.send(request, stream=True, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise _translated(exc, url, response_started=False) from exc


async def asend(http: httpx.AsyncClient, request: httpx.Request, url: str) -> httpx.Response:
    """Send and return the response with its body unread; redirects are never followed."""
    try:
        return await http.send(request, stream=True, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise _translated(exc, url, response_started=False) from exc


def read(raw: httpx.Response, url: str) -> bytes:
    """Read the whole body."""
    try:
        return raw.read()
    except httpx.HTTPError as exc:
        raise _translated(exc, url, response_started=True) from exc


async def aread(raw: httpx.Response, url: str) -> bytes:
    """Read the whole body."""
    try:
        return await raw.aread()
    except httpx.HTTPError as exc:
        raise _translated(exc, url, response_started=True) from exc


def next_chunk(chunks: Iterator[bytes], url: str) -> bytes | None:
    """The next piece of a streamed body, or ``None`` at its end."""
    try:
        return next(chunks, None)
    except httpx.HTTPError as exc:
        raise _translated(exc, url, response_started=True) from exc


async def anext_chunk(chunks: AsyncIterator[bytes], url: str) -> bytes | None:
    """The next piece of a streamed body, or ``None`` at its end."""
    try:
        return await anext(chunks, None)
    except httpx.HTTPError as exc:
        raise _translated(exc, url, response_started=True) from exc


def wrap_response(
    response: httpx.Response, spec: RequestSpec, elapsed: float, *, streamed: bool = False
) -> Response:
    """A :class:`chutes.Response` for an httpx response whose body was read (or is streamed)."""
    return Response(
        status_code=response.status_code,
        headers=response.headers,
        content=None if streamed else response.content,
        url=spec.url,
        method=spec.method,
        seconds=elapsed,
    )

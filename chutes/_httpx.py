"""The adapter: RequestSpec -> httpx, httpx.Response -> chutes.Response, httpx errors -> ours.

Every httpx exception is translated here (one context manager), so none reaches a caller.
"""

from __future__ import annotations

import datetime as _dt
import functools
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from ._core.config import Timeout
from ._core.errors import APIConnectionError, APITimeoutError, ConnectionFailure
from ._core.requests import RequestSpec
from ._response import Response

__all__ = ["build_request", "translate_errors", "wrap_response"]

_BEFORE_RESPONSE: dict[type[BaseException], ConnectionFailure] = {
    httpx.ConnectTimeout: ConnectionFailure.CONNECT_TIMEOUT,
    httpx.PoolTimeout: ConnectionFailure.POOL_TIMEOUT,
    httpx.WriteTimeout: ConnectionFailure.WRITE_TIMEOUT,
    httpx.ReadTimeout: ConnectionFailure.READ_TIMEOUT,
    httpx.ConnectError: ConnectionFailure.CONNECT,
    httpx.ProxyError: ConnectionFailure.CONNECT,
    # A reset or close before any response byte: the stale keep-alive case among others.
    httpx.ReadError: ConnectionFailure.NO_RESPONSE,
    httpx.WriteError: ConnectionFailure.NO_RESPONSE,
    httpx.RemoteProtocolError: ConnectionFailure.NO_RESPONSE,
}


@functools.lru_cache(maxsize=64)
def _httpx_timeout(timeout: Timeout) -> httpx.Timeout:
    return httpx.Timeout(
        connect=timeout.connect, read=timeout.read, write=timeout.write, pool=timeout.pool
    )


def build_request(client: httpx.Client | httpx.AsyncClient, spec: RequestSpec) -> httpx.Request:
    """The httpx request for ``spec`` (the borrowed client's own headers and cookies apply)."""
    return client.build_request(
        spec.method,
        spec.url,
        headers=spec.headers,
        content=spec.content,
        timeout=_httpx_timeout(spec.timeout),
    )


def _failure(exc: httpx.HTTPError, *, response_started: bool) -> ConnectionFailure:
    if response_started:
        if isinstance(exc, httpx.ReadTimeout):
            return ConnectionFailure.READ_TIMEOUT
        return ConnectionFailure.DROPPED
    for kind in type(exc).__mro__:
        found = _BEFORE_RESPONSE.get(kind)
        if found is not None:
            return found
    return ConnectionFailure.PROTOCOL


@contextmanager
def translate_errors(url: str, *, response_started: bool = False) -> Iterator[None]:
    """Turn any httpx error raised inside into :class:`APIConnectionError` (or a timeout)."""
    try:
        yield
    except httpx.HTTPError as exc:
        failure = _failure(exc, response_started=response_started)
        cls = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
        detail = str(exc) or type(exc).__name__
        raise cls(f"{failure.value}: {url} ({detail})", failure=failure, url=url) from exc


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
        elapsed=_dt.timedelta(seconds=elapsed),
    )

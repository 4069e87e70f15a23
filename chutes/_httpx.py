"""The adapter: RequestSpec -> httpx, httpx responses -> chutes, httpx errors -> ours.

Every httpx exception is translated here (one context manager), so none reaches a caller.
Server-sent events are parsed by httpx-sse's public API over the response's bytes, after
the core's :class:`~chutes._core.events.SSETap` has seen them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Final

import httpcore
import httpx
import httpx_sse

from ._core.config import Timeout
from ._core.errors import APIConnectionError, APITimeoutError, ConnectionFailure
from ._core.events import SSETap
from ._core.requests import RequestSpec
from ._response import Response

__all__: list[str] = []

_BEFORE_RESPONSE: Final[dict[type[BaseException], ConnectionFailure]] = {
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


class AnswerCut(httpcore.RemoteProtocolError):
    """Raised by a watched connection: it closed (or reset) after the server's answer began
    but before its head was complete."""


class ResponseBegan(httpx.RemoteProtocolError):
    """:class:`AnswerCut` as httpx reports it: the server saw the request and began to
    answer, so it may have run it. Never "closed before answering"."""


# httpcore's errors as httpx's, most specific first (httpx's own transport does the same).
_HTTPCORE_ERRORS: Final[tuple[tuple[type[Exception], type[httpx.HTTPError]], ...]] = (
    (AnswerCut, ResponseBegan),
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextmanager
def httpcore_errors_mapped() -> Iterator[None]:
    """Raise httpcore's errors inside as the matching httpx errors."""
    try:
        yield
    except Exception as exc:
        for source, target in _HTTPCORE_ERRORS:
            if isinstance(exc, source):
                raise target(str(exc)) from exc
        raise


SSE = httpx_sse.ServerSentEvent  # what the streams get from httpx-sse, one per event

# What every event stream is read as: the WHATWG spec fixes UTF-8 whatever the server says.
_SSE_HEADERS: Final = httpx.Headers({"content-type": "text/event-stream; charset=utf-8"})


def _timeout(timeout: Timeout) -> dict[str, float | None]:
    return {
        "connect": timeout.connect,
        "read": timeout.read,
        "write": timeout.write,
        "pool": timeout.pool,
    }


URL_CACHE_SIZE: Final = 256


def _url(url: str, cache: dict[str, httpx.URL]) -> httpx.URL:
    # httpx parses a str URL on every request, which the benchmark's S1 shows costs about
    # 3% of a local call; a chute's URLs repeat and an httpx.URL is immutable, so one parse
    # serves them all. The cache is the client's and bounded; URLs with a query (the
    # caller's data, and rarely repeated) are not kept.
    found = cache.get(url)
    if found is None:
        found = httpx.URL(url)
        if "?" not in url:
            if len(cache) >= URL_CACHE_SIZE:
                cache.clear()
            cache[url] = found
    return found


def build_request(spec: RequestSpec, urls: dict[str, httpx.URL]) -> httpx.Request:
    """The httpx request for ``spec``: only what the spec says goes on the wire (neither a
    borrowed client's default headers nor its cookies are added). ``urls`` is the client's
    cache of parsed URLs."""
    return httpx.Request(
        spec.method,
        _url(spec.url, urls),
        headers=spec.headers,
        content=spec.content,
        extensions={"timeout": _timeout(spec.timeout)},
    )


def _failure(exc: httpx.HTTPError, *, response_started: bool) -> ConnectionFailure:
    if isinstance(exc, ResponseBegan):
        return ConnectionFailure.DROPPED
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


def translated(exc: httpx.HTTPError, url: str, *, response_started: bool) -> APIConnectionError:
    """The chutes error for an httpx error met while requesting ``url``."""
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
        raise translated(exc, url, response_started=response_started) from exc


def wrap_response(
    raw: httpx.Response, spec: RequestSpec, elapsed: float, content: bytes | None
) -> Response:
    """A :class:`chutes.Response` for an httpx response; ``content`` is ``None`` for a
    streamed body, which belongs to its stream."""
    return Response(
        status_code=raw.status_code,
        headers=raw.headers,
        content=content,
        url=spec.url,
        method=spec.method,
        seconds=elapsed,
    )


class _TappedBody(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A streamed response's bytes, through the tap, with transport errors translated.

    A connection that drops right after the platform's raw error line (it closes the
    connection once the line is written) ends the body rather than failing, so the line
    itself is what is reported.
    """

    def __init__(self, raw: httpx.Response, tap: SSETap, url: str) -> None:
        self._raw = raw
        self._tap = tap
        self._url = url

    def __iter__(self) -> Iterator[bytes]:
        tap = self._tap
        try:
            for chunk in self._raw.iter_bytes():
                passed = tap.feed(chunk)
                if passed:
                    yield passed
        except httpx.HTTPError as exc:
            if tap.raw_line is None:
                raise translated(exc, self._url, response_started=True) from exc

    async def __aiter__(self) -> AsyncIterator[bytes]:
        tap = self._tap
        try:
            async for chunk in self._raw.aiter_bytes():
                passed = tap.feed(chunk)
                if passed:
                    yield passed
        except httpx.HTTPError as exc:
            if tap.raw_line is None:
                raise translated(exc, self._url, response_started=True) from exc


def event_source(raw: httpx.Response, tap: SSETap, url: str) -> httpx_sse.EventSource:
    """httpx-sse's reader over ``raw``'s body as the tap passes it on (decoded as UTF-8,
    as the WHATWG spec says, whatever charset the server named)."""
    tapped = httpx.Response(
        raw.status_code, headers=_SSE_HEADERS, stream=_TappedBody(raw, tap, url)
    )
    return httpx_sse.EventSource(tapped)

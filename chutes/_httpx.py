"""The adapter: RequestSpec -> httpx, httpx responses -> chutes, httpx errors -> ours.

Every httpx exception is translated here (one context manager), so none reaches a caller.
Server-sent events are parsed by httpx-sse's public API over the response's bytes, after
the core's :class:`~chutes._core.events.SSETap` has seen them.
"""

from __future__ import annotations

import ipaddress
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import httpcore
import httpx
import httpx_sse

from ._core.assembly import ChunkReader
from ._core.config import Timeout
from ._core.content import BodyDecoder, accept_encoding
from ._core.e2ee import (
    ChunkEvent,
    ErrorEvent,
    InitEvent,
    UnexpectedEvent,
    classify_stream_event,
)
from ._core.errors import (
    APIConnectionError,
    APITimeoutError,
    ConfigurationError,
    ConnectionFailure,
    DecodeError,
    StreamError,
)
from ._core.events import SSETap, raw_line_error
from ._core.requests import RequestSpec, encode_json
from ._response import Response

if TYPE_CHECKING:
    from ._e2ee import StreamDecryptor

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


def proxy_routes() -> dict[str, str | None]:
    """Where the environment sends requests, as httpx reads it (``HTTP_PROXY``,
    ``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``): URL pattern -> proxy URL, or ``None`` for
    a direct connection.

    httpx skips the environment for a client given its own transport, so a client that
    makes its own (to watch its connections) reads it here, the same way.
    """
    found = urllib.request.getproxies()
    routes: dict[str, str | None] = {}
    for scheme in ("http", "https", "all"):
        if found.get(scheme):
            proxy = found[scheme]
            proxy = proxy if "://" in proxy else f"http://{proxy}"
            parts = urllib.parse.urlsplit(proxy)  # ValueError for a URL no one can read
            if not parts.hostname or parts.port == 0:
                raise ValueError(f"the proxy URL {proxy!r} names no host")
            routes[f"{scheme}://"] = proxy
    for host in (h.strip() for h in found.get("no", "").split(",")):
        if host == "*":
            return {}
        if not host:
            continue
        if "://" in host:
            routes[host] = None
        elif host.lower() == "localhost" or _is_ip(host.split("/")[0]):
            routes[f"all://[{host}]" if ":" in host else f"all://{host}"] = None
        else:
            routes[f"all://*{host}"] = None
    return routes


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


SSE = httpx_sse.ServerSentEvent  # what the streams get from httpx-sse, one per event

# What every event stream is read as: the WHATWG spec fixes UTF-8 whatever the server says.
_SSE_HEADERS: Final = httpx.Headers({"content-type": "text/event-stream; charset=utf-8"})


try:  # Brotli is decoded only when the optional package is installed.
    import brotli as _brotli
except ImportError:  # pragma: no cover - depends on the environment
    _brotli = None

ACCEPT_ENCODING: Final = accept_encoding(_brotli)


def body_decoder(raw: httpx.Response, limit: int | None) -> BodyDecoder:
    """The decoder of ``raw``'s body (read with :func:`raw_chunks`), bounded by ``limit``."""
    # A body a transport handed over already read (a mock's, say) was decoded by httpx.
    encoding = None if raw.is_stream_consumed else raw.headers.get("content-encoding")
    return BodyDecoder(encoding, limit=limit, brotli=_brotli)


def raw_chunks(raw: httpx.Response) -> Iterator[bytes]:
    """``raw``'s body as it arrives, still encoded (or as read, if it was)."""
    if raw.is_stream_consumed:
        return iter((raw.content,))
    return raw.iter_raw()


async def araw_chunks(raw: httpx.Response) -> AsyncIterator[bytes]:
    """``raw``'s body as it arrives, still encoded (or as read, if it was)."""
    if raw.is_stream_consumed:
        yield raw.content
        return
    async for chunk in raw.aiter_raw():
        yield chunk


def _timeout(timeout: Timeout, left: float | None) -> dict[str, float | None]:
    phases = {
        "connect": timeout.connect,
        "read": timeout.read,
        "write": timeout.write,
        "pool": timeout.pool,
    }
    if left is not None:
        # A call's total deadline bounds each phase of each attempt.
        phases = {k: left if v is None else min(v, left) for k, v in phases.items()}
    return phases


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


def build_request(
    spec: RequestSpec, urls: dict[str, httpx.URL], left: float | None = None
) -> httpx.Request:
    """The httpx request for ``spec``: only what the spec says goes on the wire (neither a
    borrowed client's default headers nor its cookies are added). ``urls`` is the client's
    cache of parsed URLs; ``left`` the seconds left before the call's deadline, if it has one.

    Raises:
        ConfigurationError: for a URL httpx cannot send (too long, say).
    """
    try:
        url = _url(spec.url, urls)
    except httpx.InvalidURL as exc:
        raise ConfigurationError(f"cannot send to {spec.url[:200]!r}: {exc}") from None
    return httpx.Request(
        spec.method,
        url,
        headers=spec.headers,
        content=spec.content,
        extensions={"timeout": _timeout(spec.timeout, left)},
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


_KEY_HEADERS: Final = ("authorization", "x-api-key", "proxy-authorization")


def translated(exc: httpx.HTTPError, url: str, *, response_started: bool) -> APIConnectionError:
    """The chutes error for an httpx error met while requesting ``url``.

    The httpx error stays the cause (for debugging), but the request it holds had the key
    in a header (httpx masks only ``Authorization`` in its repr): that request is spent
    (each attempt sends a new one), so its key headers are blanked here.
    """
    try:
        request = exc.request
    except RuntimeError:
        request = None
    if request is not None:
        for name in _KEY_HEADERS:
            if name in request.headers:
                request.headers[name] = "[redacted]"
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
    saved = spec.save_to is not None and content is not None and raw.status_code < 300
    return Response(
        status_code=raw.status_code,
        headers=raw.headers,
        content=content,
        url=spec.url,
        method=spec.method,
        seconds=elapsed,
        path=Path(spec.save_to) if saved and spec.save_to is not None else None,
    )


class _TappedBody(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A streamed response's bytes, decoded (bounded, and checked to the end of a compressed
    stream), through the tap, with transport errors translated.

    A connection that drops right after the platform's raw error line (it closes the
    connection once the line is written) ends the body rather than failing, so the line
    itself is what is reported.
    """

    def __init__(self, raw: httpx.Response, tap: SSETap, url: str, deadline: float | None) -> None:
        self._raw = raw
        self._tap = tap
        self._url = url
        self._deadline = deadline
        self._decoder = body_decoder(raw, None)

    def _passed(self, chunk: bytes) -> Iterator[bytes]:
        if self._deadline is not None and time.monotonic() > self._deadline:
            raise deadline_error(self._url)
        for piece in self._decoder.feed(chunk):
            passed = self._tap.feed(piece)
            if passed:
                yield passed

    def _finished(self) -> Iterator[bytes]:
        try:
            pieces = list(self._decoder.finish())
        except DecodeError as exc:
            raise StreamError(f"the stream was cut before its end: {exc}") from None
        for piece in pieces:
            passed = self._tap.feed(piece)
            if passed:
                yield passed

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in raw_chunks(self._raw):
                yield from self._passed(chunk)
        except httpx.HTTPError as exc:
            if self._tap.raw_line is None:
                raise translated(exc, self._url, response_started=True) from exc
            return
        yield from self._finished()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in araw_chunks(self._raw):
                for passed in self._passed(chunk):
                    yield passed
        except httpx.HTTPError as exc:
            if self._tap.raw_line is None:
                raise translated(exc, self._url, response_started=True) from exc
            return
        for passed in self._finished():
            yield passed


def deadline_error(url: str) -> APITimeoutError:
    """The error of a call that ran past its total timeout."""
    return APITimeoutError(
        f"the call ran past its total timeout (Timeout.total): {url}",
        failure=ConnectionFailure.READ_TIMEOUT,
        url=url,
    )


def event_source(
    raw: httpx.Response, tap: SSETap, url: str, deadline: float | None = None
) -> httpx_sse.EventSource:
    """httpx-sse's reader over ``raw``'s body as the tap passes it on (decoded as UTF-8,
    as the WHATWG spec says, whatever charset the server named)."""
    body = _TappedBody(raw, tap, url, deadline)
    return httpx_sse.EventSource(httpx.Response(raw.status_code, headers=_SSE_HEADERS, stream=body))


class _DecryptedBody(httpx.SyncByteStream, httpx.AsyncByteStream):
    """The plaintext of an end-to-end encrypted stream: the relayed events parsed by
    httpx-sse (through a tap of their own), each ``e2e`` event decrypted in order.

    The plaintext pieces, joined, are the upstream's own SSE bytes; a piece need not end on
    an event boundary, so whoever reads this body parses them again, like network chunks.
    Closing it closes the relayed response.
    """

    def __init__(
        self,
        raw: httpx.Response,
        decryptor: StreamDecryptor,
        tap: SSETap,
        url: str,
        deadline: float | None,
    ) -> None:
        self._raw = raw
        self._decryptor = decryptor
        self._tap = tap
        self._events = event_source(raw, tap, url, deadline)

    def _plain(self, data: str) -> bytes:
        event = classify_stream_event(data)
        if isinstance(event, ChunkEvent):
            return self._decryptor.decrypt(event.payload)
        if isinstance(event, InitEvent):
            self._decryptor.init(event.ciphertext)
        elif isinstance(event, ErrorEvent):
            raise self._decryptor.error(f"the instance failed the stream: {event.message}")
        elif isinstance(event, UnexpectedEvent):
            raise self._decryptor.error("the encrypted stream sent an event that is not E2EE")
        # The relay's own [DONE] and its plaintext usage copy are not authenticated: the
        # end and the usage the caller sees come from inside the encrypted chunks.
        return b""

    def _end(self) -> None:
        if self._tap.raw_line is not None:
            raise raw_line_error(self._tap.raw_line)

    def __iter__(self) -> Iterator[bytes]:
        for sse in self._events.iter_sse():
            if sse.data:
                piece = self._plain(sse.data)
                if piece:
                    yield piece
        self._end()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for sse in self._events.aiter_sse():
            if sse.data:
                piece = self._plain(sse.data)
                if piece:
                    yield piece
        self._end()

    def close(self) -> None:
        """Close the relayed response."""
        self._raw.close()

    async def aclose(self) -> None:
        """Close the relayed response."""
        await self._raw.aclose()


def decrypted_stream(
    raw: httpx.Response,
    decryptor: StreamDecryptor,
    event_limit: int,
    url: str,
    deadline: float | None,
) -> httpx.Response:
    """A response whose body is the plaintext event stream of the encrypted ``raw``
    (unread), with ``raw``'s status and headers, to read like any event stream."""
    return httpx.Response(
        raw.status_code,
        headers=_plain_headers(raw, "text/event-stream"),
        stream=_DecryptedBody(raw, decryptor, SSETap(event_limit), url, deadline),
    )


def decrypted_reply(raw: httpx.Response, plaintext: bytes, content_type: str) -> httpx.Response:
    """A read response holding ``plaintext``, with ``raw``'s status and headers."""
    return httpx.Response(
        raw.status_code, headers=_plain_headers(raw, content_type), content=plaintext
    )


def assembled_reply(
    raw: httpx.Response,
    content: bytes,
    decryptor: StreamDecryptor,
    reader: ChunkReader[Any, Any],
    event_limit: int,
    url: str,
) -> httpx.Response:
    """The plain reply a streamed one stands for: ``content`` (the whole encrypted event
    stream, read) decrypted, its chunks assembled by ``reader`` into one JSON response.

    Raises:
        E2EEError: for a chunk that does not decrypt.
        StreamError: for a stream that reports an error or ends before it is complete.
    """
    encrypted = httpx.Response(raw.status_code, headers=_SSE_HEADERS, content=content)
    body = _DecryptedBody(encrypted, decryptor, SSETap(event_limit), url, None)
    tap = SSETap(event_limit)
    plain = httpx.Response(raw.status_code, headers=_SSE_HEADERS, stream=body)
    for sse in event_source(plain, tap, url).iter_sse():
        reader.event(sse.event, sse.data)
        if reader.done:
            break
    else:
        reader.end(raw_line=tap.raw_line, cut_short=tap.cut_short())
    return decrypted_reply(raw, encode_json(reader.collect().raw), "application/json")


def _plain_headers(raw: httpx.Response, content_type: str) -> httpx.Headers:
    # The relay's framing and encoding belong to the ciphertext, not to the plaintext.
    headers = httpx.Headers(raw.headers)
    for name in ("content-encoding", "content-length", "transfer-encoding"):
        headers.pop(name, None)
    headers["content-type"] = content_type
    return headers

"""The client's own httpx transport: httpcore's connection pool over watched connections.

Two things a plain transport cannot tell, and the client needs:

- whether the server's answer had begun when a connection dropped. httpcore reports a
  connection closed before any byte and one closed in the middle of the status line alike
  ("Server disconnected without sending a response"); only the first is safe to send again,
  since a server that began to answer saw (and may have run, and billed) the request;
- a call's total deadline, which must bound every wait for bytes, the reads of a stream
  that drips just under its read timeout included.

A client made with ``http_client=`` or ``transport=`` keeps its own transport and does
without both (a disconnect is then treated as before any answer).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpcore
import httpx

from .._httpx import AnswerCut, httpcore_errors_mapped
from .._runtime import AsyncRuntime

__all__: list[str] = []


class AsyncWatchedStream(httpcore.AsyncNetworkStream):
    """A connection's byte stream that notes whether an answer began since the request was
    written, and holds each wait to the current call's deadline."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._began = False  # bytes of the answer arrived since the request was written
        self._head_done = False  # the answer's head (status line and headers) is complete
        self._tail = b""
        self.deadline: float | None = None  # the monotonic time the current call must end by

    def _bounded(self, timeout: float | None) -> float | None:
        if self.deadline is None:
            return timeout
        left = max(0.0, self.deadline - time.monotonic())
        return left if timeout is None else min(timeout, left)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Read, noting the answer's head; a close or reset inside the head is
        :class:`AnswerCut`."""
        try:
            data = await self._inner.read(max_bytes, self._bounded(timeout))
        except httpcore.ReadError as exc:
            if self._began and not self._head_done:
                raise AnswerCut(str(exc)) from exc
            raise
        if data and not self._head_done:
            self._began = True
            seen = self._tail + data
            self._head_done = b"\r\n\r\n" in seen
            self._tail = seen[-3:]
        elif not data and self._began and not self._head_done:
            raise AnswerCut("the server closed the connection in the middle of its answer")
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Write (a new request: its answer has not begun, and no deadline applies yet)."""
        self._began = self._head_done = False
        self._tail = b""
        self.deadline = None
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        """Close the connection."""
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Upgrade to TLS; the upgraded stream is watched too."""
        upgraded = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        return AsyncWatchedStream(upgraded)

    def get_extra_info(self, info: str) -> Any:
        """What the underlying stream tells (the socket, the TLS object, ...)."""
        return self._inner.get_extra_info(info)


class AsyncWatchingBackend(httpcore.AsyncNetworkBackend):
    """httpcore's own network backend, each connection wrapped in a watched stream."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Open a TCP connection, watched."""
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return AsyncWatchedStream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        """Open a Unix socket connection, watched."""
        stream = await self._inner.connect_unix_socket(path, timeout, socket_options)
        return AsyncWatchedStream(stream)

    async def sleep(self, seconds: float) -> None:
        """Sleep the backend's way."""
        await self._inner.sleep(seconds)


class _AsyncBody(httpx.AsyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with httpcore_errors_mapped():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        await self._stream.aclose()


class AsyncWatchingTransport(httpx.AsyncBaseTransport):
    """The transport of a client that made its own httpx client: HTTP/1.1 with verified TLS,
    httpx's pool of 100 connections (how many idle ones stay alive is the runtime's: see
    ``AsyncRuntime.keepalive``), and watched connections."""

    def __init__(self) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=100,
            max_keepalive_connections=AsyncRuntime.keepalive,
            keepalive_expiry=5.0,
            network_backend=AsyncWatchingBackend(),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through httpcore, its errors as httpx's."""
        assert isinstance(request.stream, httpx.AsyncByteStream)
        url = request.url
        sent = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with httpcore_errors_mapped():
            answer = await self._pool.handle_async_request(sent)
        return httpx.Response(
            status_code=answer.status,
            headers=answer.headers,
            stream=_AsyncBody(answer.stream),
            extensions=answer.extensions,
        )

    async def aclose(self) -> None:
        """Close every connection of the pool."""
        await self._pool.aclose()


def hold_to_deadline(raw: httpx.Response, deadline: float | None) -> None:
    """Bound every further read of ``raw``'s body by ``deadline`` (on a watched connection;
    elsewhere the client checks the deadline between reads)."""
    stream = raw.extensions.get("network_stream")
    if isinstance(stream, AsyncWatchedStream):
        stream.deadline = deadline

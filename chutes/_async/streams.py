"""Streams: server-sent events from any cord, and chat / text completion chunks.

A stream sends its request when first entered or iterated, reads events through httpx-sse
(after the core's tap), lets the core decide what each means, and always closes the
response: at the end, on an error, on ``break`` inside the block, or on close.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any, Generic, NoReturn, TypeVar

import httpx

from .._core.assembly import ChunkReader, Payload
from .._core.errors import APIConnectionError, ChutesError, StreamError
from .._core.events import ServerSentEvent, SSETap, plain_event, raw_line_error
from .._core.models import ChatCompletion, ChatCompletionChunk, Completion, Usage
from .._core.public import export
from .._core.requests import RequestSpec
from .._httpx import SSE, event_source
from .._response import Response
from .._runtime import AsyncRuntime
from .caller import AsyncCaller

__all__ = ["AsyncChatCompletionStream", "AsyncCompletionStream", "AsyncEventStream"]

T = TypeVar("T")
C = TypeVar("C")
R = TypeVar("R")
S = TypeVar("S", bound="_AsyncStream[Any]")


class _AsyncStream(Generic[T]):
    """What every stream shares: open once, read events, close always."""

    def __init__(self, caller: AsyncCaller, spec: RequestSpec) -> None:
        self._caller = caller
        self._spec = spec
        self._tap = SSETap(caller.config.response_limits.event)
        self._raw: httpx.Response | None = None
        self._events: AsyncIterator[SSE] | None = None
        self._closed = False
        self.response: Response | None = None

    async def _open(self) -> AsyncIterator[SSE]:
        if self._closed:
            raise RuntimeError("this stream is closed")
        try:
            self._raw, self.response, deadline = await self._caller.open(self._spec)
        except BaseException:
            await self.aclose()
            raise
        self._events = event_source(self._raw, self._tap, self._spec.url, deadline).aiter_sse()
        return self._events

    async def __aenter__(self: S) -> S:
        if self._events is None:
            await self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self: S) -> S:
        return self

    async def _next_event(self) -> SSE | None:
        """The next event httpx-sse parsed; ``None`` at the end of the body."""
        events = self._events
        if events is None:
            if self._closed:
                return None
            events = await self._open()
        try:
            return await anext(events)
        except StopAsyncIteration:
            return None

    async def _fail(self, error: ChutesError) -> NoReturn:
        """Count the failure, close, and raise ``error``."""
        self._caller.failed(self._spec.target)
        await self._release()
        raise error

    async def _release(self) -> None:
        """Close the event reader and the response."""
        self._closed = True
        events, self._events = self._events, None
        await AsyncRuntime.aclose_iterator(events)
        if self._raw is not None:
            await self._raw.aclose()

    async def aclose(self) -> None:
        """Close the response; safe to call more than once. A closed stream yields nothing
        more, even events that had already arrived."""
        await self._release()

    def __del__(self) -> None:
        if self._raw is not None:
            AsyncRuntime.abandoned(self._raw)


class AsyncEventStream(_AsyncStream[ServerSentEvent]):
    """Server-sent events from a cord: iterate it inside ``async with``.

    Attributes:
        response: the response's status and headers (``invocation_id``, ``quota``) once open.

    Raises:
        StreamError: while iterating, for the platform's raw ``{"error": ...}`` line, or a
            body that ends inside an event.
        APIConnectionError: while iterating, when the connection drops or times out.
    """

    async def __anext__(self) -> ServerSentEvent:
        tap = self._tap
        while True:
            try:
                sse = await self._next_event()
            except APIConnectionError as exc:
                raw_line = tap.raw_line
                await self._fail(exc if raw_line is None else raw_line_error(raw_line))
            except ChutesError as exc:
                await self._fail(exc)
            if sse is None:
                if self._closed:
                    raise StopAsyncIteration
                raw_line = tap.raw_line
                if raw_line is not None:
                    await self._fail(raw_line_error(raw_line))
                if tap.cut_short():
                    await self._fail(StreamError("the stream was cut inside an event"))
                await self.aclose()
                raise StopAsyncIteration
            event = plain_event(sse.event, sse.data, sse.id, sse.retry)
            if event is not None:
                return event


class _AsyncChunkStream(_AsyncStream[C], Generic[C, R]):
    """What chat and text completion streams share: typed chunks, text pieces, assembly."""

    def __init__(self, caller: AsyncCaller, spec: RequestSpec, reader: ChunkReader[C, R]) -> None:
        super().__init__(caller, spec)
        self._reader = reader
        self._typed: Callable[[Payload], C] | None = None  # asked of the reader on first use
        self._payload_iter: AsyncIterator[Payload] | None = None

    @property
    def usage(self) -> Usage | None:
        """The last usage the server reported so far (streams ask for it by default)."""
        return self._reader.usage

    def _payloads(self) -> AsyncIterator[Payload]:
        if self._payload_iter is None:
            self._payload_iter = self._read()
        return self._payload_iter

    async def _read(self) -> AsyncIterator[Payload]:
        """Every chunk's JSON until the stream is complete; then its tokens are counted."""
        reader, tap = self._reader, self._tap
        events = self._events if self._events is not None else await self._open()
        try:
            async for sse in events:
                payload = reader.event(sse.event, sse.data)
                if payload is not None:
                    yield payload
                elif reader.done:
                    break
            else:
                if self._closed:
                    return
                reader.end(raw_line=tap.raw_line, cut_short=tap.cut_short())
        except APIConnectionError as exc:
            await self._fail(reader.interrupted(exc, tap.raw_line))
        except ChutesError as exc:
            await self._fail(exc)
        # [DONE], or a body that ended with every choice finished: the call is whole.
        self._caller.tokens(self._spec.target, reader.usage, reader.model)
        await self._release()

    async def __anext__(self) -> C:
        if self._closed and self._payload_iter is None:
            raise StopAsyncIteration
        payload = await anext(self._payloads())
        typed = self._typed
        if typed is None:
            typed = self._typed = self._reader.typer()
        try:
            return typed(payload)
        except ChutesError as exc:
            await self._fail(exc)

    async def iter_text(self) -> AsyncIterator[str]:
        """Only the text pieces of the first choice (usage-only chunks are skipped); no typed
        chunk is built on this path."""
        if self._closed and self._payload_iter is None:
            return
        reader = self._reader
        async for _ in self._payloads():
            if reader.piece:
                yield reader.piece

    async def collect(self) -> R:
        """Read the rest of the stream and assemble the whole response."""
        if not (self._closed and self._payload_iter is None):
            async for _ in self._payloads():
                pass
        try:
            return self._reader.collect()
        except ChutesError:
            self._caller.failed(self._spec.target)
            raise

    async def aclose(self) -> None:
        """Close the response; safe to call more than once. A closed stream yields nothing
        more, even chunks that had already arrived."""
        payloads, self._payload_iter = self._payload_iter, None
        await self._release()
        await AsyncRuntime.aclose_iterator(payloads)


class AsyncChatCompletionStream(_AsyncChunkStream[ChatCompletionChunk, ChatCompletion]):
    """A streamed chat completion: iterate chunks, or use :meth:`iter_text` / :meth:`collect`
    (a :class:`ChatCompletion`). See :class:`AsyncCompletionStream` for its attributes."""


class AsyncCompletionStream(_AsyncChunkStream[Completion, Completion]):
    """A streamed text completion: iterate chunks, or use :meth:`iter_text` / :meth:`collect`
    (a :class:`Completion`).

    Attributes:
        response: the response's status and headers (``invocation_id``, ``quota``).
        usage: the last usage the server reported.

    Raises:
        StreamError: while iterating, with the server's message and ``partial_text``, when the
            chute reports an error in the stream or the stream is cut before its end.
    """


export(__all__, globals())

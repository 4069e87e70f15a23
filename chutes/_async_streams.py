"""The asyncio streams: server-sent events, and chat / text completion chunks.

It mirrors ``chutes._streams`` line for line; only the I/O verbs are awaited.
"""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import httpx

from ._core.errors import APIConnectionError, ChutesError
from ._core.models import ChatCompletion, ChatCompletionChunk, Completion, Usage
from ._core.requests import RequestSpec
from ._core.sse import ServerSentEvent
from ._core.streaming import (
    DRAIN_LIMIT,
    ChunkDecoder,
    EventDecoder,
    StreamDecoder,
    is_event_stream,
    not_event_stream_error,
)
from ._httpx import anext_chunk, aread, translate_errors
from ._response import Response

if TYPE_CHECKING:
    from ._async_client import AsyncClient

__all__ = ["AsyncChatCompletionStream", "AsyncCompletionStream", "AsyncEventStream"]

T = TypeVar("T")
D = TypeVar("D", bound=StreamDecoder[Any])
C = TypeVar("C", ChatCompletionChunk, Completion)
R = TypeVar("R", ChatCompletion, Completion)


class _AsyncStream(Generic[T, D]):
    """What every stream shares: open once, iterate chunks through a core decoder, and
    always close the response (on exhaustion, error, ``break`` inside ``async with``, or
    aclose()).
    """

    def __init__(self, client: AsyncClient, spec: RequestSpec, decoder: D) -> None:
        self._client = client
        self._spec = spec
        self._decoder = decoder
        self._raw: httpx.Response | None = None
        self._chunks: AsyncIterator[bytes] | None = None
        self._pending: deque[Any] = deque()
        self._typed: Callable[[Any], T] | None = None  # asked of the decoder on first use
        self._finished = False
        self.response: Response | None = None

    async def _open(self) -> AsyncIterator[bytes]:
        if self._chunks is not None:
            return self._chunks
        if self._finished:
            raise RuntimeError("this stream is closed")
        client, spec = self._client, self._spec
        with client._track(spec) as record:
            raw, response = await client._send(spec, record, stream=True)
            self._raw, self.response = raw, response
            content_type = response.headers.get("content-type")
            if not is_event_stream(content_type):
                try:
                    body = await aread(raw, spec.url)
                finally:
                    await raw.aclose()
                raise not_event_stream_error(content_type, body)
        self._chunks = raw.aiter_bytes()
        return self._chunks

    async def __aenter__(self: S) -> S:
        try:
            await self._open()
        except BaseException:
            await self.aclose()
            raise
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

    async def __anext__(self) -> T:
        # _next_item's loop, inlined: this runs once per chunk.
        pending = self._pending
        while not pending:
            if self._finished:
                raise StopAsyncIteration
            await self._pull()
        typed = self._typed
        if typed is None:
            typed = self._typed = self._decoder.typer()
        try:
            return typed(pending.popleft())
        except ChutesError:
            await self._fail()
            raise

    async def _next_item(self) -> Any:
        """The next raw item from the decoder (a parsed chunk), untyped."""
        while not self._pending:
            if self._finished:
                raise StopAsyncIteration
            await self._pull()
        return self._pending.popleft()

    async def _fail(self) -> None:
        self._client._usage.record_failure(self._spec.target.base_url)
        await self.aclose()

    async def _pull(self) -> None:
        try:
            chunks = await self._open()  # a failure to open is counted by the call's tracking
        except BaseException:
            await self.aclose()
            raise
        decoder = self._decoder
        if decoder.done and not decoder.deferred:
            # The end marker came and every item before it is out: only now read the rest
            # of the body, so no item waits on it.
            try:
                await self._drain(chunks)
                await self._finish()
            except ChutesError:
                await self._fail()
                raise
            return
        try:
            decoder.flush()
            try:
                chunk = await anext_chunk(chunks, self._spec.url)
            except APIConnectionError as exc:
                raise decoder.interrupted(exc) from exc
            if chunk is None:
                self._pending.extend(decoder.close())
                if not decoder.deferred:
                    await self._finish()
            else:
                self._pending.extend(decoder.feed(chunk))
        except ChutesError:
            await self._fail()
            raise
        except BaseException:
            await self.aclose()
            raise

    async def _drain(self, chunks: AsyncIterator[bytes]) -> None:
        """Read what follows the end marker (bounded) so the connection can be reused."""
        budget = DRAIN_LIMIT
        try:
            with translate_errors(self._spec.url, response_started=True):
                async for extra in chunks:
                    budget -= len(extra)
                    if budget <= 0:
                        break
        except APIConnectionError:
            return  # everything the caller needs has arrived; the connection is just not reused

    async def _finish(self) -> None:
        # The body ended: what was parsed before its end is still handed out.
        self._client._count_tokens(self._spec.target, self._decoder.usage)
        await self._release()

    def __del__(self) -> None:
        raw = self._raw
        if raw is not None and not raw.is_closed:
            # An async response cannot be closed from here; say so, as for unclosed clients.
            warnings.warn(
                "an async chutes stream was garbage-collected without being closed; use "
                "`async with` or `await stream.aclose()`",
                ResourceWarning,
                stacklevel=2,
            )

    async def aclose(self) -> None:
        """Close the response; safe to call more than once. Iterating a closed stream ends
        at once, even if chunks were already received (after an error, say)."""
        self._pending.clear()
        await self._release()

    async def _release(self) -> None:
        self._finished = True
        if self._raw is not None:
            await self._raw.aclose()


S = TypeVar("S", bound=_AsyncStream[Any, Any])


class AsyncEventStream(_AsyncStream[ServerSentEvent, EventDecoder]):
    """Server-sent events from a cord, as an async iterator and an async context manager.

    Attributes:
        response: the response's status and headers (``invocation_id``, ``quota``) once open.

    Raises:
        StreamError: while iterating, when the chute writes its raw ``{"error": ...}`` line.
        APIConnectionError: while iterating, when the connection drops or times out.
    """


class _AsyncChunkStream(_AsyncStream[C, ChunkDecoder[C, R]]):
    """What chat and text completion streams share: usage, text pieces, assembly."""

    @property
    def usage(self) -> Usage | None:
        """The last usage the server reported so far (streams ask for it by default)."""
        return self._decoder.usage

    async def iter_text(self) -> AsyncIterator[str]:
        """Only the text pieces of the first choice (usage-only chunks are skipped).

        No typed chunk is built on this path: the text is read from each parsed chunk.
        """
        text_of, pending = self._decoder.text_of, self._pending
        while True:
            # Batches: a network chunk holds many stream chunks, handled in one inner loop.
            while pending:
                piece = text_of(pending.popleft())
                if piece:
                    yield piece
            if self._finished:
                return
            await self._pull()

    async def collect(self) -> R:
        """Read the rest of the stream and assemble the whole response."""
        next_item = self._next_item
        while True:
            try:
                await next_item()
            except StopAsyncIteration:
                break
        try:
            return self._decoder.collect()
        except ChutesError:
            self._client._usage.record_failure(self._spec.target.base_url)
            raise


class AsyncChatCompletionStream(_AsyncChunkStream[ChatCompletionChunk, ChatCompletion]):
    """A streamed chat completion: ``async for`` chunks, or :meth:`iter_text` / :meth:`collect`
    (a :class:`ChatCompletion`).

    Attributes:
        response: the response's status and headers (``invocation_id``, ``quota``).

    Raises:
        StreamError: while iterating, with the server's message and ``partial_text``, when the
            chute reports an error in the stream or the stream is cut before its end.
    """


class AsyncCompletionStream(_AsyncChunkStream[Completion, Completion]):
    """A streamed text completion: ``async for`` chunks, or :meth:`iter_text` /
    :meth:`collect` (a :class:`Completion`).

    Attributes:
        response: the response's status and headers (``invocation_id``, ``quota``).

    Raises:
        StreamError: while iterating, with the server's message and ``partial_text``.
    """

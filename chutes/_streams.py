"""The blocking streams: server-sent events, and chat / text completion chunks.

``chutes._async_streams`` mirrors this file line for line.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterator
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
from ._httpx import next_chunk, read, translate_errors
from ._response import Response

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["ChatCompletionStream", "CompletionStream", "EventStream"]

T = TypeVar("T")
D = TypeVar("D", bound=StreamDecoder[Any])
C = TypeVar("C", ChatCompletionChunk, Completion)
R = TypeVar("R", ChatCompletion, Completion)


class _Stream(Generic[T, D]):
    """What every stream shares: open once, iterate chunks through a core decoder, and
    always close the response (on exhaustion, error, ``break`` inside ``with``, or close()).
    """

    def __init__(self, client: Client, spec: RequestSpec, decoder: D) -> None:
        self._client = client
        self._spec = spec
        self._decoder = decoder
        self._raw: httpx.Response | None = None
        self._chunks: Iterator[bytes] | None = None
        self._pending: deque[Any] = deque()
        self._typed: Callable[[Any], T] | None = None  # asked of the decoder on first use
        self._finished = False
        self.response: Response | None = None

    def _open(self) -> Iterator[bytes]:
        if self._chunks is not None:
            return self._chunks
        if self._finished:
            raise RuntimeError("this stream is closed")
        client, spec = self._client, self._spec
        with client._track(spec) as record:
            raw, response = client._send(spec, record, stream=True)
            self._raw, self.response = raw, response
            content_type = response.headers.get("content-type")
            if not is_event_stream(content_type):
                try:
                    body = read(raw, spec.url)
                finally:
                    raw.close()
                raise not_event_stream_error(content_type, body)
        self._chunks = raw.iter_bytes()
        return self._chunks

    def __enter__(self: S) -> S:
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self: S) -> S:
        return self

    def __next__(self) -> T:
        # _next_item's loop, inlined: this runs once per chunk.
        pending = self._pending
        while not pending:
            if self._finished:
                raise StopIteration
            self._pull()
        typed = self._typed
        if typed is None:
            typed = self._typed = self._decoder.typer()
        try:
            return typed(pending.popleft())
        except ChutesError:
            self._fail()
            raise

    def _next_item(self) -> Any:
        """The next raw item from the decoder (a parsed chunk), untyped."""
        while not self._pending:
            if self._finished:
                raise StopIteration
            self._pull()
        return self._pending.popleft()

    def _fail(self) -> None:
        self._client._usage.record_failure(self._spec.target.base_url)
        self.close()

    def _pull(self) -> None:
        try:
            chunks = self._open()  # a failure to open is counted by the call's tracking
        except BaseException:
            self.close()
            raise
        decoder = self._decoder
        if decoder.done and not decoder.deferred:
            # The end marker came and every item before it is out: only now read the rest
            # of the body, so no item waits on it.
            try:
                self._drain(chunks)
                self._finish()
            except ChutesError:
                self._fail()
                raise
            return
        try:
            decoder.flush()
            try:
                chunk = next_chunk(chunks, self._spec.url)
            except APIConnectionError as exc:
                raise decoder.interrupted(exc) from exc
            if chunk is None:
                self._pending.extend(decoder.close())
                if not decoder.deferred:
                    self._finish()
            else:
                self._pending.extend(decoder.feed(chunk))
        except ChutesError:
            self._fail()
            raise
        except BaseException:
            self.close()
            raise

    def _drain(self, chunks: Iterator[bytes]) -> None:
        """Read what follows the end marker (bounded) so the connection can be reused."""
        budget = DRAIN_LIMIT
        try:
            with translate_errors(self._spec.url, response_started=True):
                for extra in chunks:
                    budget -= len(extra)
                    if budget <= 0:
                        break
        except APIConnectionError:
            return  # everything the caller needs has arrived; the connection is just not reused

    def _finish(self) -> None:
        # The body ended: what was parsed before its end is still handed out.
        self._client._count_tokens(self._spec.target, self._decoder.usage)
        self._release()

    def __del__(self) -> None:
        raw = self._raw
        if raw is not None and not raw.is_closed:
            # Iterated without `with` and abandoned: give the connection back all the same.
            with contextlib.suppress(Exception):
                raw.close()

    def close(self) -> None:
        """Close the response; safe to call more than once. Iterating a closed stream ends
        at once, even if chunks were already received (after an error, say)."""
        self._pending.clear()
        self._release()

    def _release(self) -> None:
        self._finished = True
        if self._raw is not None:
            self._raw.close()


S = TypeVar("S", bound=_Stream[Any, Any])


class EventStream(_Stream[ServerSentEvent, EventDecoder]):
    """Server-sent events from a cord, as an iterator and a context manager.

    Attributes:
        response: the response's status and headers (``invocation_id``, ``quota``) once open.

    Raises:
        StreamError: while iterating, when the chute writes its raw ``{"error": ...}`` line.
        APIConnectionError: while iterating, when the connection drops or times out.
    """


class _ChunkStream(_Stream[C, ChunkDecoder[C, R]]):
    """What chat and text completion streams share: usage, text pieces, assembly."""

    @property
    def usage(self) -> Usage | None:
        """The last usage the server reported so far (streams ask for it by default)."""
        return self._decoder.usage

    def iter_text(self) -> Iterator[str]:
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
            self._pull()

    def collect(self) -> R:
        """Read the rest of the stream and assemble the whole response."""
        next_item = self._next_item
        while True:
            try:
                next_item()
            except StopIteration:
                break
        try:
            return self._decoder.collect()
        except ChutesError:
            self._client._usage.record_failure(self._spec.target.base_url)
            raise


class ChatCompletionStream(_ChunkStream[ChatCompletionChunk, ChatCompletion]):
    """A streamed chat completion: iterate chunks, or use :meth:`iter_text` / :meth:`collect`
    (a :class:`ChatCompletion`).

    Attributes:
        response: the response's status and headers (``invocation_id``, ``quota``).

    Raises:
        StreamError: while iterating, with the server's message and ``partial_text``, when the
            chute reports an error in the stream or the stream is cut before its end.
    """


class CompletionStream(_ChunkStream[Completion, Completion]):
    """A streamed text completion: iterate chunks, or use :meth:`iter_text` / :meth:`collect`
    (a :class:`Completion`).

    Attributes:
        response: the response's status and headers (``invocation_id``, ``quota``).

    Raises:
        StreamError: while iterating, with the server's message and ``partial_text``.
    """

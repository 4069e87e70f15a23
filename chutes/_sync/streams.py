# Generated from chutes/_async/streams.py by scripts/unasync.py: do not edit.
"""Streams: server-sent events from any cord, and chat / text completion chunks.

A stream sends its request when first entered or iterated, reads events through httpx-sse
(after the core's tap), lets the core decide what each means, and always closes the
response: at the end, on an error, on ``break`` inside the block, or on close.
"""

from __future__ import annotations

from collections.abc import Iterator, Callable
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
from .._runtime import Runtime
from .caller import Caller

__all__ = ["ChatCompletionStream", "CompletionStream", "EventStream"]

T = TypeVar("T")
C = TypeVar("C")
R = TypeVar("R")
S = TypeVar("S", bound="_Stream[Any]")


class _Stream(Generic[T]):
    """What every stream shares: open once, read events, close always."""

    def __init__(self, caller: Caller, spec: RequestSpec) -> None:
        self._caller = caller
        self._spec = spec
        self._tap = SSETap(caller.config.response_limits.event)
        self._raw: httpx.Response | None = None
        self._events: Iterator[SSE] | None = None
        self._closed = False
        self.response: Response | None = None

    def _open(self) -> Iterator[SSE]:
        if self._closed:
            raise RuntimeError("this stream is closed")
        try:
            self._raw, self.response, deadline = self._caller.open(self._spec)
        except BaseException:
            self.close()
            raise
        self._events = event_source(self._raw, self._tap, self._spec.url, deadline).iter_sse()
        return self._events

    def __enter__(self: S) -> S:
        if self._events is None:
            self._open()
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

    def _next_event(self) -> SSE | None:
        """The next event httpx-sse parsed; ``None`` at the end of the body."""
        events = self._events
        if events is None:
            if self._closed:
                return None
            events = self._open()
        try:
            return next(events)
        except StopIteration:
            return None

    def _fail(self, error: ChutesError) -> NoReturn:
        """Count the failure, close, and raise ``error``."""
        self._caller.failed(self._spec.target)
        self._release()
        raise error

    def _release(self) -> None:
        """Close the event reader and the response."""
        self._closed = True
        events, self._events = self._events, None
        Runtime.close_iterator(events)
        if self._raw is not None:
            self._raw.close()

    def close(self) -> None:
        """Close the response; safe to call more than once. A closed stream yields nothing
        more, even events that had already arrived."""
        self._release()

    def __del__(self) -> None:
        if self._raw is not None:
            Runtime.abandoned(self._raw)


class EventStream(_Stream[ServerSentEvent]):
    """Server-sent events from a cord: iterate it inside ``with``.

    Attributes:
        response: the response's status and headers (``invocation_id``, ``quota``) once open.

    Raises:
        StreamError: while iterating, for the platform's raw ``{"error": ...}`` line, or a
            body that ends inside an event.
        APIConnectionError: while iterating, when the connection drops or times out.
    """

    def __next__(self) -> ServerSentEvent:
        tap = self._tap
        while True:
            try:
                sse = self._next_event()
            except APIConnectionError as exc:
                raw_line = tap.raw_line
                self._fail(exc if raw_line is None else raw_line_error(raw_line))
            except ChutesError as exc:
                self._fail(exc)
            if sse is None:
                if self._closed:
                    raise StopIteration
                raw_line = tap.raw_line
                if raw_line is not None:
                    self._fail(raw_line_error(raw_line))
                if tap.cut_short():
                    self._fail(StreamError("the stream was cut inside an event"))
                self.close()
                raise StopIteration
            event = plain_event(sse.event, sse.data, sse.id, sse.retry)
            if event is not None:
                return event


class _ChunkStream(_Stream[C], Generic[C, R]):
    """What chat and text completion streams share: typed chunks, text pieces, assembly."""

    def __init__(self, caller: Caller, spec: RequestSpec, reader: ChunkReader[C, R]) -> None:
        super().__init__(caller, spec)
        self._reader = reader
        self._typed: Callable[[Payload], C] | None = None  # asked of the reader on first use
        self._payload_iter: Iterator[Payload] | None = None

    @property
    def usage(self) -> Usage | None:
        """The last usage the server reported so far (streams ask for it by default)."""
        return self._reader.usage

    def _payloads(self) -> Iterator[Payload]:
        if self._payload_iter is None:
            self._payload_iter = self._read()
        return self._payload_iter

    def _read(self) -> Iterator[Payload]:
        """Every chunk's JSON until the stream is complete; then its tokens are counted."""
        reader, tap = self._reader, self._tap
        events = self._events if self._events is not None else self._open()
        try:
            for sse in events:
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
            self._fail(reader.interrupted(exc, tap.raw_line))
        except ChutesError as exc:
            self._fail(exc)
        # [DONE], or a body that ended with every choice finished: the call is whole.
        self._caller.tokens(self._spec.target, reader.usage, reader.model)
        self._release()

    def __next__(self) -> C:
        if self._closed and self._payload_iter is None:
            raise StopIteration
        payload = next(self._payloads())
        typed = self._typed
        if typed is None:
            typed = self._typed = self._reader.typer()
        try:
            return typed(payload)
        except ChutesError as exc:
            self._fail(exc)

    def iter_text(self) -> Iterator[str]:
        """Only the text pieces of the first choice (usage-only chunks are skipped); no typed
        chunk is built on this path."""
        if self._closed and self._payload_iter is None:
            return
        reader = self._reader
        for _ in self._payloads():
            if reader.piece:
                yield reader.piece

    def collect(self) -> R:
        """Read the rest of the stream and assemble the whole response."""
        if not (self._closed and self._payload_iter is None):
            for _ in self._payloads():
                pass
        try:
            return self._reader.collect()
        except ChutesError:
            self._caller.failed(self._spec.target)
            raise

    def close(self) -> None:
        """Close the response; safe to call more than once. A closed stream yields nothing
        more, even chunks that had already arrived."""
        payloads, self._payload_iter = self._payload_iter, None
        self._release()
        Runtime.close_iterator(payloads)


class ChatCompletionStream(_ChunkStream[ChatCompletionChunk, ChatCompletion]):
    """A streamed chat completion: iterate chunks, or use :meth:`iter_text` / :meth:`collect`
    (a :class:`ChatCompletion`). See :class:`CompletionStream` for its attributes."""


class CompletionStream(_ChunkStream[Completion, Completion]):
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

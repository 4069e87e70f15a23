"""Classify what a stream yields, and assemble chunk streams into whole responses.

Rule: every decision about stream items is made here, for every stream the facades run:
events pass, ``[DONE]`` ends, the platform's raw error line and error events fail with the
text received so far, and a body cut before its end is told apart from a finished one.
"""

from __future__ import annotations

import abc
import json
from typing import Any, Final, Generic, Protocol, TypeVar

import attrs

from .decoding import CONVERTER, structure
from .errors import (
    APIConnectionError,
    APITimeoutError,
    ChutesError,
    DecodeError,
    StreamError,
    detail_text,
)
from .models import (
    ChatChoice,
    ChatCompletion,
    ChatCompletionChunk,
    ChatMessage,
    Completion,
    CompletionChoice,
    FunctionCall,
    ToolCall,
    Usage,
)
from .sse import RawLine, ServerSentEvent, SSEParser

__all__ = [
    "ChatChunkDecoder",
    "ChunkDecoder",
    "CompletionChunkDecoder",
    "EventDecoder",
    "is_event_stream",
    "not_event_stream_error",
    "raw_line_error",
    "DRAIN_LIMIT",
    "StreamDecoder",
]


def raw_line_error(text: str, partial_text: str = "") -> StreamError:
    """The :class:`StreamError` for a raw (unframed) line such as ``{"error": "boom"}``."""
    detail: Any
    try:
        parsed = json.loads(text)
    except ValueError:
        detail = text
    else:
        detail = parsed.get("error", parsed) if isinstance(parsed, dict) else parsed
    message = detail_text(detail) or text
    return StreamError(message, partial_text=partial_text, detail=detail)


def tail_error(parser: SSEParser, partial_text: str) -> StreamError | None:
    """The error of a raw ``{"error": ...}`` line left unterminated when the connection
    dropped (the platform writes it without a newline, then closes), or ``None``."""
    tail = parser.pending_text().strip()
    if tail[:1] != "{":
        return None
    try:
        parsed = json.loads(tail)
    except ValueError:
        return None
    if not isinstance(parsed, dict) or "error" not in parsed:
        return None
    return raw_line_error(tail, partial_text)


def is_event_stream(content_type: str | None) -> bool:
    """Whether a response's content type announces server-sent events."""
    return (content_type or "").split(";", 1)[0].strip().lower() == "text/event-stream"


def not_event_stream_error(content_type: str | None, body: bytes) -> DecodeError:
    """The error for a success response to a streaming call that is not an event stream."""
    snippet = body[:200].decode("utf-8", errors="replace")
    return DecodeError(
        f"expected a text/event-stream response but got {content_type or 'no content type'}: "
        f"{snippet!r}",
        body=body,
        content_type=content_type,
    )


class _Deferring:
    """An error found after some items in the same chunk waits until those items are out,
    so a caller sees every event that arrived before the failure."""

    __slots__ = ("_error",)

    def __init__(self) -> None:
        self._error: ChutesError | None = None

    @property
    def deferred(self) -> bool:
        """Whether an error is waiting for :meth:`flush`."""
        return self._error is not None

    def flush(self) -> None:
        """Raise the error found after the items already returned, if any."""
        error = self._error
        if error is not None:
            self._error = None
            raise error

    def _defer(self, error: ChutesError, delivered: list[Any]) -> None:
        if not delivered:
            raise error
        self._error = error


class EventDecoder(_Deferring):
    """Bytes in, :class:`ServerSentEvent` out; the platform's raw error line raises.

    Raises:
        StreamError: from :meth:`feed`, :meth:`close` or :meth:`flush` when the raw
            ``{"error": ...}`` line (or any other unframed line) arrives.
    """

    __slots__ = ("_parser",)
    done: Final = False  # plain SSE has no end marker: the body ends the stream
    usage: Final = None

    def __init__(self) -> None:
        super().__init__()
        self._parser = SSEParser()

    def interrupted(self, error: APIConnectionError) -> ChutesError:
        """A dropped connection stays an :class:`APIConnectionError` for plain SSE, unless
        the platform's raw error line arrived just before the drop."""
        return tail_error(self._parser, "") or error

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Events completed by ``chunk``."""
        self.flush()
        return self._checked(self._parser.feed(chunk))

    def close(self) -> list[ServerSentEvent]:
        """Events left at the end of the body."""
        self.flush()
        return self._checked(self._parser.close())

    def _checked(self, items: list[ServerSentEvent | RawLine]) -> list[ServerSentEvent]:
        out: list[ServerSentEvent] = []
        for item in items:
            if isinstance(item, RawLine):
                self._defer(raw_line_error(item.text), out)
                break
            out.append(item)
        return out


# --- OpenAI-style chunk streams ------------------------------------------------------


@attrs.define(slots=True)
class _ToolAcc:
    id: str | None = None
    type: str | None = None
    name: list[str] = attrs.field(factory=list)
    arguments: list[str] = attrs.field(factory=list)


@attrs.define(slots=True)
class _ChoiceAcc:
    role: str | None = None
    text: list[str] = attrs.field(factory=list)
    reasoning: list[str] = attrs.field(factory=list)
    refusal: list[str] = attrs.field(factory=list)
    tools: dict[int, _ToolAcc] = attrs.field(factory=dict)
    finish_reason: str | None = None
    logprobs: list[Any] = attrs.field(factory=list)


C = TypeVar("C", ChatCompletionChunk, Completion)
R = TypeVar("R", ChatCompletion, Completion)


class ChunkDecoder(_Deferring, abc.ABC, Generic[C, R]):
    """Bytes in, typed chunks out, for ``/v1/chat/completions`` and ``/v1/completions``.

    It keeps what the stream said so far: the text (for errors), the last usage, whether
    ``[DONE]`` came, and everything :meth:`collect` needs to assemble one response.

    Raises:
        StreamError: with the server's message and the text so far, for the raw
            ``{"error": ...}`` line, a ``data: {"error": ...}`` event, an ``event: error``
            event, an undecodable chunk, or a body that ends before the stream was complete.
    """

    chunk_type: type[C]

    def __init__(self) -> None:
        super().__init__()
        self._parser = SSEParser()
        self.done = False
        self.usage: Usage | None = None
        self._pieces: list[str] = []
        self._choices: dict[int, _ChoiceAcc] = {}
        self._meta: dict[str, Any] = {}

    @property
    def partial_text(self) -> str:
        """The text received so far, across choices, in arrival order."""
        return "".join(self._pieces)

    def feed(self, chunk: bytes) -> list[C]:
        """Chunks completed by ``chunk``; empty after ``[DONE]``."""
        self.flush()
        return self._items(self._parser.feed(chunk))

    def close(self) -> list[C]:
        """The chunks left at the end of the body; raises if the stream was cut short."""
        self.flush()
        items = self._items(self._parser.close())
        if not self.done and not self.deferred:
            unfinished = [i for i, acc in self._choices.items() if acc.finish_reason is None]
            if not self._choices or unfinished:
                raise StreamError(
                    "the stream ended before it was complete (no [DONE], and "
                    + (
                        "no chunk arrived)"
                        if not self._choices
                        else "a choice has no finish_reason)"
                    ),
                    partial_text=self.partial_text,
                )
        return items

    def _items(self, items: list[ServerSentEvent | RawLine]) -> list[C]:
        out: list[C] = []
        for item in items:
            if self.done:
                break
            try:
                if isinstance(item, RawLine):
                    raise raw_line_error(item.text, self.partial_text)
                chunk = self._event(item)
            except StreamError as error:
                self._defer(error, out)
                break
            if chunk is not None:
                out.append(chunk)
        return out

    def _event(self, event: ServerSentEvent) -> C | None:
        data = event.data
        if data[:6] == "[DONE]" or data.strip() == "[DONE]":
            self.done = True
            return None
        try:
            payload = json.loads(data)
        except ValueError:
            if event.event == "error":
                raise StreamError(data, partial_text=self.partial_text, detail=data) from None
            raise StreamError(
                f"a stream event is not valid JSON: {data[:200]!r}", partial_text=self.partial_text
            ) from None
        if event.event == "error" or (
            isinstance(payload, dict) and "error" in payload and not payload.get("choices")
        ):
            detail = payload.get("error", payload) if isinstance(payload, dict) else payload
            raise StreamError(
                detail_text(detail) or data, partial_text=self.partial_text, detail=detail
            )
        try:
            chunk = structure(payload, self.chunk_type, body=data.encode())
        except DecodeError as exc:
            raise StreamError(str(exc), partial_text=self.partial_text) from None
        if chunk.usage is not None:
            self.usage = chunk.usage
        if not self._meta:
            self._meta = {"id": chunk.id, "created": chunk.created, "model": chunk.model}
        self._track(chunk)
        return chunk

    def interrupted(self, error: APIConnectionError) -> ChutesError:
        """A connection that drops mid-stream cuts the stream: :class:`StreamError` with the
        text so far (a timeout stays an :class:`APITimeoutError`)."""
        if isinstance(error, APITimeoutError):
            return error
        said = tail_error(self._parser, self.partial_text)
        if said is not None:
            return said
        return StreamError(
            f"the stream was cut before its end: {error}", partial_text=self.partial_text
        )

    def _acc(self, index: int) -> _ChoiceAcc:
        acc = self._choices.get(index)
        if acc is None:
            acc = self._choices[index] = _ChoiceAcc()
        return acc

    @abc.abstractmethod
    def _track(self, chunk: C) -> None:
        """Record what ``chunk`` adds, for :meth:`collect` and the partial text."""

    @abc.abstractmethod
    def text_of(self, chunk: C) -> str | None:
        """The text a chunk adds (first choice), or ``None``."""

    @abc.abstractmethod
    def collect(self) -> R:
        """Everything streamed so far, assembled into one response."""


class ChatChunkDecoder(ChunkDecoder[ChatCompletionChunk, ChatCompletion]):
    """:class:`ChunkDecoder` for chat chunks; :meth:`collect` gives a :class:`ChatCompletion`."""

    chunk_type = ChatCompletionChunk

    def _track(self, chunk: ChatCompletionChunk) -> None:
        for choice in chunk.choices:
            acc = self._acc(choice.index)
            delta = choice.delta
            if delta.role:
                acc.role = delta.role
            if delta.content:
                acc.text.append(delta.content)
                self._pieces.append(delta.content)
            if delta.reasoning_content:
                acc.reasoning.append(delta.reasoning_content)
            if delta.refusal:
                acc.refusal.append(delta.refusal)
            for position, call in enumerate(delta.tool_calls or ()):
                key = call.index if call.index is not None else position
                tool = acc.tools.get(key)
                if tool is None:
                    tool = acc.tools[key] = _ToolAcc()
                tool.id = tool.id or call.id
                tool.type = tool.type or call.type
                if call.function is not None:
                    if call.function.name:
                        tool.name.append(call.function.name)
                    if call.function.arguments:
                        tool.arguments.append(call.function.arguments)
            if choice.finish_reason is not None:
                acc.finish_reason = choice.finish_reason

    def text_of(self, chunk: ChatCompletionChunk) -> str | None:
        """The content piece of the chunk's first choice, if any."""
        return chunk.choices[0].delta.content if chunk.choices else None

    def collect(self) -> ChatCompletion:
        """Everything streamed so far, assembled into one :class:`ChatCompletion`."""
        choices = []
        for index in sorted(self._choices):
            acc = self._choices[index]
            tools = [
                ToolCall(
                    id=tool.id,
                    type=tool.type or "function",
                    function=FunctionCall(
                        name="".join(tool.name) or None, arguments="".join(tool.arguments)
                    ),
                    index=key,
                )
                for key, tool in sorted(acc.tools.items())
            ]
            message = ChatMessage(
                role=acc.role or "assistant",
                content="".join(acc.text) if acc.text or not tools else None,
                reasoning_content="".join(acc.reasoning) or None,
                tool_calls=tools or None,
                refusal="".join(acc.refusal) or None,
            )
            choices.append(
                ChatChoice(index=index, message=message, finish_reason=acc.finish_reason)
            )
        result = ChatCompletion(
            id=self._meta.get("id", ""),
            created=self._meta.get("created", 0),
            model=self._meta.get("model", ""),
            choices=choices,
            usage=self.usage,
        )
        object.__setattr__(result, "raw", CONVERTER.unstructure(result))
        return result


class CompletionChunkDecoder(ChunkDecoder[Completion, Completion]):
    """:class:`ChunkDecoder` for text completions; :meth:`collect` gives a :class:`Completion`."""

    chunk_type = Completion

    def _track(self, chunk: Completion) -> None:
        for choice in chunk.choices:
            acc = self._acc(choice.index)
            if choice.text:
                acc.text.append(choice.text)
                self._pieces.append(choice.text)
            if choice.finish_reason is not None:
                acc.finish_reason = choice.finish_reason

    def text_of(self, chunk: Completion) -> str | None:
        """The text piece of the chunk's first choice, if any."""
        return chunk.choices[0].text if chunk.choices else None

    def collect(self) -> Completion:
        """Everything streamed so far, assembled into one :class:`Completion`."""
        choices = [
            CompletionChoice(index=i, text="".join(acc.text), finish_reason=acc.finish_reason)
            for i, acc in sorted(self._choices.items())
        ]
        result = Completion(
            id=self._meta.get("id", ""),
            created=self._meta.get("created", 0),
            model=self._meta.get("model", ""),
            choices=choices,
            usage=self.usage,
        )
        object.__setattr__(result, "raw", CONVERTER.unstructure(result))
        return result


# How much of a body may follow the end marker before we stop reading and drop the
# connection instead of returning it to the pool.
DRAIN_LIMIT: Final = 64 * 1024

ItemT = TypeVar("ItemT")


class StreamDecoder(Protocol[ItemT]):
    """What a facade's stream needs of a core decoder."""

    @property
    def done(self) -> bool:
        """Whether the end marker arrived (the rest of the body is then drained)."""
        ...

    @property
    def usage(self) -> Usage | None:
        """The last usage the stream reported."""
        ...

    def feed(self, chunk: bytes) -> list[ItemT]:
        """Items completed by ``chunk``."""
        ...

    def close(self) -> list[ItemT]:
        """Items left at the end of the body."""
        ...

    def interrupted(self, error: APIConnectionError) -> ChutesError:
        """The error to raise when the connection fails mid-stream."""
        ...

    @property
    def deferred(self) -> bool:
        """Whether an error waits behind items already returned."""
        ...

    def flush(self) -> None:
        """Raise an error that waited behind items already returned."""
        ...

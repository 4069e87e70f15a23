"""Classify what a stream yields, and assemble chunk streams into whole responses.

Rule: every decision about stream items is made here, for every stream the facades run:
events pass, ``[DONE]`` ends, the platform's raw error line and error events fail with the
text received so far, and a body cut before its end is told apart from a finished one.
"""

from __future__ import annotations

import abc
import json
import json.scanner
from collections.abc import Callable
from typing import Any, Final, Generic, Protocol, TypeVar

import attrs

from .decoding import structure, structurer
from .errors import (
    APIConnectionError,
    APITimeoutError,
    ChutesError,
    DecodeError,
    StreamError,
    detail_text,
)
from .models import (
    ChatCompletion,
    ChatCompletionChunk,
    Completion,
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


def _same(event: ServerSentEvent) -> ServerSentEvent:
    return event


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

    @staticmethod
    def typer() -> Callable[[ServerSentEvent], ServerSentEvent]:
        """Events are already what the caller gets."""
        return _same

    def _checked(self, items: list[ServerSentEvent | RawLine | str]) -> list[ServerSentEvent]:
        out: list[ServerSentEvent] = []
        for item in items:
            if isinstance(item, RawLine):
                self._defer(raw_line_error(item.text), out)
                break
            # This parser is not bare, so every event is a ServerSentEvent already.
            out.append(item if isinstance(item, ServerSentEvent) else ServerSentEvent(data=item))
        return out


# --- OpenAI-style chunk streams ------------------------------------------------------
# The decoder works on the parsed JSON of each chunk: tracking text, usage and tool-call
# fragments needs no typed objects, so `iter_text()` and `collect()` never build them, and
# iterating a stream builds each typed chunk once, on demand (`typed`).

Payload = dict[str, Any]
# The C scanner behind json.loads, called without the two Python layers around it (loads'
# whitespace regex and raw_decode's frame): it runs once per chunk. It raises StopIteration
# or ValueError for what is not JSON, and the full path then explains.
_scan: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(
    json.JSONDecoder()  # type: ignore[arg-type]  # typeshed names the wrong parameter type
)
_INVALID: Final = object()


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


C = TypeVar("C", ChatCompletionChunk, Completion)
R = TypeVar("R", ChatCompletion, Completion)


def _text(value: Any, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"{what} must be a string, got {type(value).__name__}")


class ChunkDecoder(_Deferring, abc.ABC, Generic[C, R]):
    """Bytes in, chunk payloads out, for ``/v1/chat/completions`` and ``/v1/completions``.

    It keeps what the stream said so far: the text (for errors), the last usage, whether
    ``[DONE]`` came, and everything :meth:`collect` needs to assemble one response.

    Raises:
        StreamError: with the server's message and the text so far, for the raw
            ``{"error": ...}`` line, a ``data: {"error": ...}`` event, an ``event: error``
            event, an undecodable chunk, or a body that ends before the stream was complete.
    """

    chunk_type: type[C]
    response_type: type[R]
    _object: str

    def __init__(self) -> None:
        super().__init__()
        self._parser = SSEParser(bare=True)
        self.done = False
        self._usage_raw: Any = None
        self._usage: Usage | None = None
        self._pieces: list[str] = []
        self._choices: dict[int, _ChoiceAcc] = {}
        self._first: Payload | None = None

    @property
    def partial_text(self) -> str:
        """The text received so far, across choices, in arrival order."""
        return "".join(self._pieces)

    @property
    def usage(self) -> Usage | None:
        """The last usage the stream reported, typed on first access."""
        if self._usage is None and self._usage_raw is not None:
            self._usage = structure(self._usage_raw, Usage)
        return self._usage

    def feed(self, chunk: bytes) -> list[Payload]:
        """Chunk payloads completed by ``chunk``; empty after ``[DONE]``."""
        self.flush()
        return self._items(self._parser.feed(chunk))

    def close(self) -> list[Payload]:
        """The payloads left at the end of the body; raises if the stream was cut short."""
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

    def typer(self) -> Callable[[Payload], C]:
        """What makes the typed chunk of a payload this decoder returned; the function raises
        :class:`StreamError` (with the text so far) for a payload that is not a valid chunk.
        Asked for once per stream, on the first chunk iterated."""
        return structurer(self.chunk_type, self._invalid)

    def _invalid(self, error: DecodeError) -> StreamError:
        return StreamError(str(error), partial_text=self.partial_text)

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

    def _items(self, items: list[ServerSentEvent | RawLine | str]) -> list[Payload]:
        out: list[Payload] = []
        if self.done:
            return out
        track = self._track
        for item in items:
            try:
                payload: Any = None
                if type(item) is str and item[:1] == "{":
                    # The hot path, one JSON chunk of a `message` event. Anything unusual
                    # (an error object, trailing text, invalid JSON) takes the full path.
                    try:
                        payload, end = _scan(item, 0)
                    except (StopIteration, ValueError):
                        payload = None
                    else:
                        if end != len(item) or type(payload) is not dict or "error" in payload:
                            payload = None
                if payload is None:
                    if isinstance(item, RawLine):
                        raise raw_line_error(item.text, self.partial_text)
                    payload = self._payload(item)
                    if payload is None:
                        break  # [DONE]: nothing after it counts
                try:
                    track(payload)
                except (TypeError, AttributeError, KeyError, ValueError) as exc:
                    raise StreamError(
                        f"a stream chunk is not a valid {self.chunk_type.__name__}: {exc}",
                        partial_text=self.partial_text,
                    ) from None
            except StreamError as error:
                self._defer(error, out)
                break
            out.append(payload)
        return out

    def _payload(self, item: ServerSentEvent | str) -> Payload | None:
        data, event = (item, "message") if isinstance(item, str) else (item.data, item.event)
        if data == "[DONE]" or (data[:1] in (" ", "\t", "[") and data.strip() == "[DONE]"):
            self.done = True
            return None
        try:
            payload, end = _scan(data, 0)
            if end != len(data) and data[end:].strip():
                raise ValueError("extra data after the JSON value")
        except (StopIteration, ValueError):
            try:
                # Leading whitespace, or invalid JSON (json.loads gives the real message).
                # Trailing whitespace of any kind was accepted above: str.strip() takes
                # Unicode spaces, which json.loads would refuse.
                payload = json.loads(data)
            except ValueError:
                payload = _INVALID
        if payload is _INVALID:
            if event == "error":
                raise StreamError(data, partial_text=self.partial_text, detail=data) from None
            raise StreamError(
                f"a stream event is not valid JSON: {data[:200]!r}", partial_text=self.partial_text
            ) from None
        if not isinstance(payload, dict):
            if event == "error":
                raise StreamError(data, partial_text=self.partial_text, detail=payload)
            raise StreamError(
                f"a stream event is not a JSON object: {data[:200]!r}",
                partial_text=self.partial_text,
            )
        if event == "error" or ("error" in payload and not payload.get("choices")):
            detail = payload.get("error", payload)
            raise StreamError(
                detail_text(detail) or data, partial_text=self.partial_text, detail=detail
            )
        return payload

    def _acc(self, index: Any) -> _ChoiceAcc:
        if not isinstance(index, int):
            raise TypeError(f"choice index must be an integer, got {index!r}")
        acc = self._choices[index] = _ChoiceAcc()
        return acc

    def _common(self, payload: Payload) -> Any:
        """Track what every chunk kind carries; return its choices."""
        if self._first is None:
            self._first = payload
        usage = payload.get("usage")
        if usage is not None:
            self._usage_raw, self._usage = usage, None
        choices = payload.get("choices")
        if choices is not None and not isinstance(choices, list):
            raise TypeError("choices must be a list")
        return choices

    def _assembled(self, choices: list[Payload]) -> R:
        first = self._first or {}
        body = {
            "id": first.get("id") or "",
            "object": self._object,
            "created": first.get("created") or 0,
            "model": first.get("model") or "",
            "choices": choices,
            "usage": self._usage_raw,
        }
        return structure(body, self.response_type)

    @abc.abstractmethod
    def _track(self, payload: Payload) -> None:
        """Record what a chunk adds, for :meth:`collect` and the partial text."""

    @abc.abstractmethod
    def text_of(self, payload: Payload) -> str | None:
        """The text a chunk payload adds (first choice), or ``None``."""

    @abc.abstractmethod
    def collect(self) -> R:
        """Everything streamed so far, assembled into one response."""


class ChatChunkDecoder(ChunkDecoder[ChatCompletionChunk, ChatCompletion]):
    """:class:`ChunkDecoder` for chat chunks; :meth:`collect` gives a :class:`ChatCompletion`."""

    chunk_type = ChatCompletionChunk
    response_type = ChatCompletion
    _object = "chat.completion"

    def _track(self, payload: Payload) -> None:
        if self._first is None or "usage" in payload:
            self._common(payload)  # the first chunk, or usage: the rest runs once per chunk
        choices = payload.get("choices")
        if type(choices) is not list:
            if choices is None:
                return
            raise TypeError("choices must be a list")
        for choice in choices:
            index = choice.get("index", 0)
            acc = self._choices.get(index) or self._acc(index)
            delta = choice.get("delta")
            if delta:
                content = delta.get("content")
                if content:
                    if type(content) is not str:
                        raise TypeError("delta.content must be a string")
                    acc.text.append(content)
                    self._pieces.append(content)
                    if len(delta) > 1:
                        self._rest(acc, delta)
                else:
                    self._rest(acc, delta)
            reason = choice.get("finish_reason")
            if reason is not None:
                acc.finish_reason = _text(reason, "finish_reason")

    @staticmethod
    def _rest(acc: _ChoiceAcc, delta: Payload) -> None:
        role = _text(delta.get("role"), "delta.role")
        if role:
            acc.role = role
        reasoning = _text(delta.get("reasoning_content") or delta.get("reasoning"), "reasoning")
        if reasoning:
            acc.reasoning.append(reasoning)
        refusal = _text(delta.get("refusal"), "delta.refusal")
        if refusal:
            acc.refusal.append(refusal)
        for position, call in enumerate(delta.get("tool_calls") or ()):
            key = call.get("index")
            key = position if key is None else key
            tool = acc.tools.get(key)
            if tool is None:
                tool = acc.tools[key] = _ToolAcc()
            tool.id = tool.id or _text(call.get("id"), "tool_call.id")
            tool.type = tool.type or _text(call.get("type"), "tool_call.type")
            function = call.get("function")
            if function:
                name = _text(function.get("name"), "function.name")
                if name:
                    tool.name.append(name)
                arguments = _text(function.get("arguments"), "function.arguments")
                if arguments:
                    tool.arguments.append(arguments)

    def text_of(self, payload: Payload) -> str | None:
        """The content piece of the chunk's first choice, if any."""
        choices = payload.get("choices")
        if choices:
            delta = choices[0].get("delta")
            if delta:
                content: str | None = delta.get("content")
                return content
        return None

    def collect(self) -> ChatCompletion:
        """Everything streamed so far, assembled into one :class:`ChatCompletion`."""
        choices = []
        for index in sorted(self._choices):
            acc = self._choices[index]
            tools = [
                {
                    "id": tool.id,
                    "type": tool.type or "function",
                    "function": {
                        "name": "".join(tool.name) or None,
                        "arguments": "".join(tool.arguments),
                    },
                    "index": key,
                }
                for key, tool in sorted(acc.tools.items())
            ]
            message = {
                "role": acc.role or "assistant",
                "content": "".join(acc.text) if acc.text or not tools else None,
                "reasoning_content": "".join(acc.reasoning) or None,
                "tool_calls": tools or None,
                "refusal": "".join(acc.refusal) or None,
            }
            choices.append({"index": index, "message": message, "finish_reason": acc.finish_reason})
        return self._assembled(choices)


class CompletionChunkDecoder(ChunkDecoder[Completion, Completion]):
    """:class:`ChunkDecoder` for text completions; :meth:`collect` gives a :class:`Completion`."""

    chunk_type = Completion
    response_type = Completion
    _object = "text_completion"

    def _track(self, payload: Payload) -> None:
        for choice in self._common(payload) or ():
            index = choice.get("index", 0)
            acc = self._choices.get(index) or self._acc(index)
            text = _text(choice.get("text"), "text")
            if text:
                acc.text.append(text)
                self._pieces.append(text)
            reason = choice.get("finish_reason")
            if reason is not None:
                acc.finish_reason = _text(reason, "finish_reason")

    def text_of(self, payload: Payload) -> str | None:
        """The text piece of the chunk's first choice, if any."""
        choices = payload.get("choices")
        if choices:
            text: str | None = choices[0].get("text")
            return text
        return None

    def collect(self) -> Completion:
        """Everything streamed so far, assembled into one :class:`Completion`."""
        choices = [
            {"index": i, "text": "".join(acc.text), "finish_reason": acc.finish_reason}
            for i, acc in sorted(self._choices.items())
        ]
        return self._assembled(choices)


# How much of a body may follow the end marker before we stop reading and drop the
# connection instead of returning it to the pool.
DRAIN_LIMIT: Final = 64 * 1024

ItemT = TypeVar("ItemT", covariant=True)


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

    def feed(self, chunk: bytes) -> list[Any]:
        """Items completed by ``chunk``."""
        ...

    def close(self) -> list[Any]:
        """Items left at the end of the body."""
        ...

    def typer(self) -> Callable[[Any], ItemT]:
        """What turns an item into what the caller gets (the typed chunk)."""
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

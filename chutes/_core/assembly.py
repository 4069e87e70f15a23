"""OpenAI-style chunk streams: read each chunk, keep what the stream said, assemble the whole.

Rule: a :class:`ChunkReader` takes the events of one ``/v1/chat/completions`` or
``/v1/completions`` stream (as httpx-sse yields them) and decides everything about them:
which are chunks, where the stream ends (``[DONE]``, or every choice finished), what the
text so far is (for errors), the last usage, and the whole response :meth:`collect`
assembles. It keeps text in one growing buffer per field, not one object per piece, so a
long stream that is only iterated holds its text and nothing more.
"""

from __future__ import annotations

import abc
import io
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import attrs

from .decoding import structure, structurer
from .errors import APIConnectionError, APITimeoutError, ChutesError, DecodeError, StreamError
from .events import DONE, classify_chunk, raw_line_error
from .models import ChatCompletion, ChatCompletionChunk, Completion, Usage

__all__: list[str] = []

Payload = dict[str, Any]
C = TypeVar("C")
R = TypeVar("R")


@attrs.define(slots=True)
class _Tool:
    id: str | None = None
    type: str | None = None
    name: io.StringIO = attrs.field(factory=io.StringIO)
    arguments: io.StringIO = attrs.field(factory=io.StringIO)


@attrs.define(slots=True)
class _Choice:
    role: str | None = None
    text: io.StringIO = attrs.field(factory=io.StringIO)
    reasoning: io.StringIO = attrs.field(factory=io.StringIO)
    refusal: io.StringIO = attrs.field(factory=io.StringIO)
    tools: dict[int, _Tool] = attrs.field(factory=dict)
    finish_reason: str | None = None


def _text(value: Any, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"{what} must be a string, got {type(value).__name__}")


class ChunkReader(abc.ABC, Generic[C, R]):
    """Events in, chunk payloads out, for one OpenAI-style stream.

    Raises:
        StreamError: with the server's message and the text so far, for an error event, a
            ``{"error": ...}`` chunk, the raw error line, a chunk that is not valid, or a
            body that ends before the stream was complete.
    """

    chunk_type: type[C]
    response_type: type[R]
    _object: str

    def __init__(self) -> None:
        self.done = False
        self.piece: str | None = None  # the text the last chunk added to the first choice
        self._usage_raw: Any = None
        self._usage: Usage | None = None
        self._choices: dict[int, _Choice] = {}
        self._first: Payload | None = None

    @property
    def partial_text(self) -> str:
        """The text received so far (each choice's, in index order)."""
        return "".join(self._choices[i].text.getvalue() for i in sorted(self._choices))

    @property
    def model(self) -> str | None:
        """The model the stream's first chunk named, if any."""
        found = (self._first or {}).get("model")
        return found if isinstance(found, str) and found else None

    @property
    def usage(self) -> Usage | None:
        """The last usage the stream reported, typed on first access."""
        if self._usage is None and self._usage_raw is not None:
            self._usage = structure(self._usage_raw, Usage)
        return self._usage

    def event(self, event: str, data: str) -> Payload | None:
        """The chunk payload of one event; ``None`` for an event that carries no chunk
        (``[DONE]``, which also sets :attr:`done`, or an event with no data)."""
        try:
            payload = classify_chunk(event, data)
        except StreamError as error:
            error.partial_text = self.partial_text
            raise
        if payload is None:
            return None
        if payload is DONE:
            self.done = True
            return None
        assert type(payload) is dict
        self.piece = None
        try:
            self._track(payload)
        except (TypeError, AttributeError, KeyError, ValueError) as exc:
            raise StreamError(
                f"a stream chunk is not a valid {self.chunk_type.__name__}: {exc}",
                partial_text=self.partial_text,
            ) from None
        return payload

    def complete(self) -> bool:
        """Whether the stream said all it had to: ``[DONE]`` came, or every choice finished
        (some servers end without ``[DONE]``, and without usage)."""
        if self.done:
            return True
        if not self._choices:
            return False
        return all(choice.finish_reason is not None for choice in self._choices.values())

    def end(self, *, raw_line: str | None, cut_short: bool) -> None:
        """The body ended; raise unless the stream was complete.

        Args:
            raw_line: the platform's raw ``{"error": ...}`` line, if one came.
            cut_short: whether the body ended inside an event.
        """
        if raw_line is not None:
            raise raw_line_error(raw_line, self.partial_text)
        if self.complete() and not cut_short:
            return
        if not self._choices:
            reason = "no chunk arrived"
        elif cut_short:
            reason = "the last event was cut before its end"
        else:
            reason = "a choice has no finish_reason"
        raise StreamError(
            f"the stream ended before it was complete (no [DONE], and {reason})",
            partial_text=self.partial_text,
        )

    def interrupted(self, error: APIConnectionError, raw_line: str | None) -> ChutesError:
        """The error for a connection that failed mid-stream: the raw error line if it came
        just before, a timeout as is, else :class:`StreamError` with the text so far."""
        if raw_line is not None:
            return raw_line_error(raw_line, self.partial_text)
        if isinstance(error, APITimeoutError):
            return error
        return StreamError(
            f"the stream was cut before its end: {error}", partial_text=self.partial_text
        )

    def typer(self) -> Callable[[Payload], C]:
        """What makes the typed chunk of a payload; it raises :class:`StreamError` (with the
        text so far) for a payload that is not a valid chunk."""
        return structurer(self.chunk_type, self._invalid)

    def _invalid(self, error: DecodeError) -> StreamError:
        return StreamError(str(error), partial_text=self.partial_text)

    def _choice(self, index: Any) -> _Choice:
        found = self._choices.get(index)
        if found is None:
            if type(index) is not int:
                raise TypeError(f"choice index must be an integer, got {index!r}")
            found = self._choices[index] = _Choice()
        return found

    def _common(self, payload: Payload) -> list[Payload]:
        """Track what every chunk kind carries; return its choices."""
        if self._first is None:
            self._first = payload
        usage = payload.get("usage")
        if usage is not None:
            self._usage_raw, self._usage = usage, None
        choices = payload.get("choices")
        if choices is None:
            return []
        if type(choices) is not list:
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

    def _finish(self, choice: _Choice, reason: Any) -> None:
        if reason is not None:
            choice.finish_reason = _text(reason, "finish_reason")

    @abc.abstractmethod
    def _track(self, payload: Payload) -> None:
        """Record what a chunk adds, for :meth:`collect` and the partial text."""

    @abc.abstractmethod
    def collect(self) -> R:
        """Everything streamed so far, assembled into one response."""


class ChatReader(ChunkReader[ChatCompletionChunk, ChatCompletion]):
    """:class:`ChunkReader` for chat chunks; :meth:`collect` gives a :class:`ChatCompletion`."""

    chunk_type = ChatCompletionChunk
    response_type = ChatCompletion
    _object = "chat.completion"

    def _track(self, payload: Payload) -> None:
        # Most chunks carry one content piece and nothing else: that case is checked first.
        choices = self._common(payload) if self._first is None or "usage" in payload else None
        if choices is None:
            choices = payload.get("choices")
            if type(choices) is not list:
                if choices is None:
                    return
                raise TypeError("choices must be a list")
        for choice in choices:
            acc = self._choices.get(choice.get("index", 0)) or self._choice(choice.get("index", 0))
            delta = choice.get("delta")
            if delta:
                content = delta.get("content")
                if content and type(content) is str:
                    acc.text.write(content)
                    if choice is choices[0]:
                        self.piece = content
                    if len(delta) > 1:
                        self._rest(acc, delta)
                else:
                    _text(content, "delta.content")
                    self._rest(acc, delta)
            reason = choice.get("finish_reason")
            if reason is not None:
                acc.finish_reason = _text(reason, "finish_reason")

    @staticmethod
    def _rest(acc: _Choice, delta: Payload) -> None:
        role = _text(delta.get("role"), "delta.role")
        if role:
            acc.role = role
        # vLLM >= 0.10 names the field `reasoning`.
        reasoning = _text(delta.get("reasoning_content") or delta.get("reasoning"), "reasoning")
        if reasoning:
            acc.reasoning.write(reasoning)
        refusal = _text(delta.get("refusal"), "delta.refusal")
        if refusal:
            acc.refusal.write(refusal)
        for position, call in enumerate(delta.get("tool_calls") or ()):
            # A tool call arrives in fragments that share an index (its position when absent).
            key = call.get("index")
            key = position if key is None else key
            tool = acc.tools.get(key)
            if tool is None:
                tool = acc.tools[key] = _Tool()
            tool.id = tool.id or _text(call.get("id"), "tool_call.id")
            tool.type = tool.type or _text(call.get("type"), "tool_call.type")
            function = call.get("function")
            if function:
                name = _text(function.get("name"), "function.name")
                if name:
                    tool.name.write(name)
                arguments = _text(function.get("arguments"), "function.arguments")
                if arguments:
                    tool.arguments.write(arguments)

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
                        "name": tool.name.getvalue() or None,
                        "arguments": tool.arguments.getvalue(),
                    },
                    "index": key,
                }
                for key, tool in sorted(acc.tools.items())
            ]
            text = acc.text.getvalue()
            message = {
                "role": acc.role or "assistant",
                "content": text if text or not tools else None,
                "reasoning_content": acc.reasoning.getvalue() or None,
                "tool_calls": tools or None,
                "refusal": acc.refusal.getvalue() or None,
            }
            choices.append({"index": index, "message": message, "finish_reason": acc.finish_reason})
        return self._assembled(choices)


class CompletionReader(ChunkReader[Completion, Completion]):
    """:class:`ChunkReader` for text completions; :meth:`collect` gives a :class:`Completion`."""

    chunk_type = Completion
    response_type = Completion
    _object = "text_completion"

    def _track(self, payload: Payload) -> None:
        choices = self._common(payload)
        for choice in choices:
            acc = self._choice(choice.get("index", 0))
            text = _text(choice.get("text"), "text")
            if text:
                acc.text.write(text)
                if choice is choices[0]:
                    self.piece = text
            self._finish(acc, choice.get("finish_reason"))

    def collect(self) -> Completion:
        """Everything streamed so far, assembled into one :class:`Completion`."""
        choices = [
            {"index": i, "text": acc.text.getvalue(), "finish_reason": acc.finish_reason}
            for i, acc in sorted(self._choices.items())
        ]
        return self._assembled(choices)

"""Public value types shared by every response: quota and response metadata.

Rule: models are plain frozen attrs classes; reading them from the wire happens in
functions here or in ``decoding``, never in the models themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from .errors import INVOCATION_ID_HEADER
from .public import export

__all__ = [
    "ChatChoice",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatMessage",
    "ChoiceDelta",
    "ChunkChoice",
    "Completion",
    "CompletionChoice",
    "CompletionTokensDetails",
    "Embedding",
    "EmbeddingsResponse",
    "FunctionCall",
    "Model",
    "ModelList",
    "PromptTokensDetails",
    "Quota",
    "ToolCall",
    "Usage",
]

_QUOTA_HEADERS: Final = ("x-chutes-quota-total", "x-chutes-quota-used", "x-chutes-quota-remaining")


@attrs.frozen(slots=True)
class Quota:
    """The account's quota as the platform reported it on a response.

    Attributes:
        total: the quota for the period, if sent.
        used: how much is used, if sent.
        remaining: how much is left, if sent.
    """

    total: float | None
    used: float | None
    remaining: float | None


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    value = value.strip()
    try:
        return int(value)
    except ValueError:
        try:
            number = float(value)
        except ValueError:
            return None
        return number if number == number else None


def quota_from_headers(headers: Mapping[str, str]) -> Quota | None:
    """The :class:`Quota` from ``X-Chutes-Quota-*`` headers, or ``None`` when none was sent."""
    values = [_number(headers.get(name)) for name in _QUOTA_HEADERS]
    if all(v is None for v in values):
        return None
    return Quota(*values)


def invocation_id(headers: Mapping[str, str]) -> str | None:
    """The platform's ``X-Chutes-InvocationID``, or ``None``."""
    return headers.get(INVOCATION_ID_HEADER)


# --- OpenAI-compatible response types -------------------------------------------------
# Field names are the wire names; the converter in ``decoding`` owns every rename and the
# leniency rules. Top-level responses keep the server's JSON in ``raw``.


def _raw() -> Any:
    return attrs.field(factory=dict, eq=False, repr=False, kw_only=True)


@attrs.frozen(slots=True)
class FunctionCall:
    """The function a tool call invokes; in stream chunks both fields arrive in pieces."""

    name: str | None = None
    arguments: str | None = None


@attrs.frozen(slots=True)
class ToolCall:
    """One tool call of an assistant message (or a fragment of one, in a stream chunk)."""

    id: str | None = None
    type: str | None = None
    function: FunctionCall | None = None
    index: int | None = None


@attrs.frozen(slots=True)
class ChatMessage:
    """An assistant message; ``reasoning_content`` is filled by reasoning models."""

    role: str = "assistant"
    content: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[ToolCall] | None = None
    refusal: str | None = None


@attrs.frozen(slots=True)
class ChoiceDelta:
    """The piece of a message one stream chunk carries."""

    role: str | None = None
    content: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[ToolCall] | None = None
    refusal: str | None = None


@attrs.frozen(slots=True)
class PromptTokensDetails:
    """Breakdown of prompt tokens; ``cached_tokens`` counts prefix-cache hits."""

    cached_tokens: int | None = None


@attrs.frozen(slots=True)
class CompletionTokensDetails:
    """Breakdown of completion tokens."""

    reasoning_tokens: int | None = None


@attrs.frozen(slots=True)
class Usage:
    """Token counts the server reported for one request; ``None`` where it did not say
    (a count sent as ``null`` is unknown, not zero)."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None


@attrs.frozen(slots=True)
class ChatChoice:
    """One choice of a chat completion."""

    index: int = 0
    message: ChatMessage = attrs.field(factory=ChatMessage)
    finish_reason: str | None = None
    logprobs: Any = None


@attrs.frozen(slots=True)
class ChatCompletion:
    """A chat completion (``POST /v1/chat/completions``), or a stream assembled into one."""

    id: str = ""
    object: str = "chat.completion"
    created: int = 0
    model: str = ""
    choices: list[ChatChoice] = attrs.field(factory=list)
    usage: Usage | None = None
    system_fingerprint: str | None = None
    raw: Mapping[str, Any] = _raw()

    def _repr_markdown_(self) -> str | None:
        """Jupyter's view: the first choice's text, as the Markdown the model wrote
        (``None``, so the plain repr is shown, when it has no text)."""
        if not self.choices:
            return None
        return self.choices[0].message.content or None


@attrs.frozen(slots=True)
class ChunkChoice:
    """One choice's piece in a stream chunk."""

    index: int = 0
    delta: ChoiceDelta = attrs.field(factory=ChoiceDelta)
    finish_reason: str | None = None
    logprobs: Any = None


@attrs.frozen(slots=True)
class ChatCompletionChunk:
    """One streamed chat chunk; ``choices`` is empty in a usage-only chunk."""

    id: str = ""
    object: str = "chat.completion.chunk"
    created: int = 0
    model: str = ""
    choices: list[ChunkChoice] = attrs.field(factory=list)
    usage: Usage | None = None
    system_fingerprint: str | None = None
    raw: Mapping[str, Any] = _raw()


@attrs.frozen(slots=True)
class CompletionChoice:
    """One choice of a text completion (or its piece, in a stream chunk)."""

    index: int = 0
    text: str = ""
    finish_reason: str | None = None
    logprobs: Any = None


@attrs.frozen(slots=True)
class Completion:
    """A text completion (``POST /v1/completions``), streamed chunks included."""

    id: str = ""
    object: str = "text_completion"
    created: int = 0
    model: str = ""
    choices: list[CompletionChoice] = attrs.field(factory=list)
    usage: Usage | None = None
    system_fingerprint: str | None = None
    raw: Mapping[str, Any] = _raw()


@attrs.frozen(slots=True)
class Embedding:
    """One embedding vector (a base64 string when ``encoding_format="base64"``)."""

    index: int = 0
    embedding: list[float] | str = attrs.field(factory=list)
    object: str = "embedding"


@attrs.frozen(slots=True)
class EmbeddingsResponse:
    """The answer of ``POST /v1/embeddings``."""

    data: list[Embedding] = attrs.field(factory=list)
    model: str = ""
    object: str = "list"
    usage: Usage | None = None
    raw: Mapping[str, Any] = _raw()


@attrs.frozen(slots=True)
class Model:
    """A model a chute or gateway serves; gateway extras (pricing, chute_id) are in ``raw``."""

    id: str
    object: str = "model"
    created: int | None = None
    owned_by: str | None = None
    raw: Mapping[str, Any] = _raw()


@attrs.frozen(slots=True)
class ModelList:
    """The answer of ``GET /v1/models``."""

    data: list[Model] = attrs.field(factory=list)
    object: str = "list"
    raw: Mapping[str, Any] = _raw()


export(__all__, globals())

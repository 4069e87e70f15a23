"""Request bodies for the OpenAI-compatible helpers.

Rule: what a helper sends is decided here: named parameters the caller gave (``NOT_GIVEN``
ones left out), every extra keyword merged in as is, and ``stream_options`` asking for usage
on streamed calls unless the caller said otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .config import NotGiven
from .errors import ConfigurationError

__all__ = [
    "CHAT_PATH",
    "COMPLETIONS_PATH",
    "EMBEDDINGS_PATH",
    "IMAGES_PATH",
    "MODELS_PATH",
    "make_body",
]

CHAT_PATH: Final = "/v1/chat/completions"
COMPLETIONS_PATH: Final = "/v1/completions"
EMBEDDINGS_PATH: Final = "/v1/embeddings"
IMAGES_PATH: Final = "/v1/images/generations"
MODELS_PATH: Final = "/v1/models"
_USAGE_OPTIONS: Final = {"include_usage": True}


def make_body(
    named: Mapping[str, Any],
    extra: Mapping[str, Any],
    *,
    stream: bool | None = None,
    stream_options: Any = None,
) -> dict[str, Any]:
    """The JSON body of a helper call.

    Args:
        named: the helper's named parameters; ``NOT_GIVEN`` values are left out.
        extra: any other keyword the caller passed (vLLM's ``top_k``, ``min_p``, ...).
        stream: ``True`` for a streamed call (``None`` for helpers that never stream).
        stream_options: the caller's ``stream_options``; ``NOT_GIVEN`` asks for usage,
            ``None`` sends none.

    Raises:
        ConfigurationError: when an extra keyword repeats a named one or ``stream`` itself.
    """
    body = {k: v for k, v in named.items() if not isinstance(v, NotGiven)}
    for key, value in extra.items():
        if key in ("stream", "stream_options"):
            raise ConfigurationError(f"pass {key}= as the named argument, not in the extra body")
        if key in ("headers", "params", "extra_body"):
            # Easy to pass by habit from chute.post(); silently sending them as JSON fields
            # would hide the mistake.
            raise ConfigurationError(
                f"helpers take no {key}=: pass extra_headers= for headers, and body fields "
                "as keyword arguments"
            )
        if key in body:
            raise ConfigurationError(f"{key!r} is given twice")
        body[key] = value
    if stream:
        body["stream"] = True
        if isinstance(stream_options, NotGiven):
            body["stream_options"] = dict(_USAGE_OPTIONS)
        elif stream_options is not None:
            body["stream_options"] = stream_options
    elif (
        stream is False and not isinstance(stream_options, NotGiven) and stream_options is not None
    ):
        raise ConfigurationError("stream_options= needs stream=True")
    return body

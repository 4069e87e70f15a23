"""Request bodies for the OpenAI-compatible helpers.

Rule: what a helper sends is decided here, from the helper's own parameters: named ones the
caller gave (``NOT_GIVEN`` ones left out), every extra keyword merged in as is, and
``stream_options`` asking for usage on streamed calls unless the caller said otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .config import NOT_GIVEN, NotGiven
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


# A helper's parameters that are not body fields.
_NOT_BODY: Final = frozenset(
    {"self", "path", "extra_headers", "timeout", "max_retries", "extra_body", "stream", "e2ee"}
) | {"stream_options"}
_LISTS: Final = frozenset({"messages", "tools"})


def make_body(params: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of a helper call, from the helper's parameters (its ``locals()`` on
    entry, so each field is spelled once, in the signature).

    Named fields the caller gave go in (``NOT_GIVEN`` ones left out, ``messages`` and
    ``tools`` as lists); every extra keyword (vLLM's ``top_k``, ``min_p``, ...) is merged
    as is; a streamed call asks for usage (``stream_options={"include_usage": true}``)
    unless ``stream_options`` is given, and ``None`` sends none.

    Raises:
        ConfigurationError: when an extra keyword repeats a named one or an option, or
            ``stream_options`` comes without ``stream=True``.
    """
    body = {
        key: list(value) if key in _LISTS else value
        for key, value in params.items()
        if key not in _NOT_BODY and not isinstance(value, NotGiven)
    }
    for key, value in params.get("extra_body", {}).items():
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
    stream_options = params.get("stream_options", NOT_GIVEN)
    if params.get("stream"):
        body["stream"] = True
        if isinstance(stream_options, NotGiven):
            body["stream_options"] = dict(_USAGE_OPTIONS)
        elif stream_options is not None:
            body["stream_options"] = stream_options
    elif not isinstance(stream_options, NotGiven) and stream_options is not None:
        raise ConfigurationError("stream_options= needs stream=True")
    return body

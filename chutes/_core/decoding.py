"""Body decoding: JSON bodies, and one cattrs converter for every response type.

Rule: one converter factory; wire names, renames and aliases live here, not in the models.
cattrs generates each model's structuring function (registered with linecache, so
tracebacks show its source); this module only supplies the hooks around it:

- ``null`` means "not sent": a field whose default is not ``None`` keeps its default;
- another server's name for a field (vLLM >= 0.10 sends ``reasoning`` for
  ``reasoning_content``) is read when ours is absent;
- a chat message's ``content`` given as a list of parts (OpenAI's multimodal form) keeps
  its text parts, joined;
- every top-level response keeps the server's JSON in ``raw``;
- scalars are checked, not coerced: a float never becomes an int by truncation.

The default converter is lenient (unknown fields ignored); ``strict=True`` (used in tests
against recorded payloads) refuses keys that are neither modelled nor known to be left
out, so a misspelt rename fails loudly. A success body that is not what the call expects
raises :class:`DecodeError` with the body attached; nothing becomes ``None`` silently.
"""

from __future__ import annotations

import json
import threading
import types
import typing
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeVar

import attrs

from . import models as m
from .errors import DecodeError, detail_text

if TYPE_CHECKING:
    import cattrs

__all__: list[str] = []

T = TypeVar("T")

# Python attribute -> wire name, per class. Empty today: every field keeps its wire name;
# tests pass their own table to prove a wrong rename fails in strict mode.
RENAMES: Final[Mapping[type, Mapping[str, str]]] = {}

# Other servers' names for one of our fields, read when ours is absent or null.
ALIASES: Final[Mapping[type, Mapping[str, str]]] = {
    m.ChatMessage: {"reasoning": "reasoning_content"},
    m.ChoiceDelta: {"reasoning": "reasoning_content"},
}

# The field a body must have to be of its kind at all: an embeddings answer to a chat call
# (or an error object under a 200) is not a chat completion with no choices.
KIND_FIELDS: Final[Mapping[type, str]] = {
    m.ChatCompletion: "choices",
    m.Completion: "choices",
    m.EmbeddingsResponse: "data",
    m.ModelList: "data",
}

# Fields whose value may be OpenAI's list of content parts instead of a string.
CONTENT_PARTS: Final[Mapping[type, str]] = {m.ChatMessage: "content", m.ChoiceDelta: "content"}

# Keys real servers send that we deliberately do not model; strict mode lets them pass.
# Response types defined outside the core add their own entries at import.
_VLLM_EXTRAS: Final = "service_tier prompt_logprobs prompt_token_ids kv_transfer_params metadata"
_CHOICE_EXTRAS: Final = "stop_reason matched_stop token_ids"
UNMODELLED: Final[dict[type, frozenset[str]]] = {
    cls: frozenset(keys.split())
    for cls, keys in {
        m.ChatCompletion: _VLLM_EXTRAS,
        m.ChatCompletionChunk: "service_tier metadata",
        m.Completion: _VLLM_EXTRAS,
        m.ChatChoice: _CHOICE_EXTRAS,
        m.ChunkChoice: _CHOICE_EXTRAS,
        m.CompletionChoice: _CHOICE_EXTRAS + " prompt_logprobs",
        m.ChatMessage: "annotations audio function_call provider_specific_fields",
        m.ChoiceDelta: "function_call provider_specific_fields",
        m.Usage: "input_tokens output_tokens input_tokens_details reasoning_tokens",
        m.CompletionTokensDetails: (
            "text_tokens audio_tokens accepted_prediction_tokens rejected_prediction_tokens"
        ),
        m.PromptTokensDetails: "audio_tokens text_tokens image_tokens",
        m.EmbeddingsResponse: "id created",
        m.Model: (
            "permissions permission root parent max_model_len chute_id pricing price "
            "confidential_compute"
        ),
    }.items()
}

_REQUIRED: Final = object()
_NAMES: Final = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _scalar(tp: type, default: Any = _REQUIRED) -> Callable[[Any, Any], Any]:
    """The hook of a ``str``, ``int``, ``float`` or ``bool`` value: the exact JSON type (an
    int may be a whole float, a float may be an int; nothing is truncated or coerced), and
    ``null`` giving ``default`` where the field has one."""

    def check(value: Any, _: Any) -> Any:
        if type(value) is tp:
            return value
        if value is None and default is not _REQUIRED:
            return default
        if tp is int and type(value) is float and value.is_integer():
            return int(value)
        if tp is float and type(value) is int:
            return float(value)
        raise TypeError(f"expected {_NAMES[tp]}, got {value!r}"[:200])

    return check


def _embedding(value: Any, _: Any) -> list[float] | str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return [_number(v, float) for v in value]
    raise TypeError(f"expected a list of numbers or a base64 string, got {type(value).__name__}")


_string, _number = _scalar(str), _scalar(float)


def _content(value: Any, _: Any) -> str | None:
    """A message's content: a string, or the text of OpenAI's list of content parts."""
    if value is None or type(value) is str:
        return value
    if isinstance(value, list):
        texts = []
        for part in value:
            if not isinstance(part, Mapping):
                raise TypeError(f"a content part must be an object, got {type(part).__name__}")
            if part.get("type", "text") == "text":
                texts.append(_string(part.get("text", ""), str))
        return "".join(texts)
    raise TypeError(f"expected a string or a list of content parts, got {type(value).__name__}")


def _null_keeps_default(hook: Callable[[Any, Any], Any], default: Any) -> Callable[[Any, Any], Any]:
    """A field hook that gives the field's default for ``null`` (the server did not say)."""
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        factory = default.factory

        def made(value: Any, tp: Any) -> Any:
            return factory() if value is None else hook(value, tp)

        return made

    def kept(value: Any, tp: Any) -> Any:
        return default if value is None else hook(value, tp)

    return kept


def _object(hook: Callable[[Any, Any], Any], tp: type, default: Any) -> Callable[[Any, Any], Any]:
    """The hook of a field holding one model: a JSON object, or ``null`` for the default."""
    made = default.factory if isinstance(default, attrs.Factory) else None  # type: ignore[arg-type]

    def check(value: Any, _: Any) -> Any:
        if type(value) is dict:
            return hook(value, tp)
        if value is None:
            return default if made is None else made()
        raise TypeError(f"expected a JSON object for {tp.__name__}, got {type(value).__name__}")

    return check


def _objects(hook: Callable[[Any, Any], Any], tp: type, default: Any) -> Callable[[Any, Any], Any]:
    """The hook of a field holding a list of models, ``null`` giving the default."""
    made = default.factory if isinstance(default, attrs.Factory) else None  # type: ignore[arg-type]

    def check(value: Any, _: Any) -> Any:
        if type(value) is list:
            out = []
            for item in value:
                if type(item) is not dict:
                    raise TypeError(f"expected JSON objects for {tp.__name__} in a list")
                out.append(hook(item, tp))
            return out
        if value is None:
            return default if made is None else made()
        raise TypeError(f"expected a list of {tp.__name__}, got {type(value).__name__}")

    return check


def _field_hook(conv: cattrs.Converter, tp: Any, default: Any) -> Callable[[Any, Any], Any]:
    """The hook of a field of type ``tp``: a scalar checked in one call, ``null`` giving the
    field's default (``None`` for ``X | None``)."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        tp = rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]  # noqa: UP007
    if tp in _NAMES:
        return _scalar(tp, default)
    if attrs.has(tp):
        return _object(conv.get_structure_hook(tp), tp, default)
    item = typing.get_args(tp)[0] if typing.get_origin(tp) is list else None
    if item is not None and attrs.has(item):
        return _objects(conv.get_structure_hook(item), item, default)
    return _null_keeps_default(conv.get_structure_hook(tp), default)


def make_converter(
    *, strict: bool = False, renames: Mapping[type, Mapping[str, str]] | None = None
) -> cattrs.Converter:
    """A converter for the response models.

    Args:
        strict: refuse keys that are neither modelled nor known-unmodelled, and report
            every problem (cattrs' detailed validation).
        renames: attribute -> wire name per class (defaults to :data:`RENAMES`).
    """
    # Imported here: a client that never decodes a typed response never pays for cattrs.
    import cattrs
    from cattrs.gen import make_dict_structure_fn, override

    table = RENAMES if renames is None else renames
    conv = cattrs.Converter(detailed_validation=strict)
    for scalar in _NAMES:
        conv.register_structure_hook(scalar, _scalar(scalar))
    conv.register_structure_hook_func(lambda t: t == (list[float] | str), _embedding)

    def factory(cls: type[Any]) -> Callable[[Any, Any], Any]:
        rename = table.get(cls, {})
        overrides: dict[str, Any] = {}
        for field in attrs.fields(cls):
            name = field.name
            if name == "raw" or name.startswith("_"):
                # raw is the JSON itself; private fields carry what the client injects.
                overrides[name] = override(omit=True)
                continue
            hook: Callable[[Any, Any], Any] | None = None
            if CONTENT_PARTS.get(cls) == name:
                hook = _content
            elif field.default is not attrs.NOTHING and field.type is not Any:
                hook = _field_hook(conv, field.type, field.default)
            overrides[name] = override(rename=rename.get(name), struct_hook=hook)
        generated = make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=strict, **overrides)
        aliases = {a: rename.get(f, f) for a, f in ALIASES.get(cls, {}).items()}
        ignored = UNMODELLED.get(cls, frozenset()) if strict else frozenset()
        keeps_raw = any(f.name == "raw" for f in attrs.fields(cls))
        if not (aliases or ignored or keeps_raw):
            return generated

        def structure_model(value: Any, _: Any) -> Any:
            data = value
            for alias, wire in aliases.items():
                if alias in data:
                    # Read by its wire name, and left out so strict mode sees no extra key.
                    data = {k: v for k, v in data.items() if k != alias}
                    if data.get(wire) is None:
                        data[wire] = value[alias]
            if ignored:
                data = {k: v for k, v in data.items() if k not in ignored}
            obj = generated(data, cls)
            if keeps_raw:
                object.__setattr__(obj, "raw", value)  # frozen: set once, here
            return obj

        return structure_model

    def resolved_factory(cls: type[Any]) -> Callable[[Any, Any], Any]:
        attrs.resolve_types(cls)
        return factory(cls)

    conv.register_structure_hook_factory(attrs.has, resolved_factory)
    return conv


_lock: Final = threading.Lock()
_default: cattrs.Converter | None = None


def converter() -> cattrs.Converter:
    """The lenient converter every response is decoded with, made on first use."""
    global _default
    if _default is None:
        with _lock:
            if _default is None:
                _default = make_converter()
    return _default


def _failures() -> tuple[type[BaseException], ...]:
    import cattrs

    return (cattrs.BaseValidationError, TypeError, ValueError, KeyError, AttributeError)


def structure(
    data: Any, cls: type[T], *, body: bytes | None = None, conv: cattrs.Converter | None = None
) -> T:
    """Build ``cls`` from parsed JSON (with the default converter unless ``conv`` is given).

    Raises:
        DecodeError: when ``data`` is not the shape ``cls`` needs, with the body attached.
    """
    conv = conv or converter()
    try:
        if attrs.has(cls) and not isinstance(data, Mapping):
            raise TypeError(f"expected a JSON object, got {type(data).__name__}")
        return conv.structure(data, cls)
    except _failures() as exc:
        raise _failed(exc, data, cls, body) from None


def structurer(
    cls: type[T], failure: Callable[[DecodeError], Exception] | None = None
) -> Callable[[Any], T]:
    """``structure(data, cls)`` for a caller that decodes many values of one type (the
    chunks of a stream): the converter's hook for ``cls`` is looked up once.

    Args:
        cls: the type to build.
        failure: what to raise instead of the :class:`DecodeError` (which it is given).
    """
    hook = converter().get_structure_hook(cls)
    failures = _failures()

    def run(data: Any) -> T:
        try:
            if type(data) is not dict:
                raise TypeError(f"expected a JSON object, got {type(data).__name__}")
            return hook(data, cls)  # type: ignore[no-any-return]
        except failures as exc:
            error = _failed(exc, data, cls, None)
            raise (error if failure is None else failure(error)) from None

    return run


def _failed(exc: BaseException, data: Any, cls: type, body: bytes | None) -> DecodeError:
    if body is None:
        body = json.dumps(data, default=repr).encode()
    return DecodeError(f"the response is not a valid {cls.__name__}: {_reason(exc)}", body=body)


def _reason(exc: BaseException) -> str:
    import cattrs

    if isinstance(exc, cattrs.BaseValidationError):
        notes = cattrs.transform_error(exc)
        return "; ".join(notes[:3]) or str(exc)
    if isinstance(exc, KeyError):
        return f"missing field {exc}"
    return str(exc)


def decode_json(
    content: bytes, content_type: str | None = None, *, headers: Mapping[str, str] | None = None
) -> Any:
    """Parse a JSON body.

    Args:
        content: the body.
        content_type: the content type, for the error message.
        headers: where to find the content type instead, looked up only on an error.

    Raises:
        DecodeError: naming the content type and the parser's complaint.
    """
    try:
        return json.loads(content)
    except (ValueError, RecursionError) as exc:
        if content_type is None and headers is not None:
            content_type = headers.get("content-type")
        snippet = content[:200].decode("utf-8", errors="replace")
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise DecodeError(
            f"expected a JSON body but got {content_type or 'no content type'} "
            f"({reason}): {snippet!r}",
            body=content,
            content_type=content_type,
        ) from None


def decode_body(content: bytes, headers: Mapping[str, str], cls: type[T]) -> T:
    """Parse a JSON body into ``cls``.

    Raises:
        DecodeError: for invalid JSON, the wrong shape, a body of another kind (no
            ``choices`` in a chat completion, say), or an ``{"error": ...}`` object sent
            with a success status (its message given).
    """
    data = decode_json(content, headers=headers)
    field = KIND_FIELDS.get(cls)
    if field is not None and isinstance(data, Mapping) and field not in data:
        if "error" in data:
            raise DecodeError(
                f"the server answered with an error under a success status: "
                f"{detail_text(data['error']) or content[:200]!r}",
                body=content,
                content_type=headers.get("content-type"),
            )
        raise DecodeError(
            f"the response is not a {cls.__name__}: it has no {field!r} "
            f"(keys: {', '.join(sorted(map(str, data))[:10]) or 'none'})",
            body=content,
            content_type=headers.get("content-type"),
        )
    return structure(data, cls, body=content)

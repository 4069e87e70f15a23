"""Body decoding: JSON bodies, and one cattrs converter for every response type.

Rule: one converter factory; wire names, renames and aliases live here, not in the models.
The default converter is lenient (unknown fields ignored, ``null`` treated as absent, the
server's JSON kept in ``raw``); ``strict=True`` (used in tests against recorded payloads)
refuses unknown keys so a misspelt rename fails loudly. A success body that is not what the
call expects raises :class:`DecodeError` with the body attached; nothing becomes ``None``
silently.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeVar

import attrs

from . import models as m
from .builders import Builders
from .errors import DecodeError

if TYPE_CHECKING:
    import cattrs

__all__ = [
    "converter",
    "decode_body",
    "decode_json",
    "make_converter",
    "structure",
    "structurer",
]

T = TypeVar("T")

# Python attribute -> wire name, per class. Empty today: every field keeps its wire name;
# tests pass their own table to prove a wrong rename fails in strict mode.
RENAMES: Final[Mapping[type, Mapping[str, str]]] = {}

# Other servers' names for one of our fields: vLLM >= 0.10 sends ``reasoning``.
ALIASES: Final[Mapping[type, Mapping[str, str]]] = {
    m.ChatMessage: {"reasoning": "reasoning_content"},
    m.ChoiceDelta: {"reasoning": "reasoning_content"},
}

# Keys real servers send that we deliberately do not model; strict mode lets them pass.
# Response types defined outside the core add their own entries at import.
UNMODELLED: Final[dict[type, frozenset[str]]] = {
    m.ChatCompletion: frozenset(
        {"service_tier", "prompt_logprobs", "prompt_token_ids", "kv_transfer_params", "metadata"}
    ),
    m.ChatCompletionChunk: frozenset({"service_tier", "metadata"}),
    m.Completion: frozenset(
        {"service_tier", "prompt_logprobs", "prompt_token_ids", "kv_transfer_params", "metadata"}
    ),
    m.ChatChoice: frozenset({"stop_reason", "matched_stop", "token_ids"}),
    m.ChunkChoice: frozenset({"stop_reason", "matched_stop", "token_ids"}),
    m.CompletionChoice: frozenset({"stop_reason", "matched_stop", "token_ids", "prompt_logprobs"}),
    m.ChatMessage: frozenset({"annotations", "audio", "function_call", "provider_specific_fields"}),
    m.ChoiceDelta: frozenset({"function_call", "provider_specific_fields"}),
    m.Usage: frozenset(
        {"input_tokens", "output_tokens", "input_tokens_details", "reasoning_tokens"}
    ),
    m.CompletionTokensDetails: frozenset(
        {"text_tokens", "audio_tokens", "accepted_prediction_tokens", "rejected_prediction_tokens"}
    ),
    m.PromptTokensDetails: frozenset({"audio_tokens", "text_tokens", "image_tokens"}),
    m.EmbeddingsResponse: frozenset({"id", "created"}),
    m.Model: frozenset(
        {
            "permissions",
            "permission",
            "root",
            "parent",
            "max_model_len",
            "chute_id",
            "pricing",
            "confidential_compute",
        }
    ),
}


def _str(value: Any, _: Any) -> str:
    if isinstance(value, str):
        return value
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _int(value: Any, _: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(f"expected an integer, got {value!r}")


def _float(value: Any, _: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise TypeError(f"expected a number, got {value!r}")


def _embedding(value: Any, _: Any) -> list[float] | str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return [_float(v, float) for v in value]
    raise TypeError(f"expected a list of numbers or a base64 string, got {type(value).__name__}")


def make_converter(
    *,
    strict: bool = False,
    renames: Mapping[type, Mapping[str, str]] | None = None,
    builders: bool = True,
) -> cattrs.Converter:
    """A converter for the response models.

    Args:
        strict: refuse keys that are neither modelled nor known-unmodelled.
        renames: attribute -> wire name per class (defaults to :data:`RENAMES`).
        builders: let generated builders (:mod:`.builders`) take well-formed JSON, with
            cattrs deciding everything else; the results are the same either way. Strict
            converters never use them.
    """
    # Imported here: a client that never decodes a typed response never pays for cattrs.
    import cattrs
    from cattrs.gen import make_dict_structure_fn, override

    global _FAILURES
    _FAILURES = (cattrs.BaseValidationError, TypeError, ValueError, KeyError, AttributeError)
    table = RENAMES if renames is None else renames
    conv = cattrs.Converter(detailed_validation=strict)
    conv.register_structure_hook(str, _str)
    conv.register_structure_hook(int, _int)
    conv.register_structure_hook(float, _float)
    conv.register_structure_hook_func(lambda t: t == (list[float] | str), _embedding)
    builder_of = (
        None
        if strict or not builders
        else Builders(conv.get_structure_hook, renames=table, aliases=ALIASES)
    )

    def factory(cls: type[Any]) -> Callable[[Any, Any], Any]:
        names = {a.name for a in attrs.fields(cls)}
        rename = table.get(cls, {})
        overrides: dict[str, Any] = {n: override(rename=rename[n]) for n in rename}
        keeps_raw = "raw" in names
        if keeps_raw:
            overrides["raw"] = override(omit=True)
        # Private fields carry what the client injects (fetchers, raw bytes), never JSON.
        overrides.update({n: override(omit=True) for n in names if n.startswith("_")})
        generated = make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=strict, **overrides)
        aliases = ALIASES.get(cls, {})
        # One alias is the common case: a single `in` is cheaper than a set operation.
        alias = next(iter(aliases), None) if len(aliases) == 1 else None
        more = frozenset(aliases) if len(aliases) > 1 else frozenset()
        ignored = UNMODELLED.get(cls, frozenset()) if strict else frozenset()

        def cleaned(value: Mapping[str, Any]) -> dict[str, Any]:
            # null means "not sent": the field keeps its default.
            data = {k: v for k, v in value.items() if v is not None and k not in ignored}
            for alias, field in aliases.items():
                if alias in data:
                    found = data.pop(alias)
                    data.setdefault(rename.get(field, field), found)  # read by its wire name
            return data

        def slow(value: Any) -> Any:
            if type(value) is not dict and not isinstance(value, Mapping):
                raise TypeError(f"expected a JSON object for {cls.__name__}")
            if strict or (alias and alias in value) or (more and not more.isdisjoint(value)):
                obj = generated(cleaned(value), cls)
            else:
                # The fast path, once per chunk of a stream: well-formed JSON needs no copy.
                # A null where a field has a non-null default fails here and takes the
                # cleaning path, which gives the same result as cleaning first.
                try:
                    obj = generated(value, cls)
                except (TypeError, ValueError, KeyError, AttributeError):
                    obj = generated(cleaned(value), cls)
            if keeps_raw:
                object.__setattr__(obj, "raw", value)
            return obj

        return _Hook(builder_of(cls) if builder_of is not None else None, slow)

    conv.register_structure_hook_factory(attrs.has, factory)
    return conv


class _Hook:
    """The converter's hook for a model: its builder takes well-formed JSON; cattrs, on the
    same data, decides (and explains) the rest."""

    __slots__ = ("build", "slow")

    def __init__(self, build: Callable[[Any], Any] | None, slow: Callable[[Any], Any]) -> None:
        self.build = build
        self.slow = slow

    def __call__(self, value: Any, _: Any) -> Any:
        build = self.build
        if build is not None and type(value) is dict:
            try:
                return build(value)
            except Exception:
                return self.slow(value)
        return self.slow(value)


_default: cattrs.Converter | None = None
# What a failed structure raises: cattrs' validation error joins when a converter is made.
_FAILURES: tuple[type[BaseException], ...] = (TypeError, ValueError, KeyError, AttributeError)


def converter() -> cattrs.Converter:
    """The lenient converter every response is decoded with, made on first use."""
    global _default
    if _default is None:
        _default = make_converter()
    return _default


_make_default = converter  # `structure` names its parameter `converter`


def structure(
    data: Any, cls: type[T], *, body: bytes | None = None, converter: cattrs.Converter | None = None
) -> T:
    """Build ``cls`` from parsed JSON (with the default converter unless one is given).

    Raises:
        DecodeError: when ``data`` is not the shape ``cls`` needs, with the body attached.
    """
    conv = converter or _default or _make_default()
    try:
        return conv.structure(data, cls)
    except _FAILURES as exc:
        raise _failed(exc, data, cls, body) from None


def structurer(
    cls: type[T], failure: Callable[[DecodeError], Exception] | None = None
) -> Callable[[Any], T]:
    """``structure(data, cls)`` for a caller that decodes many values of one type (the
    chunks of a stream): the default converter's hook is looked up once, and a builder is
    called directly.

    Args:
        cls: the type to build.
        failure: what to raise instead of the :class:`DecodeError` (which it is given).
    """
    hook = (_default or _make_default()).get_structure_hook(cls)

    def by_hook(data: Any) -> Any:
        return hook(data, cls)

    build: Callable[[Any], Any] | None = None
    slow: Callable[[Any], Any] = by_hook
    if isinstance(hook, _Hook):
        build, slow = hook.build, hook.slow

    def checked(data: Any) -> T:
        try:
            return slow(data)  # type: ignore[no-any-return]
        except _FAILURES as exc:
            error = _failed(exc, data, cls, None)
            raise (error if failure is None else failure(error)) from None

    if build is None:
        return checked

    def run(data: Any) -> T:
        # _Hook.__call__'s choice, without its call layer: this runs once per chunk.
        if type(data) is dict:
            try:
                return build(data)  # type: ignore[no-any-return]
            except Exception:
                return checked(data)  # cattrs decides what the builder gave up on
        return checked(data)

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
    except ValueError as exc:
        if content_type is None and headers is not None:
            content_type = headers.get("content-type")
        snippet = content[:200].decode("utf-8", errors="replace")
        raise DecodeError(
            f"expected a JSON body but got {content_type or 'no content type'} "
            f"({exc}): {snippet!r}",
            body=content,
            content_type=content_type,
        ) from None


def decode_body(content: bytes, headers: Mapping[str, str], cls: type[T]) -> T:
    """Parse a JSON body into ``cls``.

    Raises:
        DecodeError: for invalid JSON or the wrong shape.
    """
    return structure(decode_json(content, headers=headers), cls, body=content)

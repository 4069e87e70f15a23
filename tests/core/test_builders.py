"""Generated builders give exactly what cattrs gives, and take the real servers' payloads.

The default converter lets a builder take well-formed JSON and leaves everything else to
cattrs. These tests decode recorded payloads, and thousands of damaged copies of them, with
that converter and with one that never uses builders, and require the same objects (and
the same ``raw`` mappings), or the same error.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chutes
from chutes._core import decoding
from chutes._core import models as m
from chutes._core.builders import Builders, Slow
from chutes._core.errors import DecodeError
from chutes._images import AsyncImagesResponse, ImagesResponse

DATA = Path(__file__).parent.parent / "data"
WITH = decoding.make_converter()
WITHOUT = decoding.make_converter(builders=False)


def _events(relative: str) -> list[Any]:
    text = (DATA / relative).read_text()
    out = []
    for line in text.splitlines():
        if line.startswith("data:") and line[5:].strip() != "[DONE]":
            out.append(json.loads(line[5:]))
    return out


def _body(relative: str) -> Any:
    return json.loads((DATA / relative).read_bytes())


SAMPLES: list[tuple[str, type, Any]] = [
    ("litellm chat", m.ChatCompletion, _body("recorded/litellm/chat.body")),
    ("litellm tools", m.ChatCompletion, _body("recorded/litellm/chat-tools.body")),
    ("litellm completions", m.Completion, _body("recorded/litellm/completions.body")),
    ("litellm embeddings", m.EmbeddingsResponse, _body("recorded/litellm/embeddings.body")),
    ("litellm images", ImagesResponse, _body("recorded/litellm/images.body")),
    ("litellm models", m.ModelList, _body("recorded/litellm/models.body")),
    ("llama.cpp chat", m.ChatCompletion, _body("recorded/llamacpp/chat.body")),
    ("llama.cpp embeddings", m.EmbeddingsResponse, _body("recorded/llamacpp/embeddings.body")),
    ("vllm chat", m.ChatCompletion, _body("payloads/vllm-chat.json")),
    ("vllm completion", m.Completion, _body("payloads/vllm-completion.json")),
    ("vllm models", m.ModelList, _body("payloads/vllm-models.json")),
    ("sglang chat", m.ChatCompletion, _body("payloads/sglang-chat.json")),
    ("gateway models", m.ModelList, _body("payloads/gateway-models.json")),
]
for name, path in [
    ("litellm stream", "recorded/litellm/chat-stream.body"),
    ("llama.cpp stream", "recorded/llamacpp/chat-stream.body"),
    ("vllm stream", "payloads/vllm-chat-stream.sse"),
    ("vllm reasoning", "payloads/vllm-reasoning-stream.sse"),
    ("vllm tools", "payloads/vllm-tool-stream.sse"),
]:
    SAMPLES += [(f"{name} {i}", m.ChatCompletionChunk, e) for i, e in enumerate(_events(path))]

# What a damaged value becomes: every JSON kind, and the near misses cattrs treats specially
# (a float that is an integer, a bool where a number goes).
REPLACEMENTS = [None, "x", "", 0, 7, -1, 2.0, 2.5, True, False, [], [1], [None], {}, {"a": 1}]
EXTRA_KEYS = ["reasoning", "reasoning_content", "content", "unknown_field", "choices", "raw"]


def _outcome(converter: Any, data: Any, cls: type) -> tuple[Any, ...]:
    try:
        obj = converter.structure(data, cls)
    except Exception as exc:  # the error itself is what is compared
        return ("error", type(exc), str(exc))
    return ("ok", type(obj), repr(obj), obj, _raws(obj))


def _raws(obj: Any) -> list[int]:
    """The identity of every ``raw`` mapping in ``obj`` (eq and repr leave ``raw`` out)."""
    found: list[int] = []
    if attrs.has(type(obj)):
        for a in attrs.fields(type(obj)):
            value = getattr(obj, a.name)
            if a.name == "raw":
                found.append(id(value))
            else:
                found += _raws(value)
    elif isinstance(obj, list):
        for item in obj:
            found += _raws(item)
    return found


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, (*prefix, i))
    return out


def _container(root: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        root = root[step]
    return root


def _damage(data: Any, edits: list[tuple[int, int, int]]) -> Any:
    data = copy.deepcopy(data)
    for where, what, which in edits:
        paths = [p for p in _paths(data) if p]
        if not paths:
            return data
        path = paths[where % len(paths)]
        parent = _container(data, path[:-1])
        kind = what % 3
        if kind == 0:
            parent[path[-1]] = copy.deepcopy(REPLACEMENTS[which % len(REPLACEMENTS)])
        elif kind == 1 and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            key = EXTRA_KEYS[which % len(EXTRA_KEYS)]
            parent[key] = copy.deepcopy(REPLACEMENTS[which % len(REPLACEMENTS)])
    return data


@pytest.mark.parametrize(("cls", "data"), [pytest.param(c, d, id=n) for n, c, d in SAMPLES])
def test_real_payloads_decode_alike_and_take_the_builder(cls: type, data: Any) -> None:
    assert _outcome(WITH, data, cls) == _outcome(WITHOUT, data, cls)
    assert _outcome(WITH, data, cls)[0] == "ok"
    # The fast path is the one real servers' payloads take: the builder itself succeeds.
    builder = Builders(WITH.get_structure_hook, renames={}, aliases=decoding.ALIASES)(cls)
    assert builder is not None
    assert builder(data) == WITHOUT.structure(data, cls)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sample=st.sampled_from(SAMPLES),
    edits=st.lists(
        st.tuples(st.integers(0, 10_000), st.integers(0, 2), st.integers(0, 100)),
        min_size=1,
        max_size=4,
    ),
)
def test_damaged_payloads_decode_alike(
    sample: tuple[str, type, Any], edits: list[tuple[int, int, int]]
) -> None:
    _, cls, data = sample
    damaged = _damage(data, edits)
    assert _outcome(WITH, damaged, cls) == _outcome(WITHOUT, damaged, cls)
    # structurer() calls the builder itself, and must agree with structure().
    assert _decoded(decoding.structurer(cls), damaged) == _decoded(
        lambda d: decoding.structure(d, cls), damaged
    )


def _decoded(run: Any, data: Any) -> tuple[Any, ...]:
    try:
        obj = run(data)
    except DecodeError as exc:
        return ("error", str(exc), exc.body)
    return ("ok", type(obj), repr(obj), obj, _raws(obj))


def test_structurer_raises_what_failure_makes_of_the_decode_error() -> None:
    class Refused(Exception):
        pass

    run = decoding.structurer(m.Usage, lambda error: Refused(f"refused: {error}"))
    assert run({"prompt_tokens": 2}) == m.Usage(prompt_tokens=2)
    assert run({"prompt_tokens": 2.0}) == m.Usage(prompt_tokens=2)  # cattrs' path
    with pytest.raises(Refused, match="refused: the response is not a valid Usage"):
        run({"prompt_tokens": "two"})
    with pytest.raises(DecodeError, match="not a valid Usage"):
        decoding.structurer(m.Usage)(["not", "an", "object"])


@pytest.mark.parametrize(
    "cls",
    [getattr(m, n) for n in m.__all__ if attrs.has(getattr(m, n))]
    + [ImagesResponse, AsyncImagesResponse],
)
def test_every_response_model_has_a_builder(cls: type) -> None:
    builders = Builders(WITH.get_structure_hook, renames={}, aliases=decoding.ALIASES)
    assert builders(cls) is not None


def test_aliases_fill_a_field_only_when_it_is_absent_or_null() -> None:
    for data in [
        {"reasoning": "a"},
        {"reasoning": "a", "reasoning_content": "b"},
        {"reasoning": "a", "reasoning_content": None},
        {"reasoning": None, "reasoning_content": "b"},
        {"reasoning": None},
    ]:
        built = WITH.structure(data, m.ChoiceDelta)
        assert built == WITHOUT.structure(data, m.ChoiceDelta)
        assert built.reasoning_content == (data.get("reasoning_content") or data.get("reasoning"))


def test_renames_are_read_from_the_wire_name() -> None:
    renames = {m.FunctionCall: {"arguments": "args"}}
    builder = Builders(WITH.get_structure_hook, renames=renames, aliases={})(m.FunctionCall)
    assert builder is not None
    assert builder({"name": "f", "args": "{}", "arguments": "ignored"}) == m.FunctionCall(
        name="f", arguments="{}"
    )


def test_an_alias_fills_a_renamed_field_on_both_paths() -> None:
    renames = {m.ChatMessage: {"reasoning_content": "thinking"}}
    with_builders = decoding.make_converter(renames=renames)
    without = decoding.make_converter(renames=renames, builders=False)
    for data in [{"reasoning": "r"}, {"reasoning": "r", "thinking": "t"}, {"thinking": None}]:
        built = with_builders.structure(data, m.ChatMessage)
        assert built == without.structure(data, m.ChatMessage)
        assert built.reasoning_content == (data.get("thinking") or data.get("reasoning"))


class _Lookalike:
    """Has .get and `in`, as a mapping does, but is none: cattrs refuses it."""

    def get(self, key: str, default: Any = None) -> Any:
        return default

    def __contains__(self, key: object) -> bool:
        return False


def test_list_items_must_be_json_objects_for_the_builder() -> None:
    for items in ([_Lookalike()], [{"index": 0}, _Lookalike()]):
        data = {"choices": items}
        assert _outcome(WITH, data, m.ChatCompletion) == _outcome(WITHOUT, data, m.ChatCompletion)
        assert _outcome(WITH, data, m.ChatCompletion)[0] == "error"
        builder = Builders(WITH.get_structure_hook, renames={}, aliases={})(m.ChatCompletion)
        assert builder is not None
        with pytest.raises(Slow):
            builder(data)


def test_a_builder_gives_up_on_what_cattrs_must_decide() -> None:
    builder = Builders(WITH.get_structure_hook, renames={}, aliases={})(m.Usage)
    assert builder is not None
    assert builder({"prompt_tokens": 3}) == m.Usage(prompt_tokens=3)
    for data in [
        {"prompt_tokens": 3.0},  # an integer as a float: cattrs converts it
        {"prompt_tokens": True},  # a bool is no count: cattrs refuses it
        {"prompt_tokens": None},  # null where a count goes: the default, after cleaning
        {"prompt_tokens_details": []},  # not an object
    ]:
        with pytest.raises(Slow):
            builder(data)
    # ...and the converter's answer for those is cattrs' answer.
    assert WITH.structure({"prompt_tokens": 3.0}, m.Usage) == m.Usage(prompt_tokens=3)
    assert WITH.structure({"prompt_tokens": None}, m.Usage) == m.Usage()
    with pytest.raises(Exception, match="integer"):
        WITH.structure({"prompt_tokens": True}, m.Usage)


@attrs.frozen(slots=True)
class Validated:
    n: int = attrs.field(default=0, validator=attrs.validators.ge(0))


@attrs.frozen(slots=True)
class PostInit:
    n: int = 0

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "n", self.n + 1)


@attrs.frozen(slots=False)
class NoSlots:
    n: int = 0


@attrs.frozen(slots=True, cache_hash=True)
class CachedHash:
    n: int = 0


@attrs.frozen(slots=True)
class Holder:
    inner: Validated = attrs.field(factory=Validated)


def test_classes_that_run_code_on_construction_get_no_builder() -> None:
    builders = Builders(WITH.get_structure_hook, renames={}, aliases={})
    for cls in (Validated, PostInit, NoSlots, CachedHash, Holder):
        assert builders(cls) is None
    converter = decoding.make_converter()
    assert converter.structure({"n": 1}, PostInit).n == 2  # __init__ ran
    assert converter.structure({"n": 1}, NoSlots) == NoSlots(n=1)
    assert hash(converter.structure({"n": 1}, CachedHash)) == hash(CachedHash(n=1))
    with pytest.raises(ValueError, match=">= 0"):
        converter.structure({"inner": {"n": -1}}, Holder)


def test_a_class_with_an_unresolvable_annotation_gets_no_builder() -> None:
    @attrs.frozen(slots=True)
    class Local:
        n: Undefined = 0  # type: ignore[name-defined]  # noqa: F821

    assert Builders(WITH.get_structure_hook, renames={}, aliases={})(Local) is None


def test_strict_converters_never_use_builders() -> None:
    strict = decoding.make_converter(strict=True)
    with pytest.raises(DecodeError, match="surprise"):
        decoding.structure({"prompt_tokens": 1, "surprise": 1}, m.Usage, converter=strict)
    assert WITH.structure({"prompt_tokens": 1, "surprise": 1}, m.Usage) == m.Usage(1)


def test_the_public_default_converter_builds_chunks_that_compare_equal() -> None:
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}],
    }
    built = decoding.structure(chunk, chutes.ChatCompletionChunk)
    assert built == chutes.ChatCompletionChunk(
        id="c",
        created=1,
        model="m",
        choices=[m.ChunkChoice(delta=m.ChoiceDelta(content="hi"))],
    )
    assert built.raw is chunk
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        built.choices[0].delta.content = "changed"  # type: ignore[misc]

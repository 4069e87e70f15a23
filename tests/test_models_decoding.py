"""Decoding the OpenAI-compatible responses: recorded and hand-written server payloads.

Every payload under ``tests/data`` is decoded with the strict converter (a misspelt rename
or an unlisted field fails loudly) and with the lenient default the helpers use. Bodies of the
wrong shape must raise ``DecodeError`` carrying the body, through the helpers themselves.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

import chutes
from chutes import ImagesResponse
from chutes._core.decoding import make_converter, structure

DATA = Path(__file__).parent / "data"
KEY = "cpk_0123456789abcdef0123456789abcdef.0123456789abcdef0123456789abcdef.DECODEabc123"
BASE = "http://127.0.0.1:9"
MESSAGES = [{"role": "user", "content": "Hi"}]
STRICT = make_converter(strict=True)
LENIENT = make_converter()

# Whole JSON bodies, each with the type its endpoint decodes into.
JSON_PAYLOADS = [
    pytest.param("recorded/litellm/chat.body", chutes.ChatCompletion, id="litellm-chat"),
    pytest.param("recorded/litellm/chat-tools.body", chutes.ChatCompletion, id="litellm-tools"),
    pytest.param("recorded/litellm/completions.body", chutes.Completion, id="litellm-completions"),
    pytest.param(
        "recorded/litellm/embeddings.body", chutes.EmbeddingsResponse, id="litellm-embeddings"
    ),
    pytest.param("recorded/litellm/images.body", ImagesResponse, id="litellm-images"),
    pytest.param("recorded/litellm/models.body", chutes.ModelList, id="litellm-models"),
    pytest.param("recorded/llamacpp/chat.body", chutes.ChatCompletion, id="llamacpp-chat"),
    pytest.param(
        "recorded/llamacpp/completions.body", chutes.Completion, id="llamacpp-completions"
    ),
    pytest.param(
        "recorded/llamacpp/embeddings.body", chutes.EmbeddingsResponse, id="llamacpp-embeddings"
    ),
    pytest.param("recorded/llamacpp/models.body", chutes.ModelList, id="llamacpp-models"),
    pytest.param("payloads/vllm-chat.json", chutes.ChatCompletion, id="vllm-chat"),
    pytest.param("payloads/vllm-completion.json", chutes.Completion, id="vllm-completion"),
    pytest.param("payloads/vllm-embeddings.json", chutes.EmbeddingsResponse, id="vllm-embeddings"),
    pytest.param("payloads/vllm-models.json", chutes.ModelList, id="vllm-models"),
    pytest.param("payloads/sglang-chat.json", chutes.ChatCompletion, id="sglang-chat"),
    pytest.param("payloads/gateway-models.json", chutes.ModelList, id="gateway-models"),
]

# Event streams: every ``data:`` payload but ``[DONE]`` is one chunk of the given type.
STREAM_PAYLOADS = [
    pytest.param(
        "recorded/litellm/chat-stream.body", chutes.ChatCompletionChunk, id="litellm-chat-stream"
    ),
    pytest.param(
        "recorded/llamacpp/chat-stream.body", chutes.ChatCompletionChunk, id="llamacpp-chat-stream"
    ),
    pytest.param(
        "recorded/llamacpp/completions-stream.body",
        chutes.Completion,
        id="llamacpp-completions-stream",
    ),
    pytest.param(
        "payloads/vllm-chat-stream.sse", chutes.ChatCompletionChunk, id="vllm-chat-stream"
    ),
    pytest.param(
        "payloads/vllm-reasoning-stream.sse", chutes.ChatCompletionChunk, id="vllm-reasoning"
    ),
    pytest.param("payloads/vllm-tool-stream.sse", chutes.ChatCompletionChunk, id="vllm-tools"),
]


def _json(relative: str) -> Any:
    return json.loads((DATA / relative).read_bytes())


def _events(relative: str) -> list[Any]:
    """The JSON of each ``data:`` line of a recorded stream (a plain reading, not ours)."""
    lines = (DATA / relative).read_text(encoding="utf-8").splitlines()
    return [
        json.loads(line.removeprefix("data: "))
        for line in lines
        if line.startswith("data: ") and line != "data: [DONE]"
    ]


def _with_unknown_fields(value: Any) -> Any:
    """A deep copy of ``value`` with a new, unheard-of field added to every object."""
    if isinstance(value, dict):
        copy = {k: _with_unknown_fields(v) for k, v in value.items()}
        copy["x_future_field"] = {"nested": [1, "two", None]}
        return copy
    if isinstance(value, list):
        return [_with_unknown_fields(v) for v in value]
    return value


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture
def mock() -> respx.MockRouter:
    """A respx router the test clients' transports answer from."""
    return respx.MockRouter(assert_all_called=False)


@pytest.fixture
def client(mock: respx.MockRouter) -> Iterator[chutes.Client]:
    """A ``chutes.Client`` on the router, with a borrowed httpx client."""
    with (
        httpx.Client(transport=httpx.MockTransport(mock.handler)) as http,
        chutes.Client(api_key=KEY, http_client=http, max_retries=0) as made,
    ):
        yield made


@pytest.fixture
async def aclient(mock: respx.MockRouter) -> AsyncIterator[chutes.AsyncClient]:
    """A ``chutes.AsyncClient`` on the router, with a borrowed httpx client."""
    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(mock.async_handler)) as http,
        chutes.AsyncClient(api_key=KEY, http_client=http, max_retries=0) as made,
    ):
        yield made


# --- every payload decodes ----------------------------------------------------------------


@pytest.mark.parametrize(("relative", "cls"), JSON_PAYLOADS)
def test_strict_converter_decodes_payload(relative: str, cls: type[Any]) -> None:
    """The strict converter accepts every recorded and hand-written server body."""
    decoded = structure(_json(relative), cls, conv=STRICT)
    assert isinstance(decoded, cls)


@pytest.mark.parametrize(("relative", "cls"), STREAM_PAYLOADS)
def test_strict_converter_decodes_stream_chunks(relative: str, cls: type[Any]) -> None:
    """The strict converter accepts every chunk of every recorded and hand-written stream."""
    events = _events(relative)
    decoded = [structure(event, cls, conv=STRICT) for event in events]
    assert len(decoded) == len(events) > 0


@pytest.mark.parametrize(("relative", "cls"), JSON_PAYLOADS)
def test_lenient_converter_decodes_payload(relative: str, cls: type[Any]) -> None:
    """The default (lenient) converter accepts every server body."""
    decoded = structure(_json(relative), cls, conv=LENIENT)
    assert isinstance(decoded, cls)


@pytest.mark.parametrize(("relative", "cls"), STREAM_PAYLOADS)
def test_lenient_converter_decodes_stream_chunks(relative: str, cls: type[Any]) -> None:
    """The default (lenient) converter accepts every chunk of every stream."""
    events = _events(relative)
    decoded = [structure(event, cls) for event in events]
    assert len(decoded) == len(events) > 0


@pytest.mark.parametrize(("relative", "cls"), JSON_PAYLOADS)
def test_raw_holds_server_json(relative: str, cls: type[Any]) -> None:
    """A decoded response keeps the server's JSON, unknown fields included, in ``.raw``."""
    data = _json(relative)
    assert structure(data, cls).raw == data


@pytest.mark.parametrize(("relative", "cls"), STREAM_PAYLOADS)
def test_chunk_raw_holds_server_json(relative: str, cls: type[Any]) -> None:
    """Each decoded stream chunk keeps its event's JSON in ``.raw``."""
    events = _events(relative)
    assert [structure(event, cls).raw for event in events] == events


# --- leniency and strictness --------------------------------------------------------------


@pytest.mark.parametrize(("relative", "cls"), JSON_PAYLOADS)
def test_unknown_fields_never_fail_lenient_decoding(relative: str, cls: type[Any]) -> None:
    """A field the models do not know, at any depth, is ignored by the default converter."""
    plain = structure(_json(relative), cls)
    extended = structure(_with_unknown_fields(_json(relative)), cls)
    assert extended == plain


def test_strict_converter_refuses_unknown_field() -> None:
    """The strict converter fails on a field nobody listed, so typos cannot hide."""
    data = _json("recorded/litellm/chat.body")
    data["choices"][0]["message"]["contnet"] = "typo"
    with pytest.raises(chutes.DecodeError, match="contnet"):
        structure(data, chutes.ChatCompletion, conv=STRICT)


def test_misspelt_rename_fails_strict_decoding() -> None:
    """A strict converter whose rename names a wire key that is never sent fails loudly."""
    converter = make_converter(strict=True, renames={chutes.ChatMessage: {"content": "contnet"}})
    with pytest.raises(chutes.DecodeError):
        structure(_json("recorded/litellm/chat.body"), chutes.ChatCompletion, conv=converter)


def test_correct_rename_reads_the_wire_name() -> None:
    """A rename maps the attribute to the wire key it names."""
    converter = make_converter(strict=True, renames={chutes.ChatMessage: {"content": "text"}})
    data = {"choices": [{"message": {"role": "assistant", "text": "renamed"}}]}
    decoded = structure(data, chutes.ChatCompletion, conv=converter)
    assert decoded.choices[0].message.content == "renamed"


def test_decode_error_carries_the_body() -> None:
    """A shape error names the class and attaches the JSON it was given."""
    with pytest.raises(chutes.DecodeError, match="ChatCompletion") as info:
        structure({"choices": "x"}, chutes.ChatCompletion)
    assert json.loads(info.value.body) == {"choices": "x"}


# --- fields that other servers name or nest differently -----------------------------------


@pytest.mark.parametrize(
    ("cls", "data"),
    [
        pytest.param(chutes.ChatMessage, {"role": "assistant", "reasoning": "hmm"}, id="message"),
        pytest.param(chutes.ChoiceDelta, {"reasoning": "hmm"}, id="delta"),
    ],
)
def test_reasoning_alias_maps_to_reasoning_content(cls: type[Any], data: Any) -> None:
    """vLLM's newer ``reasoning`` field fills ``reasoning_content``."""
    assert structure(data, cls, conv=STRICT).reasoning_content == "hmm"


def test_reasoning_field_of_stream_chunks_fills_reasoning_content() -> None:
    """Reasoning deltas of the vLLM stream decode into ``delta.reasoning_content``."""
    chunks = [
        structure(e, chutes.ChatCompletionChunk)
        for e in _events("payloads/vllm-reasoning-stream.sse")
    ]
    pieces = [c.choices[0].delta.reasoning_content for c in chunks if c.choices]
    assert "".join(p for p in pieces if p) == "The user says hello."


def test_vllm_reasoning_content_decoded() -> None:
    """vLLM's ``message.reasoning_content`` is decoded next to the content."""
    message = structure(_json("payloads/vllm-chat.json"), chutes.ChatCompletion).choices[0].message
    assert message.content == "The capital of France is Paris."
    assert message.reasoning_content == "The user asks for the capital of France. That is Paris."


def test_cached_tokens_decoded() -> None:
    """``usage.prompt_tokens_details.cached_tokens`` is decoded."""
    usage = structure(_json("payloads/vllm-chat.json"), chutes.ChatCompletion).usage
    assert usage is not None
    assert usage.prompt_tokens_details == chutes.PromptTokensDetails(cached_tokens=12)
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (18, 24, 42)


def test_null_fields_keep_their_defaults() -> None:
    """``null`` means not sent: vLLM's ``refusal: null`` and ``system_fingerprint: null``."""
    decoded = structure(_json("payloads/vllm-chat.json"), chutes.ChatCompletion)
    assert decoded.system_fingerprint is None
    assert decoded.choices[0].message.refusal is None


def test_recorded_tool_call_decoded() -> None:
    """litellm's tool call decodes with its id, name and JSON arguments."""
    message = (
        structure(_json("recorded/litellm/chat-tools.body"), chutes.ChatCompletion)
        .choices[0]
        .message
    )
    assert message.tool_calls == [
        chutes.ToolCall(
            id="call_mock_1",
            type="function",
            function=chutes.FunctionCall(name="get_weather", arguments='{"city": "Paris"}'),
        )
    ]


# --- wrong bodies through the helpers -----------------------------------------------------

HTML = b"<html><head><title>504 Gateway Time-out</title></head><body>nginx</body></html>"

SyncCall = Callable[[chutes.Chute], Any]
AsyncCall = Callable[[chutes.AsyncChute], Awaitable[Any]]

# (method, path, helper call): each helper, with a body of the wrong shape for it.
WRONG_SHAPES = [
    pytest.param(
        "POST",
        "/v1/chat/completions",
        {"choices": "x"},
        lambda c: c.chat.completions.create(model="m", messages=MESSAGES),
        id="chat-choices-string",
    ),
    pytest.param(
        "POST",
        "/v1/chat/completions",
        {"choices": [{"message": {"content": ["not", "text"]}}]},
        lambda c: c.chat.completions.create(model="m", messages=MESSAGES),
        id="chat-content-list",
    ),
    pytest.param(
        "POST",
        "/v1/completions",
        {"choices": [{"text": 7}]},
        lambda c: c.completions.create(model="m", prompt="Hi"),
        id="completion-text-number",
    ),
    pytest.param(
        "POST",
        "/v1/embeddings",
        {"data": [{"embedding": {"x": 1}}]},
        lambda c: c.embeddings.create(model="m", input="Hi"),
        id="embedding-object",
    ),
    pytest.param(
        "GET", "/v1/models", {"data": [{"object": "model"}]}, lambda c: c.models.list(), id="no-id"
    ),
    pytest.param(
        "GET", "/v1/models", ["not", "an", "object"], lambda c: c.models.list(), id="models-list"
    ),
]

# The same helpers answered by an HTML page with status 200 (a proxy's error page).
HTML_CALLS = [
    pytest.param(
        "POST",
        "/v1/chat/completions",
        lambda c: c.chat.completions.create(model="m", messages=MESSAGES),
        id="chat",
    ),
    pytest.param(
        "POST",
        "/v1/chat/completions",
        lambda c: c.chat.completions.create(model="m", messages=MESSAGES, stream=True),
        id="chat-stream",
    ),
    pytest.param(
        "POST", "/v1/completions", lambda c: c.completions.create(prompt="Hi"), id="completions"
    ),
    pytest.param(
        "POST",
        "/v1/completions",
        lambda c: c.completions.create(prompt="Hi", stream=True),
        id="completions-stream",
    ),
    pytest.param(
        "POST", "/v1/embeddings", lambda c: c.embeddings.create(input="Hi"), id="embeddings"
    ),
    pytest.param(
        "POST", "/v1/images/generations", lambda c: c.images.generate(prompt="x"), id="images"
    ),
    pytest.param("GET", "/v1/models", lambda c: c.models.list(), id="models"),
]


@pytest.mark.parametrize(("method", "path", "body", "call"), WRONG_SHAPES)
def test_wrong_shape_raises_decode_error_with_body(
    client: chutes.Client,
    mock: respx.MockRouter,
    method: str,
    path: str,
    body: Any,
    call: SyncCall,
) -> None:
    """A 200 JSON body of the wrong shape raises DecodeError carrying the body."""
    served = json.dumps(body).encode()
    mock.route(method=method, url=f"{BASE}{path}").respond(
        200, content=served, headers={"content-type": "application/json"}
    )
    with pytest.raises(chutes.DecodeError) as info:
        call(client.chute(url=BASE))
    assert info.value.body == served


@pytest.mark.parametrize(("method", "path", "body", "call"), WRONG_SHAPES)
async def test_async_wrong_shape_raises_decode_error_with_body(
    aclient: chutes.AsyncClient,
    mock: respx.MockRouter,
    method: str,
    path: str,
    body: Any,
    call: AsyncCall,
) -> None:
    """Async: a 200 JSON body of the wrong shape raises DecodeError carrying the body."""
    served = json.dumps(body).encode()
    mock.route(method=method, url=f"{BASE}{path}").respond(
        200, content=served, headers={"content-type": "application/json"}
    )
    with pytest.raises(chutes.DecodeError) as info:
        await call(aclient.chute(url=BASE))
    assert info.value.body == served


@pytest.mark.parametrize(("method", "path", "call"), HTML_CALLS)
def test_html_page_with_200_raises_decode_error_with_body(
    client: chutes.Client, mock: respx.MockRouter, method: str, path: str, call: SyncCall
) -> None:
    """An HTML page answered with 200 raises DecodeError carrying the page."""
    mock.route(method=method, url=f"{BASE}{path}").respond(
        200, content=HTML, headers={"content-type": "text/html"}
    )
    with pytest.raises(chutes.DecodeError) as info:
        call(client.chute(url=BASE))
    assert info.value.body == HTML


@pytest.mark.parametrize(("method", "path", "call"), HTML_CALLS)
async def test_async_html_page_with_200_raises_decode_error_with_body(
    aclient: chutes.AsyncClient, mock: respx.MockRouter, method: str, path: str, call: AsyncCall
) -> None:
    """Async: an HTML page answered with 200 raises DecodeError carrying the page."""
    mock.route(method=method, url=f"{BASE}{path}").respond(
        200, content=HTML, headers={"content-type": "text/html"}
    )
    with pytest.raises(chutes.DecodeError) as info:
        await call(aclient.chute(url=BASE))
    assert info.value.body == HTML


def test_decode_error_counts_as_failed_call(client: chutes.Client, mock: respx.MockRouter) -> None:
    """A success status whose body cannot be decoded is counted as a failure."""
    mock.post(f"{BASE}/v1/chat/completions").respond(200, json={"choices": "x"})
    with pytest.raises(chutes.DecodeError):
        client.chute(url=BASE).chat.completions.create(model="m", messages=MESSAGES)
    assert (client.usage.requests, client.usage.failures) == (1, 1)

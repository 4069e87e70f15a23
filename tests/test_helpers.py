"""What the OpenAI-compatible helpers send, and what they return, against a respx router.

The request JSON is read back from the recorded call: named parameters left out are absent,
extra keywords go in as given, and streamed chat asks for usage unless told otherwise.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

import chutes
from chutes.testing import FakeChutes

DATA = Path(__file__).parent / "data"
KEY = "cpk_0123456789abcdef0123456789abcdef.0123456789abcdef0123456789abcdef.HELPERabc123"
BASE = "http://127.0.0.1:9"
LLM = "https://llm.chutes.ai"
MESSAGES = [{"role": "user", "content": "Hi"}]
SSE = {"content-type": "text/event-stream"}


def _read(relative: str) -> bytes:
    return (DATA / relative).read_bytes()


def _sent(route: respx.Route) -> Any:
    return json.loads(route.calls.last.request.content)


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


@pytest.fixture
def chat_route(mock: respx.MockRouter) -> respx.Route:
    """``/v1/chat/completions`` answering the recorded litellm chat completion."""
    return mock.post(f"{BASE}/v1/chat/completions").respond(
        200,
        content=_read("recorded/litellm/chat.body"),
        headers={"content-type": "application/json"},
    )


@pytest.fixture
def stream_route(mock: respx.MockRouter) -> respx.Route:
    """``/v1/chat/completions`` answering the recorded litellm stream."""
    return mock.post(f"{BASE}/v1/chat/completions").respond(
        200, content=_read("recorded/litellm/chat-stream.body"), headers=SSE
    )


# --- stream_options -----------------------------------------------------------------------


def test_stream_asks_for_usage_by_default(client: chutes.Client, stream_route: respx.Route) -> None:
    """A streamed chat call without stream_options sends {"include_usage": true}."""
    with client.chute(url=BASE).chat.completions.create(
        model="m", messages=MESSAGES, stream=True
    ) as stream:
        stream.collect()
    sent = _sent(stream_route)
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}


async def test_async_stream_asks_for_usage_by_default(
    aclient: chutes.AsyncClient, stream_route: respx.Route
) -> None:
    """Async: a streamed chat call without stream_options sends {"include_usage": true}."""
    stream = await aclient.chute(url=BASE).chat.completions.create(
        model="m", messages=MESSAGES, stream=True
    )
    async with stream:
        await stream.collect()
    assert _sent(stream_route)["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"include_usage": False}, id="usage-off"),
        pytest.param({"include_usage": True, "continuous_usage_stats": True}, id="vllm-extra"),
        pytest.param({}, id="empty"),
    ],
)
def test_given_stream_options_sent_as_given(
    client: chutes.Client, stream_route: respx.Route, options: dict[str, Any]
) -> None:
    """Caller-given stream_options are sent exactly as given."""
    with client.chute(url=BASE).chat.completions.create(
        model="m", messages=MESSAGES, stream=True, stream_options=options
    ) as stream:
        stream.collect()
    assert _sent(stream_route)["stream_options"] == options


def test_stream_options_none_sends_none(client: chutes.Client, stream_route: respx.Route) -> None:
    """stream_options=None leaves the key out of the body."""
    with client.chute(url=BASE).chat.completions.create(
        model="m", messages=MESSAGES, stream=True, stream_options=None
    ) as stream:
        stream.collect()
    assert "stream_options" not in _sent(stream_route)


def test_completions_stream_asks_for_usage_by_default(
    client: chutes.Client, mock: respx.MockRouter
) -> None:
    """A streamed text completion without stream_options asks for usage too."""
    route = mock.post(f"{BASE}/v1/completions").respond(
        200, content=_read("recorded/llamacpp/completions-stream.body"), headers=SSE
    )
    with client.chute(url=BASE).completions.create(prompt="Hi", stream=True) as stream:
        stream.collect()
    assert _sent(route)["stream_options"] == {"include_usage": True}


def test_non_streamed_chat_sends_no_stream_keys(
    client: chutes.Client, chat_route: respx.Route
) -> None:
    """A plain call carries neither ``stream`` nor ``stream_options``."""
    client.chute(url=BASE).chat.completions.create(model="m", messages=MESSAGES)
    sent = _sent(chat_route)
    assert "stream" not in sent
    assert "stream_options" not in sent


def test_stream_options_without_stream_refused(
    client: chutes.Client, chat_route: respx.Route
) -> None:
    """stream_options without stream=True is refused before any traffic."""
    with pytest.raises(chutes.ConfigurationError):
        client.chute(url=BASE).chat.completions.create(
            model="m", messages=MESSAGES, stream_options={"include_usage": True}
        )
    assert not chat_route.called


# --- the body: named and extra parameters -------------------------------------------------


def test_unset_named_parameters_are_absent(client: chutes.Client, chat_route: respx.Route) -> None:
    """Named parameters the caller left out are not in the body at all."""
    client.chute(url=BASE).chat.completions.create(model="m", messages=MESSAGES)
    assert _sent(chat_route) == {"model": "m", "messages": MESSAGES}


def test_named_parameters_sent(client: chutes.Client, chat_route: respx.Route) -> None:
    """Named parameters the caller gave are sent under their OpenAI names."""
    client.chute(url=BASE).chat.completions.create(
        model="m", messages=MESSAGES, max_tokens=64, temperature=0.2, seed=7, stop=["\n"]
    )
    assert _sent(chat_route) == {
        "model": "m",
        "messages": MESSAGES,
        "max_tokens": 64,
        "temperature": 0.2,
        "seed": 7,
        "stop": ["\n"],
    }


def test_explicit_none_is_sent_as_null(client: chutes.Client, chat_route: respx.Route) -> None:
    """An explicit ``None`` is sent as JSON null, unlike a parameter left out."""
    client.chute(url=BASE).chat.completions.create(model="m", messages=MESSAGES, max_tokens=None)
    assert _sent(chat_route) == {"model": "m", "messages": MESSAGES, "max_tokens": None}


def test_extra_keywords_go_into_chat_body(client: chutes.Client, chat_route: respx.Route) -> None:
    """Unknown keywords (vLLM's top_k, min_p, ...) go into the JSON body as given."""
    client.chute(url=BASE).chat.completions.create(
        model="m",
        messages=MESSAGES,
        top_k=5,
        min_p=0.1,
        chat_template_kwargs={"enable_thinking": False},
    )
    assert _sent(chat_route) == {
        "model": "m",
        "messages": MESSAGES,
        "top_k": 5,
        "min_p": 0.1,
        "chat_template_kwargs": {"enable_thinking": False},
    }


def test_extra_keywords_go_into_streamed_chat_body(
    client: chutes.Client, stream_route: respx.Route
) -> None:
    """Extra keywords reach the body of a streamed call too."""
    with client.chute(url=BASE).chat.completions.create(
        model="m", messages=MESSAGES, stream=True, top_k=5, min_p=0.1
    ) as stream:
        stream.collect()
    sent = _sent(stream_route)
    assert (sent["top_k"], sent["min_p"]) == (5, 0.1)


async def test_async_extra_keywords_go_into_chat_body(
    aclient: chutes.AsyncClient, chat_route: respx.Route
) -> None:
    """Async: unknown keywords go into the JSON body as given."""
    await aclient.chute(url=BASE).chat.completions.create(
        model="m", messages=MESSAGES, top_k=5, min_p=0.1
    )
    assert _sent(chat_route) == {"model": "m", "messages": MESSAGES, "top_k": 5, "min_p": 0.1}


def test_extra_keywords_go_into_completions_body(
    client: chutes.Client, mock: respx.MockRouter
) -> None:
    """Extra keywords go into a text completion's body, next to the prompt."""
    route = mock.post(f"{BASE}/v1/completions").respond(
        200, content=_read("recorded/llamacpp/completions.body")
    )
    client.chute(url=BASE).completions.create(model="m", prompt="Hi", top_k=5, min_p=0.1)
    assert _sent(route) == {"model": "m", "prompt": "Hi", "top_k": 5, "min_p": 0.1}


def test_extra_keywords_go_into_embeddings_body(
    client: chutes.Client, mock: respx.MockRouter
) -> None:
    """Extra keywords go into an embeddings body, next to the input."""
    route = mock.post(f"{BASE}/v1/embeddings").respond(
        200, content=_read("recorded/litellm/embeddings.body")
    )
    client.chute(url=BASE).embeddings.create(input=["a", "b"], truncate_prompt_tokens=8)
    assert _sent(route) == {"input": ["a", "b"], "truncate_prompt_tokens": 8}


def test_messages_iterable_sent_as_list(client: chutes.Client, chat_route: respx.Route) -> None:
    """Any iterable of messages is sent as a JSON list."""
    client.chute(url=BASE).chat.completions.create(model="m", messages=iter(MESSAGES))
    assert _sent(chat_route)["messages"] == MESSAGES


def test_custom_path_is_used(client: chutes.Client, mock: respx.MockRouter) -> None:
    """``path=`` sends the call to another cord of the chute."""
    route = mock.post(f"{BASE}/openai/v1/chat/completions").respond(
        200, content=_read("recorded/llamacpp/chat.body")
    )
    client.chute(url=BASE).chat.completions.create(
        model="m", messages=MESSAGES, path="/openai/v1/chat/completions"
    )
    assert route.called


def test_extra_headers_are_sent(client: chutes.Client, chat_route: respx.Route) -> None:
    """``extra_headers`` reach the request."""
    client.chute(url=BASE).chat.completions.create(
        model="m", messages=MESSAGES, extra_headers={"X-Trace": "t-1"}
    )
    assert chat_route.calls.last.request.headers["x-trace"] == "t-1"


# --- results ------------------------------------------------------------------------------


def test_chat_completion_result(client: chutes.Client, chat_route: respx.Route) -> None:
    """A chat completion exposes content, finish_reason and usage."""
    completion = client.chute(url=BASE).chat.completions.create(model="m", messages=MESSAGES)
    assert completion.choices[0].message.content == "Hello from the litellm mock."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage == chutes.Usage(prompt_tokens=10, completion_tokens=20, total_tokens=30)


def test_chat_completion_reasoning_content(client: chutes.Client, mock: respx.MockRouter) -> None:
    """A reasoning model's answer exposes ``message.reasoning_content`` next to the content."""
    mock.post(f"{BASE}/v1/chat/completions").respond(200, content=_read("payloads/vllm-chat.json"))
    message = (
        client.chute(url=BASE).chat.completions.create(model="m", messages=MESSAGES).choices[0]
    ).message
    assert message.reasoning_content == "The user asks for the capital of France. That is Paris."


def test_completion_result(client: chutes.Client, mock: respx.MockRouter) -> None:
    """A text completion exposes its text."""
    mock.post(f"{BASE}/v1/completions").respond(
        200, content=_read("recorded/llamacpp/completions.body")
    )
    completion = client.chute(url=BASE).completions.create(model="m", prompt="Hi")
    assert completion.choices[0].text == " will we d be in` N"


def test_embeddings_result(client: chutes.Client, mock: respx.MockRouter) -> None:
    """Embeddings expose each vector as ``data[i].embedding``."""
    mock.post(f"{BASE}/v1/embeddings").respond(
        200, content=_read("recorded/litellm/embeddings.body")
    )
    response = client.chute(url=BASE).embeddings.create(input="Hi")
    assert response.data[0].embedding == [0.1, 0.2, 0.3, 0.4]


async def test_async_embeddings_result(aclient: chutes.AsyncClient, mock: respx.MockRouter) -> None:
    """Async: embeddings expose each vector, one per input."""
    mock.post(f"{BASE}/v1/embeddings").respond(
        200, content=_read("recorded/llamacpp/embeddings.body")
    )
    response = await aclient.chute(url=BASE).embeddings.create(input=["a", "b"])
    assert [d.index for d in response.data] == [0, 1]
    assert all(len(d.embedding) == 64 for d in response.data)


def test_result_raw_is_server_json(client: chutes.Client, mock: respx.MockRouter) -> None:
    """The helper's result keeps the server's JSON, unmodelled fields included, in ``.raw``."""
    mock.post(f"{BASE}/v1/chat/completions").respond(200, content=_read("payloads/vllm-chat.json"))
    completion = client.chute(url=BASE).chat.completions.create(model="m", messages=MESSAGES)
    assert completion.raw == json.loads(_read("payloads/vllm-chat.json"))


# --- models -------------------------------------------------------------------------------

GATEWAY_MODELS = "payloads/gateway-models.json"


def _check_gateway_models(models: chutes.ModelList) -> None:
    expected = json.loads(_read(GATEWAY_MODELS))["data"]
    assert [m.id for m in models.data] == [e["id"] for e in expected]
    assert [
        (m.raw["chute_id"], m.raw["pricing"], m.raw["confidential_compute"]) for m in models.data
    ] == [(e["chute_id"], e["pricing"], e["confidential_compute"]) for e in expected]


def test_chute_models_list_keeps_gateway_extras(
    client: chutes.Client, mock: respx.MockRouter
) -> None:
    """chute.models.list() keeps chute_id, pricing and confidential_compute in each ``.raw``."""
    route = mock.get(f"{BASE}/v1/models").respond(200, content=_read(GATEWAY_MODELS))
    _check_gateway_models(client.chute(url=BASE).models.list())
    assert route.calls.last.request.method == "GET"


def test_llm_gateway_models_list_keeps_extras(
    client: chutes.Client, mock: respx.MockRouter
) -> None:
    """client.llm.models.list() asks the gateway and keeps its extra fields per model."""
    route = mock.get(f"{LLM}/v1/models").respond(200, content=_read(GATEWAY_MODELS))
    _check_gateway_models(client.llm.models.list())
    assert route.called


async def test_async_llm_gateway_models_list_keeps_extras(
    aclient: chutes.AsyncClient, mock: respx.MockRouter
) -> None:
    """Async: client.llm.models.list() keeps the gateway's extra fields per model."""
    mock.get(f"{LLM}/v1/models").respond(200, content=_read(GATEWAY_MODELS))
    _check_gateway_models(await aclient.llm.models.list())


def test_models_list_of_recorded_server(client: chutes.Client, mock: respx.MockRouter) -> None:
    """llama.cpp's recorded model list decodes to its model ids."""
    mock.get(f"{BASE}/v1/models").respond(200, content=_read("recorded/llamacpp/models.body"))
    models = client.chute(url=BASE).models.list()
    assert [m.id for m in models.data] == ["tiny-llama", "tiny-llama-embed"]


def test_llm_gateway_chat_sends_model_in_body(
    client: chutes.Client, mock: respx.MockRouter
) -> None:
    """On the gateway the body's ``model`` picks the chute."""
    route = mock.post(f"{LLM}/v1/chat/completions").respond(
        200, content=_read("recorded/litellm/chat.body")
    )
    client.llm.chat.completions.create(model="deepseek-ai/DeepSeek-V3-0324", messages=MESSAGES)
    assert _sent(route)["model"] == "deepseek-ai/DeepSeek-V3-0324"


@pytest.mark.parametrize("name", ["headers", "params", "extra_body"])
def test_helpers_refuse_request_options_as_body_fields(name: str) -> None:
    """headers=/params= given to a helper raise instead of landing in the JSON body."""
    fake = FakeChutes(api_key="k")
    with fake.client() as client, pytest.raises(chutes.ConfigurationError, match=name):
        client.llm.chat.completions.create(messages=[], **{name: {"x": "1"}})
    assert fake.requests == []

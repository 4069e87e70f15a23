"""The fake's wire format has the shapes real servers answer (recorded in tests/data/recorded).

Chat, stream and image bodies are compared with llama.cpp and litellm recordings. Errors are
compared with the platform's ``{"detail": ...}`` (API.md): litellm's ``{"error": {...}}`` is
not the platform's shape, so for those only the client's mapping (class and message) is
compared.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

import chutes
from chutes.testing import FakeChutes

RECORDED = Path(__file__).resolve().parent / "data" / "recorded"
KEY = "recordings-test-secret-key"
CHUTE_URL = "https://myuser-my-llm.chutes.ai"
MESSAGES = [{"role": "user", "content": "Say something about lighthouses and the sea."}]
HEADERS = {"Authorization": f"Bearer {KEY}"}

CHAT_KEYS = {"id": str, "object": str, "created": int, "model": str, "choices": list, "usage": dict}
CHUNK_KEYS = {"id": str, "object": str, "created": int, "model": str, "choices": list}
USAGE_KEYS = {"prompt_tokens", "completion_tokens", "total_tokens"}
SERVERS = [pytest.param("llamacpp", id="llamacpp"), pytest.param("litellm", id="litellm")]


def recorded(name: str) -> bytes:
    """A recorded body."""
    return (RECORDED / name).read_bytes()


def recorded_status(name: str) -> int:
    """The status of a recorded response, from its ``.headers`` file's status line."""
    first = (RECORDED / name).read_text(encoding="utf-8").splitlines()[0]
    return int(first.split()[1])


def recorded_content_type(name: str) -> str:
    """The media type of a recorded response, from its ``.headers`` file."""
    for line in (RECORDED / name).read_text(encoding="utf-8").splitlines()[1:]:
        header, _, value = line.partition(":")
        if header.strip().lower() == "content-type":
            return value.split(";")[0].strip().lower()
    raise AssertionError(f"no content-type in {name}")


def events_of(body: bytes) -> list[str]:
    """The data of every SSE event in ``body``, keep-alive comments left out."""
    events = []
    for block in body.decode("utf-8").split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if lines:
            assert all(line.startswith("data: ") for line in lines), block
            events.append("\n".join(line[6:] for line in lines))
    return events


def blocks_of(body: bytes) -> list[str]:
    """The raw blocks of an SSE body (everything between blank lines)."""
    return [block for block in body.decode("utf-8").split("\n\n") if block]


def types_of(payload: dict[str, Any], keys: dict[str, type]) -> dict[str, type]:
    """The type of each of ``keys`` in ``payload``."""
    return {key: type(payload[key]) for key in keys}


@pytest.fixture
def fake() -> FakeChutes:
    """A fake platform with the chute at ``CHUTE_URL`` (every built-in route)."""
    fake = FakeChutes(api_key=KEY)
    fake.add_chute("myuser/my-llm", template=None)
    return fake


@pytest.fixture
def http(fake: FakeChutes) -> Iterator[httpx.Client]:
    """A raw httpx client on the fake, to see the wire format itself."""
    with httpx.Client(transport=fake, headers=HEADERS) as client:
        yield client


@pytest.fixture
def fake_chat(http: httpx.Client) -> dict[str, Any]:
    """The fake's plain chat completion JSON."""
    resp = http.post(f"{CHUTE_URL}/v1/chat/completions", json={"model": "m", "messages": MESSAGES})
    assert resp.status_code == 200
    payload: dict[str, Any] = resp.json()
    return payload


@pytest.fixture
def fake_stream(http: httpx.Client) -> httpx.Response:
    """The fake's streamed chat completion response (body read)."""
    body = {"model": "m", "messages": MESSAGES, "stream": True}
    resp = http.post(f"{CHUTE_URL}/v1/chat/completions", json=body)
    assert resp.status_code == 200
    return resp


# --- chat -----------------------------------------------------------------------------


@pytest.mark.parametrize("server", SERVERS)
def test_chat_top_level_keys_like_recorded(fake_chat: dict[str, Any], server: str) -> None:
    """The fake's chat JSON and the recorded one both hold id/object/created/model/choices/usage."""
    real = json.loads(recorded(f"{server}/chat.body"))
    assert set(CHAT_KEYS) <= set(fake_chat)
    assert set(CHAT_KEYS) <= set(real)


@pytest.mark.parametrize("server", SERVERS)
def test_chat_top_level_types_like_recorded(fake_chat: dict[str, Any], server: str) -> None:
    """The fake's chat fields have the recorded types."""
    real = json.loads(recorded(f"{server}/chat.body"))
    assert types_of(fake_chat, CHAT_KEYS) == types_of(real, CHAT_KEYS) == CHAT_KEYS


@pytest.mark.parametrize("server", SERVERS)
def test_chat_object_like_recorded(fake_chat: dict[str, Any], server: str) -> None:
    """The fake's ``object`` is the recorded "chat.completion"."""
    real = json.loads(recorded(f"{server}/chat.body"))
    assert fake_chat["object"] == real["object"] == "chat.completion"


@pytest.mark.parametrize("server", SERVERS)
def test_chat_choice_shape_like_recorded(fake_chat: dict[str, Any], server: str) -> None:
    """A choice has index, message {role, content} and finish_reason, typed as recorded."""
    real = json.loads(recorded(f"{server}/chat.body"))["choices"][0]
    mine = fake_chat["choices"][0]
    for choice in (real, mine):
        assert {"index", "message", "finish_reason"} <= set(choice)
        assert {"role", "content"} <= set(choice["message"])
    assert type(mine["index"]) is type(real["index"])
    assert type(mine["message"]["content"]) is type(real["message"]["content"])
    assert type(mine["finish_reason"]) is type(real["finish_reason"])
    assert mine["message"]["role"] == real["message"]["role"] == "assistant"


@pytest.mark.parametrize("server", SERVERS)
def test_chat_usage_shape_like_recorded(fake_chat: dict[str, Any], server: str) -> None:
    """Usage holds integer prompt/completion/total tokens, as recorded."""
    real = json.loads(recorded(f"{server}/chat.body"))["usage"]
    for usage in (real, fake_chat["usage"]):
        assert set(usage) >= USAGE_KEYS
        assert all(type(usage[key]) is int for key in USAGE_KEYS)


@pytest.mark.parametrize("server", SERVERS)
def test_chat_content_type_like_recorded(http: httpx.Client, server: str) -> None:
    """The fake answers chat as ``application/json`` like the recorded server."""
    resp = http.post(f"{CHUTE_URL}/v1/chat/completions", json={"model": "m", "messages": MESSAGES})
    mine = resp.headers["content-type"].split(";")[0].strip()
    assert mine == recorded_content_type(f"{server}/chat.headers") == "application/json"


@pytest.mark.parametrize("server", SERVERS)
def test_recorded_chat_decodes_like_fake_chat(
    fake_chat: dict[str, Any], server: str, fake: FakeChutes
) -> None:
    """The client decodes the recorded and the fake chat bodies into the same fields."""
    router = respx.MockRouter(assert_all_called=False)
    router.post(f"{CHUTE_URL}/v1/chat/completions").respond(
        200, content=recorded(f"{server}/chat.body"), headers={"content-type": "application/json"}
    )
    http = httpx.Client(transport=httpx.MockTransport(router.handler))
    with http, chutes.Client(api_key=KEY, http_client=http) as real_client:
        real = real_client.chute(url=CHUTE_URL).chat.completions.create(
            model="m", messages=MESSAGES
        )
    with fake.client() as fake_client:
        mine = fake_client.chute(url=CHUTE_URL).chat.completions.create(
            model="m", messages=MESSAGES
        )
    for reply in (real, mine):
        assert reply.choices[0].message.content
        assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


# --- streams ----------------------------------------------------------------------------


def test_stream_content_type_like_recorded(fake_stream: httpx.Response) -> None:
    """The fake streams ``text/event-stream`` like llama.cpp."""
    mine = fake_stream.headers["content-type"].split(";")[0].strip()
    assert mine == recorded_content_type("llamacpp/chat-stream.headers") == "text/event-stream"


def test_stream_blocks_are_data_lines(fake_stream: httpx.Response) -> None:
    """Every block of the fake's stream is one ``data: ...`` line, as in the recordings."""
    for block in blocks_of(fake_stream.content):
        assert block.startswith("data: ")
        assert "\n" not in block


def test_stream_body_ends_with_blank_line(fake_stream: httpx.Response) -> None:
    """The fake's stream body ends with ``data: [DONE]`` and a blank line, as recorded."""
    assert fake_stream.content.endswith(b"data: [DONE]\n\n")
    assert recorded("llamacpp/chat-stream.body").rstrip(b"\r\n").endswith(b"data: [DONE]")


@pytest.mark.parametrize("server", SERVERS)
def test_stream_last_event_is_done(fake_stream: httpx.Response, server: str) -> None:
    """The last event is ``[DONE]`` in both the fake's and the recorded stream."""
    assert (
        events_of(fake_stream.content)[-1] == events_of(recorded(f"{server}/chat-stream.body"))[-1]
    )
    assert events_of(fake_stream.content)[-1] == "[DONE]"


@pytest.mark.parametrize("server", SERVERS)
def test_stream_chunks_shape_like_recorded(fake_stream: httpx.Response, server: str) -> None:
    """Every chunk is a "chat.completion.chunk" with typed id/created/model and ``choices``."""
    for body in (fake_stream.content, recorded(f"{server}/chat-stream.body")):
        for data in events_of(body)[:-1]:
            chunk = json.loads(data)
            assert chunk["object"] == "chat.completion.chunk"
            assert types_of(chunk, CHUNK_KEYS) == CHUNK_KEYS


@pytest.mark.parametrize("server", SERVERS)
def test_stream_choices_carry_delta(fake_stream: httpx.Response, server: str) -> None:
    """Every choice of every chunk carries a ``delta`` object, in the fake as recorded."""
    for body in (fake_stream.content, recorded(f"{server}/chat-stream.body")):
        for data in events_of(body)[:-1]:
            for choice in json.loads(data)["choices"]:
                assert isinstance(choice["delta"], dict)
                assert isinstance(choice["index"], int)


@pytest.mark.parametrize("server", SERVERS)
def test_stream_first_delta_has_role(fake_stream: httpx.Response, server: str) -> None:
    """The first chunk's delta has ``role: assistant``, in the fake as recorded."""
    for body in (fake_stream.content, recorded(f"{server}/chat-stream.body")):
        first = json.loads(events_of(body)[0])
        assert first["choices"][0]["delta"]["role"] == "assistant"


@pytest.mark.parametrize("server", SERVERS)
def test_stream_has_finish_reason_chunk(fake_stream: httpx.Response, server: str) -> None:
    """Exactly one chunk sets a string finish_reason, in the fake as recorded."""
    for body in (fake_stream.content, recorded(f"{server}/chat-stream.body")):
        reasons = [
            choice.get("finish_reason")
            for data in events_of(body)[:-1]
            for choice in json.loads(data)["choices"]
            if choice.get("finish_reason") is not None
        ]
        assert len(reasons) == 1
        assert isinstance(reasons[0], str)


def test_stream_usage_chunk_like_litellm(fake_stream: httpx.Response) -> None:
    """The fake's stream has a usage chunk before ``[DONE]`` with integer counts, as litellm's."""
    for body in (fake_stream.content, recorded("litellm/chat-stream.body")):
        last = json.loads(events_of(body)[-2])
        assert set(last["usage"]) >= USAGE_KEYS
        assert all(type(last["usage"][key]) is int for key in USAGE_KEYS)


@pytest.mark.parametrize("server", SERVERS)
def test_recorded_stream_decodes_like_fake_stream(server: str, fake: FakeChutes) -> None:
    """The client assembles the recorded stream and the fake's stream the same way."""
    router = respx.MockRouter(assert_all_called=False)
    router.post(f"{CHUTE_URL}/v1/chat/completions").respond(
        200,
        content=recorded(f"{server}/chat-stream.body"),
        headers={"content-type": "text/event-stream"},
    )
    http = httpx.Client(transport=httpx.MockTransport(router.handler))
    results = []
    with http, chutes.Client(api_key=KEY, http_client=http) as real, fake.client() as mine:
        for client in (real, mine):
            chute = client.chute(url=CHUTE_URL)
            with chute.chat.completions.create(model="m", messages=MESSAGES, stream=True) as s:
                results.append(s.collect())
    for done in results:
        assert done.choices[0].message.content
        assert done.choices[0].message.role == "assistant"
        assert isinstance(done.choices[0].finish_reason, str)


# --- images ----------------------------------------------------------------------------


@pytest.mark.parametrize("response_format", ["b64_json", "url"])
def test_images_top_level_like_recorded(http: httpx.Client, response_format: str) -> None:
    """The fake's images JSON has an integer ``created`` and a ``data`` list, as recorded."""
    real = json.loads(recorded("litellm/images.body"))
    body = {"prompt": "a fox", "size": "16x16", "response_format": response_format}
    mine = http.post(f"{CHUTE_URL}/v1/images/generations", json=body).json()
    for payload in (real, mine):
        assert isinstance(payload["created"], int)
        assert isinstance(payload["data"], list)
        assert payload["data"]


@pytest.mark.parametrize("response_format", ["b64_json", "url"])
def test_images_items_have_b64_or_url(http: httpx.Client, response_format: str) -> None:
    """Each ``data[]`` item has a string ``b64_json`` or ``url``, in the fake as recorded."""
    real = json.loads(recorded("litellm/images.body"))
    body = {"prompt": "a fox", "size": "16x16", "response_format": response_format}
    mine = http.post(f"{CHUTE_URL}/v1/images/generations", json=body).json()
    for payload in (real, mine):
        for item in payload["data"]:
            assert isinstance(item.get("b64_json"), str) or isinstance(item.get("url"), str)


def test_images_item_answers_requested_format(http: httpx.Client) -> None:
    """The fake's b64 item holds a base64 PNG and its url item a URL, like OpenAI's."""
    body = {"prompt": "a fox", "size": "16x16"}
    b64 = http.post(
        f"{CHUTE_URL}/v1/images/generations", json={**body, "response_format": "b64_json"}
    ).json()["data"][0]
    url = http.post(
        f"{CHUTE_URL}/v1/images/generations", json={**body, "response_format": "url"}
    ).json()["data"][0]
    assert base64.b64decode(b64["b64_json"])[:8] == b"\x89PNG\r\n\x1a\n"
    assert url["url"].startswith("https://")


def test_generate_is_raw_media_not_json(http: httpx.Client) -> None:
    """``/generate`` answers raw ``image/*`` bytes, not base64 JSON (API.md)."""
    resp = http.post(f"{CHUTE_URL}/generate", json={"prompt": "a fox", "width": 8, "height": 8})
    assert resp.headers["content-type"].startswith("image/")
    assert resp.content[:8] == b"\x89PNG\r\n\x1a\n"


# --- errors ------------------------------------------------------------------------------


def test_error_401_is_detail_only(fake: FakeChutes) -> None:
    """A wrong key's 401 body is exactly ``{"detail": <string>}``."""
    with httpx.Client(transport=fake, headers={"Authorization": "Bearer nope"}) as http:
        resp = http.post(f"{CHUTE_URL}/v1/chat/completions", json={"messages": MESSAGES})
    assert resp.status_code == 401
    assert list(resp.json()) == ["detail"]
    assert isinstance(resp.json()["detail"], str)


@pytest.mark.parametrize(
    ("status", "detail_type"),
    [
        pytest.param(400, str, id="400"),
        pytest.param(402, dict, id="402"),
        pytest.param(404, str, id="404"),
        pytest.param(429, str, id="429"),
        pytest.param(500, str, id="500"),
        pytest.param(503, str, id="503"),
    ],
)
def test_fault_body_is_detail_only(
    fake: FakeChutes, http: httpx.Client, status: int, detail_type: type
) -> None:
    """Injected errors are ``{"detail": ...}`` bodies, the platform's shape (API.md)."""
    fake.fail_next(status)
    resp = http.post(f"{CHUTE_URL}/v1/chat/completions", json={"messages": MESSAGES})
    assert resp.status_code == status
    assert list(resp.json()) == ["detail"]
    assert isinstance(resp.json()["detail"], detail_type)


def test_402_detail_has_platform_fields(fake: FakeChutes, http: httpx.Client) -> None:
    """The 402 detail object holds ``message`` and ``quota_reset_timestamp`` (API.md)."""
    fake.fail_next(402)
    detail = http.post(f"{CHUTE_URL}/v1/chat/completions", json={"messages": MESSAGES}).json()
    assert {"message", "quota_reset_timestamp"} <= set(detail["detail"])


def test_not_found_shape_like_llamacpp(http: httpx.Client) -> None:
    """An unknown cord's body has the same shape as llama.cpp's recorded 404 (``detail`` only)."""
    real = json.loads(recorded("llamacpp/error-unknown-path.body"))
    mine = http.post(f"{CHUTE_URL}/no/such/cord", json={}).json()
    assert set(mine) == set(real) == {"detail"}
    assert type(mine["detail"]) is type(real["detail"]) is str
    assert recorded_status("llamacpp/error-unknown-path.headers") == 404


def test_litellm_errors_are_not_platform_shape() -> None:
    """litellm's recorded errors use ``{"error": {...}}``, which is not the platform's shape."""
    for path in sorted((RECORDED / "litellm").glob("error-*.body")):
        body = json.loads(path.read_bytes())
        assert "detail" not in body
        assert isinstance(body["error"], dict)


LITELLM_ERRORS = [
    pytest.param("error-400-context", chutes.BadRequestError, id="400-context"),
    pytest.param("error-400-unknown-model", chutes.BadRequestError, id="400-unknown-model"),
    pytest.param("error-invalid-json", chutes.BadRequestError, id="400-invalid-json"),
    pytest.param("error-wrong-key", chutes.BadRequestError, id="400-wrong-key"),
    pytest.param("error-429", chutes.RateLimitError, id="429"),
    pytest.param("error-500", chutes.InternalServerError, id="500"),
]


def raised_by_recording(name: str) -> chutes.APIStatusError:
    """The error the client raises for a recorded litellm error served through respx."""
    router = respx.MockRouter(assert_all_called=False)
    router.post(f"{CHUTE_URL}/v1/chat/completions").respond(
        recorded_status(f"litellm/{name}.headers"),
        content=recorded(f"litellm/{name}.body"),
        headers={"content-type": "application/json"},
    )
    with (
        httpx.Client(transport=httpx.MockTransport(router.handler)) as http,
        chutes.Client(api_key=KEY, http_client=http, max_retries=0) as client,
        pytest.raises(chutes.APIStatusError) as caught,
    ):
        client.chute(url=CHUTE_URL).chat.completions.create(model="m", messages=MESSAGES)
    return caught.value


def raised_by_fake(status: int, detail: Any) -> chutes.APIStatusError:
    """The error the client raises for the fake's ``{"detail": ...}`` error of ``status``."""
    fake = FakeChutes(api_key=KEY)
    fake.fail_next(status, detail=detail)
    with fake.client(max_retries=0) as client, pytest.raises(chutes.APIStatusError) as caught:
        client.chute(url=CHUTE_URL).chat.completions.create(model="m", messages=MESSAGES)
    return caught.value


@pytest.mark.parametrize(("name", "error"), LITELLM_ERRORS)
def test_recorded_error_class(name: str, error: type[chutes.APIStatusError]) -> None:
    """A recorded litellm error maps to its status's error class."""
    raised = raised_by_recording(name)
    assert type(raised) is error
    assert raised.status_code == recorded_status(f"litellm/{name}.headers")


@pytest.mark.parametrize(("name", "error"), LITELLM_ERRORS)
def test_recorded_error_message_is_server_text(
    name: str, error: type[chutes.APIStatusError]
) -> None:
    """A recorded litellm error's message is its ``error.message``, not the raw body."""
    body = json.loads(recorded(f"litellm/{name}.body"))
    assert raised_by_recording(name).message == body["error"]["message"]


@pytest.mark.parametrize(("name", "error"), LITELLM_ERRORS)
def test_fake_error_maps_like_recorded_error(name: str, error: type[chutes.APIStatusError]) -> None:
    """The fake's ``{"detail": ...}`` error raises the recorded error's class and message."""
    status = recorded_status(f"litellm/{name}.headers")
    message = json.loads(recorded(f"litellm/{name}.body"))["error"]["message"]
    real, mine = raised_by_recording(name), raised_by_fake(status, message)
    assert (type(mine), mine.status_code, str(mine)) == (type(real), real.status_code, str(real))


def test_llamacpp_not_found_maps_like_fake_not_found(fake: FakeChutes) -> None:
    """llama.cpp's recorded 404 and the fake's unknown-cord 404 raise ``NotFoundError`` alike."""
    router = respx.MockRouter(assert_all_called=False)
    router.post(f"{CHUTE_URL}/generate").respond(
        404,
        content=recorded("llamacpp/error-unknown-path.body"),
        headers={"content-type": "application/json"},
    )
    with (
        httpx.Client(transport=httpx.MockTransport(router.handler)) as http,
        chutes.Client(api_key=KEY, http_client=http) as client,
        pytest.raises(chutes.NotFoundError) as real,
    ):
        client.chute(url=CHUTE_URL).post("/generate", json={})
    with fake.client() as client, pytest.raises(chutes.NotFoundError) as mine:
        client.chute(url=CHUTE_URL).post("/speak", json={})
    assert (real.value.message, mine.value.message) == ("Not Found", "No matching cord found!")
    assert set(real.value.body) == set(mine.value.body) == {"detail"}

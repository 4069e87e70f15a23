"""``chutes.testing.FakeChutes`` behaves like the platform: routing, wire format, auth, media."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from pngcheck import PNG_SIGNATURE, png_size

import chutes
from chutes._core.platform import chute_id as platform_chute_id
from chutes.testing import FakeChutes, FakeRequest, Reply

KEY = "fake-platform-secret-KEY-0123456789abcdef"
CHUTE = "myuser/my-llm"
CHUTE_URL = "https://myuser-my-llm.chutes.ai"
CHUTE_ID = "5b1d2c3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"
MODEL = "fake/model"
MESSAGES = [{"role": "user", "content": "Please tell me about the lighthouse keeper today."}]
LONG_REPLY = "one two three four five six seven eight"


# The chutes these tests call. The fake is strict like the platform, so each is added; with
# no template they serve every built-in route (chat, embeddings, images, /generate).
CHUTES = (
    CHUTE,
    "myuser/My_Model.v2",
    "other/llm",
    "me/embed",
    "me/flux",
    "me/tts",
    "chutes/FLUX.1-schnell",
)
ADDRESSES = ("slug:myuser-my-llm-x7k2p", f"id:{CHUTE_ID}", "http://127.0.0.1:8000")


@pytest.fixture
def fake() -> FakeChutes:
    """A fake platform accepting ``KEY``, with the chutes and the gateway model used here."""
    fake = FakeChutes(api_key=KEY)
    for chute in CHUTES + ADDRESSES:
        fake.add_chute(chute, template=None)
    fake.add_model(MODEL)
    return fake


@pytest.fixture
def sync_client(fake: FakeChutes) -> Iterator[chutes.Client]:
    """A blocking client on the fake."""
    with fake.client() as client:
        yield client


@pytest.fixture
async def async_client(fake: FakeChutes) -> AsyncIterator[chutes.AsyncClient]:
    """An asyncio client on the fake."""
    async with fake.async_client() as client:
        yield client


def chat_text(chute: Any, messages: list[dict[str, str]] = MESSAGES, **options: Any) -> str:
    """The content of one non-streamed chat reply."""
    reply = chute.chat.completions.create(model=MODEL, messages=messages, **options)
    content: str = reply.choices[0].message.content
    return content


# --- addressing and recorded requests -------------------------------------------------

ADDRESSING = [
    pytest.param(lambda c: c.chute(CHUTE), CHUTE_URL, id="name"),
    pytest.param(
        lambda c: c.chute("myuser/My_Model.v2"),
        "https://myuser-my-model-v2.chutes.ai",
        id="name-slugified",
    ),
    pytest.param(
        lambda c: c.chute(slug="myuser-my-llm-x7k2p"),
        "https://myuser-my-llm-x7k2p.chutes.ai",
        id="slug",
    ),
    pytest.param(
        lambda c: c.chute(id=CHUTE_ID), f"https://api.chutes.ai/chutes/{CHUTE_ID}", id="uuid"
    ),
    pytest.param(lambda c: c.llm, "https://llm.chutes.ai", id="llm-gateway"),
    pytest.param(lambda c: c.chute(url="http://127.0.0.1:8000"), "http://127.0.0.1:8000", id="url"),
]


@pytest.mark.parametrize(("address", "base"), ADDRESSING)
def test_chat_works_on_every_addressing_form(
    fake: FakeChutes, sync_client: chutes.Client, address: Callable[[Any], Any], base: str
) -> None:
    """A chat completion is answered whichever way the chute is addressed."""
    assert chat_text(address(sync_client))
    assert fake.requests[-1].chute == base


@pytest.mark.parametrize(("address", "base"), ADDRESSING)
def test_recorded_url_and_path_follow_addressing(
    fake: FakeChutes, sync_client: chutes.Client, address: Callable[[Any], Any], base: str
) -> None:
    """The recorded URL is the chute's base plus the cord path, and the path is relative."""
    chat_text(address(sync_client))
    recorded = fake.requests[-1]
    assert (recorded.url, recorded.path) == (
        base + "/v1/chat/completions",
        "/v1/chat/completions",
    )


@pytest.mark.parametrize(
    "address",
    [
        pytest.param(lambda c: c.chute(CHUTE), id="name"),
        pytest.param(lambda c: c.chute(slug="myuser-my-llm"), id="slug"),
        pytest.param(lambda c: c.chute(id=platform_chute_id(CHUTE)), id="uuid5-id"),
    ],
)
def test_one_added_chute_answers_at_name_slug_and_id(address: Callable[[Any], Any]) -> None:
    """A chute added by name is served at its slug's subdomain and at its platform id."""
    fake = FakeChutes(api_key=KEY)
    added = fake.add_chute(CHUTE)
    with fake.client() as client:
        assert chat_text(address(client))
    assert fake.requests[-1].chute_id == added == platform_chute_id(CHUTE)


def test_recorded_request_method_and_json_body(
    fake: FakeChutes, sync_client: chutes.Client
) -> None:
    """``fake.requests`` records the method and the parsed JSON body."""
    sync_client.chute(CHUTE).chat.completions.create(model=MODEL, messages=MESSAGES, top_k=5)
    recorded = fake.requests[-1]
    assert isinstance(recorded, FakeRequest)
    assert recorded.method == "POST"
    assert recorded.json["model"] == MODEL
    assert recorded.json["messages"] == MESSAGES
    assert recorded.json["top_k"] == 5


def test_recorded_bearer_header_is_redacted(fake: FakeChutes, sync_client: chutes.Client) -> None:
    """The Authorization header is recorded as ``***``."""
    chat_text(sync_client.chute(CHUTE))
    assert fake.requests[-1].headers["authorization"] == "***"


def test_recorded_x_api_key_header_is_redacted(fake: FakeChutes) -> None:
    """The X-API-Key header is recorded as ``***`` too."""
    with fake.client(auth_header="x-api-key") as client:
        chat_text(client.chute(CHUTE))
    assert fake.requests[-1].headers["x-api-key"] == "***"


@pytest.mark.parametrize("auth_header", ["authorization", "x-api-key"])
def test_key_appears_in_no_recorded_header(fake: FakeChutes, auth_header: str) -> None:
    """The real key is in no recorded header name or value."""
    with fake.client(auth_header=auth_header) as client:
        chat_text(client.chute(CHUTE))
    for name, value in fake.requests[-1].headers.items():
        assert KEY not in name
        assert KEY not in value


# --- chat and text completions --------------------------------------------------------


def test_chat_reply_is_deterministic(sync_client: chutes.Client) -> None:
    """The same prompt gets the same reply text."""
    chute = sync_client.chute(CHUTE)
    assert chat_text(chute) == chat_text(chute)


def test_chat_reply_depends_on_prompt(sync_client: chutes.Client) -> None:
    """A different prompt gets a different default reply."""
    chute = sync_client.chute(CHUTE)
    other = [{"role": "user", "content": "Something entirely different."}]
    assert chat_text(chute) != chat_text(chute, other)


def test_reply_overrides_one_chute(fake: FakeChutes, sync_client: chutes.Client) -> None:
    """``fake.reply`` sets the text of one chute's chat replies."""
    fake.reply(CHUTE, "Fixed answer here.")
    assert chat_text(sync_client.chute(CHUTE)) == "Fixed answer here."


def test_reply_leaves_other_chutes_alone(fake: FakeChutes, sync_client: chutes.Client) -> None:
    """``fake.reply`` on one chute does not change another chute's reply."""
    before = chat_text(sync_client.chute("other/llm"))
    fake.reply(CHUTE, "Fixed answer here.")
    assert chat_text(sync_client.chute("other/llm")) == before


def test_reply_applies_to_text_completions(fake: FakeChutes, sync_client: chutes.Client) -> None:
    """``fake.reply`` also sets text completions' text."""
    fake.reply(CHUTE, "Fixed answer here.")
    done = sync_client.chute(CHUTE).completions.create(model=MODEL, prompt="Hello")
    assert done.choices[0].text == "Fixed answer here."


def test_reply_applies_to_gateway(fake: FakeChutes, sync_client: chutes.Client) -> None:
    """``fake.reply("llm", ...)`` sets the gateway's reply."""
    fake.reply("llm", "Gateway says hi.")
    assert chat_text(sync_client.llm) == "Gateway says hi."


def test_text_completion_is_deterministic(sync_client: chutes.Client) -> None:
    """The same text prompt gets the same completion."""
    chute = sync_client.chute(CHUTE)
    first = chute.completions.create(model=MODEL, prompt="Once upon a time there was")
    second = chute.completions.create(model=MODEL, prompt="Once upon a time there was")
    assert first.choices[0].text == second.choices[0].text != ""


@pytest.mark.parametrize("kind", ["chat", "text"])
def test_usage_total_is_prompt_plus_completion(sync_client: chutes.Client, kind: str) -> None:
    """Usage's total_tokens is prompt_tokens + completion_tokens, both positive."""
    chute = sync_client.chute(CHUTE)
    if kind == "chat":
        usage = chute.chat.completions.create(model=MODEL, messages=MESSAGES).usage
    else:
        usage = chute.completions.create(model=MODEL, prompt="Tell me a story").usage
    assert usage.prompt_tokens > 0
    assert usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_chat_stream_piece_count_is_completion_tokens(
    fake: FakeChutes, sync_client: chutes.Client
) -> None:
    """A streamed chat's completion_tokens equals the number of text pieces streamed."""
    fake.reply(CHUTE, LONG_REPLY)
    chute = sync_client.chute(CHUTE)
    with chute.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) as stream:
        pieces = list(stream.iter_text())
    assert stream.usage is not None
    assert stream.usage.completion_tokens == len(pieces) == 8
    assert "".join(pieces) == LONG_REPLY


def test_text_stream_piece_count_is_completion_tokens(
    fake: FakeChutes, sync_client: chutes.Client
) -> None:
    """A streamed text completion's completion_tokens equals the number of pieces."""
    fake.reply(CHUTE, LONG_REPLY)
    chute = sync_client.chute(CHUTE)
    with chute.completions.create(model=MODEL, prompt="Count", stream=True) as stream:
        pieces = list(stream.iter_text())
    assert stream.usage is not None
    assert stream.usage.completion_tokens == len(pieces) == 8


def test_chat_stream_usage_equals_plain_usage(sync_client: chutes.Client) -> None:
    """Streaming a prompt reports the same usage as the plain call for it."""
    chute = sync_client.chute(CHUTE)
    plain = chute.chat.completions.create(model=MODEL, messages=MESSAGES)
    with chute.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) as stream:
        streamed = stream.collect()
    assert streamed.usage == plain.usage


def test_text_stream_usage_equals_plain_usage(sync_client: chutes.Client) -> None:
    """Streaming a text prompt reports the same usage as the plain call for it."""
    chute = sync_client.chute(CHUTE)
    plain = chute.completions.create(model=MODEL, prompt="Tell me a story please")
    with chute.completions.create(model=MODEL, prompt="Tell me a story please", stream=True) as s:
        streamed = s.collect()
    assert streamed.usage == plain.usage


def test_chat_stream_text_equals_plain_text(sync_client: chutes.Client) -> None:
    """The streamed pieces assemble into the plain reply's text."""
    chute = sync_client.chute(CHUTE)
    with chute.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) as stream:
        streamed = "".join(stream.iter_text())
    assert streamed == chat_text(chute)


@pytest.mark.parametrize("stream", [False, True])
def test_max_tokens_truncates_chat_with_length(
    fake: FakeChutes, sync_client: chutes.Client, stream: bool
) -> None:
    """``max_tokens`` below the reply's length cuts it and reports finish_reason "length"."""
    fake.reply(CHUTE, LONG_REPLY)
    chute = sync_client.chute(CHUTE)
    if stream:
        with chute.chat.completions.create(
            model=MODEL, messages=MESSAGES, max_tokens=3, stream=True
        ) as opened:
            done = opened.collect()
    else:
        done = chute.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=3)
    assert done.choices[0].message.content == "one two three"
    assert done.choices[0].finish_reason == "length"
    assert done.usage.completion_tokens == 3


def test_max_tokens_truncates_text_completion(fake: FakeChutes, sync_client: chutes.Client) -> None:
    """``max_tokens`` truncates text completions too, with finish_reason "length"."""
    fake.reply(CHUTE, LONG_REPLY)
    done = sync_client.chute(CHUTE).completions.create(model=MODEL, prompt="x", max_tokens=2)
    assert (done.choices[0].text, done.choices[0].finish_reason) == ("one two", "length")


def test_short_reply_finishes_with_stop(fake: FakeChutes, sync_client: chutes.Client) -> None:
    """A reply within ``max_tokens`` finishes with "stop"."""
    fake.reply(CHUTE, LONG_REPLY)
    done = sync_client.chute(CHUTE).chat.completions.create(
        model=MODEL, messages=MESSAGES, max_tokens=100
    )
    assert done.choices[0].finish_reason == "stop"


STREAM_BODIES = [
    pytest.param(
        "/v1/chat/completions", {"model": MODEL, "messages": MESSAGES, "stream": True}, id="chat"
    ),
    pytest.param(
        "/v1/completions", {"model": MODEL, "prompt": "Hi there", "stream": True}, id="text"
    ),
]


@pytest.mark.parametrize(("path", "body"), STREAM_BODIES)
def test_stream_ends_with_done(sync_client: chutes.Client, path: str, body: dict[str, Any]) -> None:
    """A stream's last event is ``data: [DONE]``."""
    with sync_client.chute(CHUTE).stream(path, json=body) as events:
        datas = [event.data for event in events]
    assert datas[-1] == "[DONE]"
    assert "[DONE]" not in datas[:-1]


@pytest.mark.parametrize(("path", "body"), STREAM_BODIES)
def test_stream_carries_usage_chunk(
    sync_client: chutes.Client, path: str, body: dict[str, Any]
) -> None:
    """The event before ``[DONE]`` carries the usage."""
    with sync_client.chute(CHUTE).stream(path, json=body) as events:
        items = list(events)
    usage = items[-2].json()["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_stream_is_event_stream(sync_client: chutes.Client) -> None:
    """A stream is served as ``text/event-stream``."""
    with sync_client.chute(CHUTE).stream(
        "/v1/chat/completions", json=STREAM_BODIES[0].values[1]
    ) as ev:
        assert ev.response is not None
        assert ev.response.content_type == "text/event-stream"


def test_response_has_invocation_id(sync_client: chutes.Client) -> None:
    """A success response carries ``X-Chutes-InvocationID``."""
    resp = sync_client.chute(CHUTE).post(
        "/v1/chat/completions", json={"model": MODEL, "messages": MESSAGES}
    )
    assert resp.invocation_id


def test_invocation_ids_differ(sync_client: chutes.Client) -> None:
    """Each invocation gets its own id."""
    chute = sync_client.chute(CHUTE)
    body = {"model": MODEL, "messages": MESSAGES}
    first = chute.post("/v1/chat/completions", json=body).invocation_id
    second = chute.post("/v1/chat/completions", json=body).invocation_id
    assert first != second


def test_response_has_quota(sync_client: chutes.Client) -> None:
    """A success response carries the quota headers, consistent with each other."""
    resp = sync_client.chute(CHUTE).post(
        "/v1/chat/completions", json={"model": MODEL, "messages": MESSAGES}
    )
    quota = resp.quota
    assert quota is not None
    assert quota.used is not None
    assert quota.remaining is not None
    assert quota.total == quota.used + quota.remaining


def test_client_usage_quota_is_last_reported(sync_client: chutes.Client) -> None:
    """``client.usage.quota`` is the quota of the last response."""
    resp = sync_client.chute(CHUTE).post(
        "/v1/chat/completions", json={"model": MODEL, "messages": MESSAGES}
    )
    assert sync_client.usage.quota == resp.quota


def test_stream_response_has_invocation_id_and_quota(sync_client: chutes.Client) -> None:
    """A streamed response carries the invocation id and the quota too."""
    chute = sync_client.chute(CHUTE)
    with chute.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) as stream:
        stream.collect()
    assert stream.response is not None
    assert stream.response.invocation_id
    assert stream.response.quota is not None


def test_client_usage_counts_fake_tokens(sync_client: chutes.Client) -> None:
    """The client's token counters add up the fake's usage."""
    reply = sync_client.chute(CHUTE).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert sync_client.usage.total_tokens == reply.usage.total_tokens


async def test_async_chat_matches_sync(
    sync_client: chutes.Client, async_client: chutes.AsyncClient
) -> None:
    """The async client gets the same deterministic reply as the sync one."""
    reply = await async_client.chute(CHUTE).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert reply.choices[0].message.content == chat_text(sync_client.chute(CHUTE))


async def test_async_chat_stream(fake: FakeChutes, async_client: chutes.AsyncClient) -> None:
    """An async chat stream yields the reply's pieces and matching usage."""
    fake.reply(CHUTE, LONG_REPLY)
    stream = await async_client.chute(CHUTE).chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True
    )
    async with stream:
        pieces = [piece async for piece in stream.iter_text()]
    assert "".join(pieces) == LONG_REPLY
    assert stream.usage is not None
    assert stream.usage.completion_tokens == len(pieces)


async def test_async_text_completion_stream(
    fake: FakeChutes, async_client: chutes.AsyncClient
) -> None:
    """An async text completion stream assembles into the reply with finish_reason."""
    fake.reply(CHUTE, LONG_REPLY)
    stream = await async_client.chute(CHUTE).completions.create(
        model=MODEL, prompt="Go", stream=True, max_tokens=4
    )
    async with stream:
        done = await stream.collect()
    assert (done.choices[0].text, done.choices[0].finish_reason) == ("one two three four", "length")
    assert done.usage is not None
    assert done.usage.completion_tokens == 4


async def test_async_text_completion(fake: FakeChutes, async_client: chutes.AsyncClient) -> None:
    """An async plain text completion returns the reply."""
    fake.reply(CHUTE, LONG_REPLY)
    done = await async_client.chute(CHUTE).completions.create(model=MODEL, prompt="Go")
    assert done.choices[0].text == LONG_REPLY


async def test_async_quota_in_usage(async_client: chutes.AsyncClient) -> None:
    """The async client's usage keeps the last quota the fake reported."""
    resp = await async_client.chute(CHUTE).post(
        "/v1/chat/completions", json={"model": MODEL, "messages": MESSAGES}
    )
    assert resp.invocation_id
    assert async_client.usage.quota == resp.quota is not None


# --- embeddings and models ------------------------------------------------------------


def test_embeddings_are_deterministic(sync_client: chutes.Client) -> None:
    """The same input embeds to the same vector."""
    chute = sync_client.chute("me/embed")
    first = chute.embeddings.create(model="e", input="hello world").data[0].embedding
    second = chute.embeddings.create(model="e", input="hello world").data[0].embedding
    assert first == second


def test_embeddings_differ_by_input(sync_client: chutes.Client) -> None:
    """Different inputs embed to different vectors."""
    result = sync_client.chute("me/embed").embeddings.create(model="e", input=["cat", "dog"])
    assert [d.index for d in result.data] == [0, 1]
    assert result.data[0].embedding != result.data[1].embedding


@pytest.mark.parametrize("dim", [pytest.param(16, id="16"), pytest.param(3, id="3")])
def test_embedding_dimension_is_settable(dim: int) -> None:
    """``FakeChutes(embedding_dim=N)`` gives vectors of N floats."""
    fake = FakeChutes(api_key=KEY, embedding_dim=dim)
    fake.add_chute("me/embed", template=None)
    with fake.client() as client:
        vector = client.chute("me/embed").embeddings.create(model="e", input="hi").data[0].embedding
    assert len(vector) == dim
    assert all(isinstance(v, float) for v in vector)


def test_models_list(sync_client: chutes.Client) -> None:
    """``/v1/models`` lists at least one model with an id."""
    listed = sync_client.chute(CHUTE).models.list()
    assert listed.data
    assert all(m.id for m in listed.data)


def test_gateway_models_carry_platform_fields(sync_client: chutes.Client) -> None:
    """The gateway's model list has chute_id, price, pricing and confidential_compute."""
    model = sync_client.llm.models.list().data[0]
    assert {"chute_id", "price", "pricing", "confidential_compute"} <= set(model.raw)


def test_gateway_model_chute_id_is_uuid(sync_client: chutes.Client) -> None:
    """The gateway's chute_id is a UUID a client can address."""
    model = sync_client.llm.models.list().data[0]
    chute = sync_client.chute(id=model.raw["chute_id"])
    assert chute.base_url.endswith(model.raw["chute_id"])


# --- images ---------------------------------------------------------------------------


def test_images_b64_json_is_png_of_size(sync_client: chutes.Client) -> None:
    """``response_format="b64_json"`` gives a base64 PNG of the requested size."""
    result = sync_client.chute("me/flux").images.generate(
        prompt="a fox", size="64x32", response_format="b64_json"
    )
    image = result.data[0]
    assert image.b64_json is not None
    assert image.url is None
    assert png_size(base64.b64decode(image.b64_json)) == (64, 32)


def test_images_n_gives_n_images(sync_client: chutes.Client) -> None:
    """``n=2`` gives two images."""
    result = sync_client.chute("me/flux").images.generate(
        prompt="a fox", size="16x16", n=2, response_format="b64_json"
    )
    assert len(result.data) == 2


def test_images_url_is_on_the_chute(sync_client: chutes.Client) -> None:
    """``response_format="url"`` answers a URL instead of data."""
    result = sync_client.chute("me/flux").images.generate(
        prompt="a fox", size="48x24", response_format="url"
    )
    image = result.data[0]
    assert image.b64_json is None
    assert image.url is not None
    assert image.url.startswith("https://me-flux.chutes.ai/")


def test_images_url_downloads_png_of_size(fake: FakeChutes, sync_client: chutes.Client) -> None:
    """A URL image's bytes download through the client and are a PNG of the requested size."""
    result = sync_client.chute("me/flux").images.generate(
        prompt="a fox", size="48x24", response_format="url"
    )
    data = result.data[0].bytes()
    assert png_size(data) == (48, 24)
    assert (fake.requests[-1].method, fake.requests[-1].url) == ("GET", result.data[0].url)


async def test_async_images_url_downloads_png(async_client: chutes.AsyncClient) -> None:
    """An async URL image downloads through the async client as a valid PNG."""
    result = await async_client.chute("me/flux").images.generate(
        prompt="a fox", size="20x10", response_format="url"
    )
    assert png_size(await result.data[0].bytes()) == (20, 10)


def test_generate_answers_raw_png_bytes(sync_client: chutes.Client) -> None:
    """``POST /generate`` answers raw ``image/png`` bytes, not JSON."""
    resp = sync_client.chute("chutes/FLUX.1-schnell").post(
        "/generate", json={"prompt": "a fox", "width": 40, "height": 24}
    )
    assert resp.content_type == "image/png"
    assert resp.content[:8] == PNG_SIGNATURE


@pytest.mark.parametrize(
    ("width", "height"),
    [
        pytest.param(40, 24, id="40x24"),
        pytest.param(1, 1, id="1x1"),
        pytest.param(7, 300, id="7x300"),
    ],
)
def test_generate_png_has_requested_size(
    sync_client: chutes.Client, width: int, height: int
) -> None:
    """The ``/generate`` PNG decodes to the requested width and height."""
    resp = sync_client.chute("chutes/FLUX.1-schnell").post(
        "/generate", json={"prompt": "a fox", "width": width, "height": height}
    )
    assert png_size(resp.content) == (width, height)


def test_images_generate_on_generate_cord(sync_client: chutes.Client) -> None:
    """``images.generate(path="/generate")`` decodes the raw bytes as one PNG image."""
    result = sync_client.chute("chutes/FLUX.1-schnell").images.generate(
        prompt="a fox", path="/generate", width=32, height=16
    )
    assert result.data[0].content_type == "image/png"
    assert png_size(result.data[0].bytes()) == (32, 16)


def test_generate_is_deterministic_per_seed(sync_client: chutes.Client) -> None:
    """The same ``/generate`` body gives the same image bytes."""
    chute = sync_client.chute("chutes/FLUX.1-schnell")
    body = {"prompt": "a fox", "width": 8, "height": 8, "seed": 3}
    assert chute.post("/generate", json=body).content == chute.post("/generate", json=body).content


# --- custom cords ---------------------------------------------------------------------


def test_cord_dict_handler_answers_json(fake: FakeChutes, sync_client: chutes.Client) -> None:
    """A handler returning a dict answers it as JSON."""
    fake.cord("me/tts", "/speak", lambda request: {"ok": True, "n": 2})
    resp = sync_client.chute("me/tts").post("/speak", json={"text": "hi"})
    assert resp.content_type == "application/json"
    assert resp.json() == {"ok": True, "n": 2}


def test_cord_bytes_handler_answers_raw_bytes(fake: FakeChutes, sync_client: chutes.Client) -> None:
    """A handler returning bytes answers them raw."""
    fake.cord("me/tts", "/speak", lambda request: b"\x00\x01raw")
    resp = sync_client.chute("me/tts").post("/speak", json={"text": "hi"})
    assert resp.content == b"\x00\x01raw"
    assert resp.content_type == "application/octet-stream"


def test_cord_reply_sets_status_and_content_type(
    fake: FakeChutes, sync_client: chutes.Client
) -> None:
    """A ``Reply`` sets the status, the content type and the raw body."""
    fake.cord(
        "me/tts",
        "/speak",
        lambda request: Reply(status=201, content=b"RIFF", content_type="audio/wav"),
    )
    resp = sync_client.chute("me/tts").post("/speak", json={"text": "hi"})
    assert (resp.status_code, resp.content_type, resp.content) == (201, "audio/wav", b"RIFF")


def test_cord_reply_sets_headers_and_json(fake: FakeChutes, sync_client: chutes.Client) -> None:
    """A ``Reply`` with ``json`` and ``headers`` answers both."""
    fake.cord("me/tts", "/info", lambda r: Reply(json={"a": 1}, headers={"X-Extra": "yes"}))
    resp = sync_client.chute("me/tts").post("/info", json={})
    assert resp.json() == {"a": 1}
    assert resp.headers["x-extra"] == "yes"


def test_cord_reply_error_status_raises(fake: FakeChutes, sync_client: chutes.Client) -> None:
    """A ``Reply`` with an error status and a ``detail`` raises the matching error."""
    fake.cord("me/tts", "/speak", lambda r: Reply(status=422, json={"detail": "text is required"}))
    with pytest.raises(chutes.UnprocessableEntityError, match="text is required"):
        sync_client.chute("me/tts").post("/speak", json={})


def test_cord_handler_receives_fake_request(fake: FakeChutes, sync_client: chutes.Client) -> None:
    """The handler gets a ``FakeRequest`` with the method, path, chute and JSON body."""
    seen: list[FakeRequest] = []

    def handler(request: FakeRequest) -> dict[str, Any]:
        seen.append(request)
        return {}

    fake.cord("me/tts", "speak", handler)
    sync_client.chute("me/tts").post("/speak", json={"text": "hi"})
    (request,) = seen
    assert isinstance(request, FakeRequest)
    assert (request.method, request.path, request.chute, request.json) == (
        "POST",
        "/speak",
        "https://me-tts.chutes.ai",
        {"text": "hi"},
    )
    assert request.headers["authorization"] == "***"


def test_get_cord(fake: FakeChutes, sync_client: chutes.Client) -> None:
    """A cord registered with ``method="GET"`` answers GET requests."""
    fake.cord("me/tts", "/voices", lambda r: {"voices": ["af"]}, method="GET")
    assert sync_client.chute("me/tts").get("/voices").json() == {"voices": ["af"]}


def test_cord_overrides_builtin_route(fake: FakeChutes, sync_client: chutes.Client) -> None:
    """A custom cord at a built-in path replaces the built-in answer."""
    fake.cord(
        CHUTE, "/v1/models", lambda r: {"object": "list", "data": [{"id": "mine"}]}, method="GET"
    )
    assert [m.id for m in sync_client.chute(CHUTE).models.list().data] == ["mine"]


async def test_cord_via_async_client(fake: FakeChutes, async_client: chutes.AsyncClient) -> None:
    """Custom cords answer the async client too."""
    fake.cord("me/tts", "/speak", lambda r: Reply(content=b"WAV", content_type="audio/wav"))
    resp = await async_client.chute("me/tts").post("/speak", json={"text": "hi"})
    assert (resp.content_type, resp.content) == ("audio/wav", b"WAV")


# --- auth and not-found ----------------------------------------------------------------


def test_wrong_key_raises_authentication_error(fake: FakeChutes) -> None:
    """A wrong key gets 401 and ``AuthenticationError``."""
    with (
        httpx.Client(transport=fake) as http,
        chutes.Client(api_key="wrong-key", http_client=http) as client,
        pytest.raises(chutes.AuthenticationError) as caught,
    ):
        chat_text(client.chute(CHUTE))
    assert caught.value.status_code == 401


def test_wrong_key_body_is_detail(fake: FakeChutes) -> None:
    """The 401 body is ``{"detail": <string>}`` and the message is that string."""
    with (
        httpx.Client(transport=fake) as http,
        chutes.Client(api_key="wrong-key", http_client=http) as client,
        pytest.raises(chutes.AuthenticationError) as caught,
    ):
        chat_text(client.chute(CHUTE))
    body = caught.value.body
    assert list(body) == ["detail"]
    assert isinstance(body["detail"], str)
    assert caught.value.message == body["detail"]


def _drop_auth(request: httpx.Request) -> None:
    del request.headers["authorization"]


def test_missing_key_raises_authentication_error(fake: FakeChutes) -> None:
    """A request with no key at all gets 401 ``{"detail": ...}`` and ``AuthenticationError``."""
    with (
        httpx.Client(transport=fake, event_hooks={"request": [_drop_auth]}) as http,
        chutes.Client(api_key=KEY, http_client=http) as client,
        pytest.raises(chutes.AuthenticationError) as caught,
    ):
        chat_text(client.chute(CHUTE))
    assert "authorization" not in fake.requests[-1].headers
    assert list(caught.value.body) == ["detail"]


def test_missing_key_raw_http(fake: FakeChutes) -> None:
    """A raw request without credentials gets 401 with a ``detail`` body."""
    with httpx.Client(transport=fake) as http:
        resp = http.post(CHUTE_URL + "/v1/chat/completions", json={"messages": MESSAGES})
    assert resp.status_code == 401
    assert isinstance(resp.json()["detail"], str)


def test_x_api_key_is_accepted(fake: FakeChutes) -> None:
    """``auth_header="x-api-key"`` sends the key the fake accepts."""
    with chutes.Client(
        api_key=KEY, auth_header="x-api-key", http_client=httpx.Client(transport=fake)
    ) as client:
        assert chat_text(client.chute(CHUTE))
    assert "authorization" not in fake.requests[-1].headers


def test_wrong_x_api_key_is_refused(fake: FakeChutes) -> None:
    """A wrong key in X-API-Key gets 401."""
    with (
        chutes.Client(
            api_key="nope", auth_header="x-api-key", http_client=httpx.Client(transport=fake)
        ) as client,
        pytest.raises(chutes.AuthenticationError),
    ):
        chat_text(client.chute(CHUTE))


async def test_async_wrong_key(fake: FakeChutes) -> None:
    """The async client gets ``AuthenticationError`` for a wrong key too."""
    async with chutes.AsyncClient(
        api_key="wrong", http_client=httpx.AsyncClient(transport=fake)
    ) as client:
        with pytest.raises(chutes.AuthenticationError):
            await client.chute(CHUTE).chat.completions.create(model=MODEL, messages=MESSAGES)


UNKNOWN = [
    pytest.param(lambda c: c.chute("nobody/nothing"), id="name"),
    pytest.param(lambda c: c.chute(slug="nobody-nothing"), id="slug"),
    pytest.param(lambda c: c.chute(id=CHUTE_ID), id="uuid"),
    pytest.param(lambda c: c.chute(url="http://127.0.0.1:9"), id="url"),
]


@pytest.mark.parametrize("address", UNKNOWN)
def test_unknown_chute_is_not_found(address: Callable[[Any], Any]) -> None:
    """By default (strict) an unknown chute gets 404 "No matching chute found!"."""
    fake = FakeChutes(api_key=KEY)
    fake.add_chute("someone/else")
    with fake.client() as client, pytest.raises(chutes.NotFoundError) as caught:
        chat_text(address(client))
    assert caught.value.message == "No matching chute found!"
    assert caught.value.body == {"detail": "No matching chute found!"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("POST", "/nope", id="unknown-path"),
        pytest.param("GET", "/v1/chat/completions", id="wrong-method"),
        pytest.param("POST", "/v1/chat", id="prefix-only"),
    ],
)
def test_unknown_cord_is_not_found(sync_client: chutes.Client, method: str, path: str) -> None:
    """A path the chute does not serve gets 404 "No matching cord found!"."""
    with pytest.raises(chutes.NotFoundError) as caught:
        sync_client.chute(CHUTE).request(
            method, path, json={} if method == "POST" else chutes.NOT_GIVEN
        )
    assert caught.value.message == "No matching cord found!"


def test_payment_required_reset_parses(fake: FakeChutes, sync_client: chutes.Client) -> None:
    """The fake's default 402 detail carries a parseable ``quota_reset_timestamp``."""
    fake.fail_next(402)
    with pytest.raises(chutes.PaymentRequiredError) as caught:
        chat_text(sync_client.chute(CHUTE))
    assert caught.value.quota_reset == dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)

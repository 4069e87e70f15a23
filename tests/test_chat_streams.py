"""Streamed chat and text completions through the helpers, down to the bytes.

The chute's body is served by an ``httpx.MockTransport`` whose stream yields deliberately
split chunks (one byte at a time, five bytes, or the whole body), so framing, errors and
the end of the stream are checked whatever the network does.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

import chutes

DATA = Path(__file__).parent / "data"
KEY = "cpk_0123456789abcdef0123456789abcdef.0123456789abcdef0123456789abcdef.STREAMabc123"
BASE = "http://127.0.0.1:9"
MESSAGES = [{"role": "user", "content": "Hi"}]

SPLITS = [
    pytest.param(1, id="1-byte"),
    pytest.param(5, id="5-bytes"),
    pytest.param(0, id="whole"),
]


def _read(relative: str) -> bytes:
    return (DATA / relative).read_bytes()


def _split(body: bytes, size: int) -> list[bytes]:
    if not size:
        return [body]
    return [body[i : i + size] for i in range(0, len(body), size)]


class SplitSyncStream(httpx.SyncByteStream):
    """A response body that arrives in pieces of ``size`` bytes (0: all at once)."""

    def __init__(self, body: bytes, size: int) -> None:
        self._parts = _split(body, size)

    def __iter__(self) -> Iterator[bytes]:
        yield from self._parts


class SplitAsyncStream(httpx.AsyncByteStream):
    """The async twin of :class:`SplitSyncStream`."""

    def __init__(self, body: bytes, size: int) -> None:
        self._parts = _split(body, size)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self._parts:
            yield part


SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8"}


@contextmanager
def sse_chute(body: bytes, size: int) -> Iterator[chutes.Chute]:
    """A chute whose every answer is ``body`` as an event stream, split in ``size`` pieces."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=SSE_HEADERS, stream=SplitSyncStream(body, size))

    with (
        httpx.Client(transport=httpx.MockTransport(handler)) as http,
        chutes.Client(api_key=KEY, http_client=http) as client,
    ):
        yield client.chute(url=BASE)


@asynccontextmanager
async def async_sse_chute(body: bytes, size: int) -> AsyncIterator[chutes.AsyncChute]:
    """The async twin of :func:`sse_chute`."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=SSE_HEADERS, stream=SplitAsyncStream(body, size))

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http,
        chutes.AsyncClient(api_key=KEY, http_client=http) as client,
    ):
        yield client.chute(url=BASE)


def _chunk(content: str | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "delta": {}, "finish_reason": finish}
    if content is not None:
        choice["delta"]["content"] = content
    chunk = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1764092500,
        "model": "m",
        "choices": [choice],
    }
    chunk.update(extra)
    return chunk


USAGE = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
EVENTS = [
    _chunk("Hel"),
    _chunk("lo"),
    _chunk("!", "stop"),
    {**_chunk(), "choices": [], "usage": USAGE},
]


def _sse(events: list[Any], *, eol: str = "\n", data: str = "data: ", done: bool = True) -> bytes:
    text = "".join(f"{data}{json.dumps(e)}{eol}{eol}" for e in events)
    if done:
        text += f"{data}[DONE]{eol}{eol}"
    return text.encode()


def _with_comments(events: list[Any]) -> bytes:
    text = ": ping\n\n"
    for event in events:
        text += f": keep-alive\ndata: {json.dumps(event)}\n:\n\n: ping\n\n"
    return (text + "data: [DONE]\n\n").encode()


def _with_fields(events: list[Any]) -> bytes:
    text = "retry: 3000\n\n"
    for number, event in enumerate(events):
        text += f"id: {number}\nevent: message\nretry: 1500\ndata: {json.dumps(event)}\n\n"
    return (text + "id: done\ndata: [DONE]\n\n").encode()


def _multiline(events: list[Any]) -> bytes:
    text = ""
    for event in events:
        lines = json.dumps(event, indent=1).splitlines()
        text += "".join(f"data: {line}\n" for line in lines) + "\n"
    return (text + "data: [DONE]\n\n").encode()


FRAMINGS = [
    pytest.param(_sse(EVENTS), id="lf"),
    pytest.param(_sse(EVENTS, eol="\r\n"), id="crlf"),
    pytest.param(_sse(EVENTS, eol="\r"), id="cr"),
    pytest.param(_with_comments(EVENTS), id="comments"),
    pytest.param(_with_fields(EVENTS), id="id-event-retry-fields"),
    pytest.param(_multiline(EVENTS), id="multi-line-data"),
    pytest.param(b"\xef\xbb\xbf" + _sse(EVENTS), id="utf8-bom"),
    pytest.param(_sse(EVENTS, data="data:"), id="no-space-after-colon"),
]


async def _exhaust(stream: chutes.AsyncChatCompletionStream) -> None:
    async with stream:
        async for _ in stream:
            pass


async def _text_into(stream: chutes.AsyncChatCompletionStream, pieces: list[str]) -> None:
    async with stream:
        async for piece in stream.iter_text():
            pieces.append(piece)


def _contents(chunks: list[chutes.ChatCompletionChunk]) -> list[str | None]:
    return [c.choices[0].delta.content for c in chunks if c.choices]


# --- framing --------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SPLITS)
@pytest.mark.parametrize("body", FRAMINGS)
def test_framing_gives_expected_chunks(body: bytes, size: int) -> None:
    """Every SSE framing variant, however split, gives the same chunks and usage."""
    with (
        sse_chute(body, size) as chute,
        chute.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream,
    ):
        chunks = list(stream)
    assert _contents(chunks) == ["Hel", "lo", "!"]
    assert len(chunks) == 4
    assert stream.usage == chutes.Usage(prompt_tokens=7, completion_tokens=3, total_tokens=10)


@pytest.mark.parametrize("size", SPLITS)
@pytest.mark.parametrize("body", FRAMINGS)
async def test_async_framing_gives_expected_chunks(body: bytes, size: int) -> None:
    """Async: every SSE framing variant, however split, gives the same chunks and usage."""
    async with async_sse_chute(body, size) as chute:
        stream = await chute.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with stream:
            chunks = [chunk async for chunk in stream]
    assert _contents(chunks) == ["Hel", "lo", "!"]
    assert len(chunks) == 4
    assert stream.usage == chutes.Usage(prompt_tokens=7, completion_tokens=3, total_tokens=10)


@pytest.mark.parametrize("size", SPLITS)
def test_nothing_after_done_is_read_as_chunks(size: int) -> None:
    """What follows ``data: [DONE]`` is never decoded (not even an error line)."""
    body = _sse(EVENTS) + b'data: {"error": "late"}\n\n{"error": "later"}'
    with (
        sse_chute(body, size) as chute,
        chute.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream,
    ):
        assert _contents(list(stream)) == ["Hel", "lo", "!"]


# --- errors inside the stream ---------------------------------------------------------------

TWO_CHUNKS = _sse([_chunk("Hel"), _chunk("lo")], done=False)
INBAND = "recorded/litellm/chat-stream-inband-error.body"
LITELLM_MESSAGE = "litellm.RateLimitError: this is a mock rate limit error"

# (body, the server's message, the text streamed before the error)
STREAM_ERRORS = [
    pytest.param(TWO_CHUNKS + b'{"error": "boom"}', "boom", "Hello", id="raw-error-line"),
    pytest.param(_read(INBAND), LITELLM_MESSAGE, "", id="litellm-inband-error"),
    pytest.param(
        TWO_CHUNKS + _read(INBAND), LITELLM_MESSAGE, "Hello", id="litellm-inband-after-text"
    ),
    pytest.param(
        TWO_CHUNKS + b'data: {"error": {"message": "upstream overloaded", "code": 503}}\n\n',
        "upstream overloaded",
        "Hello",
        id="data-error-object",
    ),
    pytest.param(
        TWO_CHUNKS + b'event: error\ndata: {"message": "model crashed"}\n\n',
        "model crashed",
        "Hello",
        id="event-error-json",
    ),
    pytest.param(
        TWO_CHUNKS + b"event: error\ndata: model crashed\n\n",
        "model crashed",
        "Hello",
        id="event-error-text",
    ),
    pytest.param(TWO_CHUNKS, "ended before it was complete", "Hello", id="cut-without-done"),
]
# (body, the text streamed before the error)
TEXT_BEFORE_ERRORS = [pytest.param(p.values[0], p.values[2], id=p.id) for p in STREAM_ERRORS]


@pytest.mark.parametrize("size", SPLITS)
@pytest.mark.parametrize(("body", "message", "partial"), STREAM_ERRORS)
def test_stream_error_has_message_and_partial_text(
    body: bytes, message: str, partial: str, size: int
) -> None:
    """A failure in the stream raises StreamError with the server's words and the text so far."""
    with sse_chute(body, size) as chute:
        stream = chute.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        with pytest.raises(chutes.StreamError) as info, stream:
            list(stream)
    assert message in info.value.message
    assert info.value.partial_text == partial


@pytest.mark.parametrize("size", SPLITS)
@pytest.mark.parametrize(("body", "message", "partial"), STREAM_ERRORS)
async def test_async_stream_error_has_message_and_partial_text(
    body: bytes, message: str, partial: str, size: int
) -> None:
    """Async: StreamError carries the server's words and the text so far."""
    async with async_sse_chute(body, size) as chute:
        stream = await chute.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        with pytest.raises(chutes.StreamError) as info:
            await _exhaust(stream)
    assert message in info.value.message
    assert info.value.partial_text == partial


@pytest.mark.parametrize("size", SPLITS)
@pytest.mark.parametrize(("body", "partial"), TEXT_BEFORE_ERRORS)
def test_text_before_stream_error_reaches_caller(body: bytes, partial: str, size: int) -> None:
    """The pieces iter_text() yields before a StreamError are exactly its partial_text."""
    pieces: list[str] = []
    with sse_chute(body, size) as chute:
        stream = chute.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        with pytest.raises(chutes.StreamError) as info, stream:
            pieces.extend(stream.iter_text())
    assert "".join(pieces) == info.value.partial_text == partial


@pytest.mark.parametrize("size", SPLITS)
@pytest.mark.parametrize(("body", "partial"), TEXT_BEFORE_ERRORS)
async def test_async_text_before_stream_error_reaches_caller(
    body: bytes, partial: str, size: int
) -> None:
    """Async: the pieces iter_text() yields before a StreamError are exactly its partial_text."""
    pieces: list[str] = []
    async with async_sse_chute(body, size) as chute:
        stream = await chute.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        with pytest.raises(chutes.StreamError) as info:
            await _text_into(stream, pieces)
    assert "".join(pieces) == info.value.partial_text == partial


@pytest.mark.parametrize("size", SPLITS)
def test_stream_error_closes_the_response(size: int) -> None:
    """After a StreamError the response is closed, even without a ``with`` block."""
    with sse_chute(TWO_CHUNKS + b'{"error": "boom"}', size) as chute:
        stream = chute.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        with pytest.raises(chutes.StreamError):
            list(stream)
        assert stream._raw is not None
        assert stream._raw.is_closed


# --- streams that end well ------------------------------------------------------------------

LLAMACPP_TEXT = " one L R has each to do>< come( will"


@pytest.mark.parametrize("size", SPLITS)
def test_stream_without_usage_ends_cleanly(size: int) -> None:
    """llama.cpp's recorded stream (no usage chunk) gives its text and no usage."""
    with (
        sse_chute(_read("recorded/llamacpp/chat-stream.body"), size) as chute,
        chute.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream,
    ):
        text = "".join(stream.iter_text())
    assert text == LLAMACPP_TEXT
    assert stream.usage is None


@pytest.mark.parametrize("size", SPLITS)
async def test_async_stream_without_usage_ends_cleanly(size: int) -> None:
    """Async: llama.cpp's recorded stream gives its text and no usage."""
    async with async_sse_chute(_read("recorded/llamacpp/chat-stream.body"), size) as chute:
        stream = await chute.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with stream:
            text = "".join([piece async for piece in stream.iter_text()])
    assert text == LLAMACPP_TEXT
    assert stream.usage is None


@pytest.mark.parametrize("size", SPLITS)
def test_finished_stream_without_done_is_complete(size: int) -> None:
    """A body that ends without [DONE] after every choice finished is not an error."""
    with (
        sse_chute(_sse(EVENTS, done=False), size) as chute,
        chute.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream,
    ):
        completion = stream.collect()
    assert completion.choices[0].message.content == "Hello!"
    assert completion.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("size", SPLITS)
async def test_async_finished_stream_without_done_is_complete(size: int) -> None:
    """Async: a body that ends without [DONE] after every choice finished is not an error."""
    async with async_sse_chute(_sse(EVENTS, done=False), size) as chute:
        stream = await chute.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with stream:
            completion = await stream.collect()
    assert completion.choices[0].message.content == "Hello!"
    assert completion.choices[0].finish_reason == "stop"


# --- usage-only chunks ----------------------------------------------------------------------

VLLM_STREAM = "payloads/vllm-chat-stream.sse"


@pytest.mark.parametrize("size", SPLITS)
def test_usage_only_chunk_does_not_break_iter_text(size: int) -> None:
    """vLLM's final chunk with empty choices is skipped by iter_text()."""
    with (
        sse_chute(_read(VLLM_STREAM), size) as chute,
        chute.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream,
    ):
        assert list(stream.iter_text()) == ["Hello", " there", "!"]
    assert stream.usage == chutes.Usage(prompt_tokens=12, completion_tokens=3, total_tokens=15)


@pytest.mark.parametrize("size", SPLITS)
def test_usage_only_chunk_does_not_break_collect(size: int) -> None:
    """collect() over a stream ending in a usage-only chunk keeps text, finish and usage."""
    with (
        sse_chute(_read(VLLM_STREAM), size) as chute,
        chute.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream,
    ):
        completion = stream.collect()
    assert completion.choices[0].message.content == "Hello there!"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage == chutes.Usage(prompt_tokens=12, completion_tokens=3, total_tokens=15)


@pytest.mark.parametrize("size", SPLITS)
async def test_async_usage_only_chunk_does_not_break_iter_text(size: int) -> None:
    """Async: vLLM's final chunk with empty choices is skipped by iter_text()."""
    async with async_sse_chute(_read(VLLM_STREAM), size) as chute:
        stream = await chute.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with stream:
            pieces = [piece async for piece in stream.iter_text()]
    assert pieces == ["Hello", " there", "!"]
    assert stream.usage == chutes.Usage(prompt_tokens=12, completion_tokens=3, total_tokens=15)


@pytest.mark.parametrize("size", SPLITS)
async def test_async_usage_only_chunk_does_not_break_collect(size: int) -> None:
    """Async: collect() over a stream ending in a usage-only chunk keeps text and usage."""
    async with async_sse_chute(_read(VLLM_STREAM), size) as chute:
        stream = await chute.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with stream:
            completion = await stream.collect()
    assert completion.choices[0].message.content == "Hello there!"
    assert completion.usage == chutes.Usage(prompt_tokens=12, completion_tokens=3, total_tokens=15)


# --- collect(): assembling a whole completion -----------------------------------------------

TOOLS_STREAM = "payloads/vllm-tool-stream.sse"
WEATHER = chutes.ToolCall(
    id="chatcmpl-tool-5f1e0d9c",
    type="function",
    function=chutes.FunctionCall(
        name="get_weather", arguments='{"city": "Paris", "unit": "celsius"}'
    ),
    index=0,
)
TIME = chutes.ToolCall(
    id="chatcmpl-tool-8b7a6c5d",
    type="function",
    function=chutes.FunctionCall(name="get_time", arguments='{"tz": "Europe/Paris"}'),
    index=1,
)


@pytest.mark.parametrize("size", SPLITS)
def test_collect_joins_tool_call_fragments(size: int) -> None:
    """collect() joins each tool call's 3 fragments into one call with its id and name."""
    with (
        sse_chute(_read(TOOLS_STREAM), size) as chute,
        chute.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream,
    ):
        message = stream.collect().choices[0].message
    assert message.tool_calls == [WEATHER, TIME]


@pytest.mark.parametrize("size", SPLITS)
async def test_async_collect_joins_tool_call_fragments(size: int) -> None:
    """Async: collect() joins each tool call's fragments into one call with its id and name."""
    async with async_sse_chute(_read(TOOLS_STREAM), size) as chute:
        stream = await chute.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with stream:
            message = (await stream.collect()).choices[0].message
    assert message.tool_calls == [WEATHER, TIME]


def test_collected_tool_arguments_are_json() -> None:
    """The joined arguments of every collected tool call parse as JSON."""
    with (
        sse_chute(_read(TOOLS_STREAM), 7) as chute,
        chute.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream,
    ):
        calls = stream.collect().choices[0].message.tool_calls or []
    arguments = [json.loads(c.function.arguments or "") for c in calls if c.function]
    assert arguments == [{"city": "Paris", "unit": "celsius"}, {"tz": "Europe/Paris"}]


def test_collect_of_tool_stream_sets_finish_reason_usage_and_reasoning() -> None:
    """collect() keeps the finish_reason, the usage and the joined reasoning of a tool stream."""
    with (
        sse_chute(_read(TOOLS_STREAM), 0) as chute,
        chute.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream,
    ):
        completion = stream.collect()
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.reasoning_content == "Weather and time are both needed."
    assert completion.usage == chutes.Usage(
        prompt_tokens=120, completion_tokens=48, total_tokens=168
    )


def test_collect_keeps_stream_identity() -> None:
    """The collected completion carries the stream's id, model and created time."""
    with (
        sse_chute(_read(TOOLS_STREAM), 0) as chute,
        chute.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream,
    ):
        completion = stream.collect()
    assert (completion.id, completion.model, completion.created) == (
        "chatcmpl-aa11bb22cc33dd44",
        "Qwen/Qwen2.5-7B-Instruct",
        1764092506,
    )


@pytest.mark.parametrize("size", SPLITS)
def test_collect_assembles_reasoning_and_content(size: int) -> None:
    """collect() joins vLLM's ``reasoning`` deltas and the content separately."""
    with (
        sse_chute(_read("payloads/vllm-reasoning-stream.sse"), size) as chute,
        chute.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream,
    ):
        message = stream.collect().choices[0].message
    assert message.reasoning_content == "The user says hello."
    assert message.content == "Hi!"
    assert message.role == "assistant"


def test_reasoning_deltas_are_not_text() -> None:
    """iter_text() yields only content, never reasoning."""
    with (
        sse_chute(_read("payloads/vllm-reasoning-stream.sse"), 0) as chute,
        chute.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream,
    ):
        assert list(stream.iter_text()) == ["Hi", "!"]


@pytest.mark.parametrize("size", SPLITS)
def test_completion_stream_collects_text(size: int) -> None:
    """A streamed text completion (llama.cpp recording) collects its text and finish_reason."""
    with (
        sse_chute(_read("recorded/llamacpp/completions-stream.body"), size) as chute,
        chute.completions.create(model="m", prompt="Hi", stream=True) as stream,
    ):
        completion = stream.collect()
    assert completion.choices[0].text == " will we d be in` N"
    assert completion.choices[0].finish_reason == "length"


@pytest.mark.parametrize("size", SPLITS)
async def test_async_completion_stream_iter_text(size: int) -> None:
    """Async: a streamed text completion yields its text pieces."""
    async with async_sse_chute(_read("recorded/llamacpp/completions-stream.body"), size) as chute:
        stream = await chute.completions.create(model="m", prompt="Hi", stream=True)
        async with stream:
            text = "".join([piece async for piece in stream.iter_text()])
    assert text == " will we d be in` N"


# --- closing --------------------------------------------------------------------------------


def test_response_closed_after_done() -> None:
    """Reading to [DONE] closes the response without any ``with`` block."""
    with sse_chute(_read(VLLM_STREAM), 0) as chute:
        stream = chute.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        list(stream)
        assert stream._raw is not None
        assert stream._raw.is_closed


def test_response_open_until_done() -> None:
    """Before the end of the stream the response is still open."""
    with sse_chute(_read(VLLM_STREAM), 0) as chute:
        stream = chute.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        with stream:
            assert stream._raw is not None
            assert not stream._raw.is_closed


def test_break_inside_with_closes_response() -> None:
    """Leaving the ``with`` block early (``break``) closes the response."""
    with sse_chute(_read(VLLM_STREAM), 1) as chute:
        stream = chute.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        with stream:
            for _ in stream:
                break
        assert stream._raw is not None
        assert stream._raw.is_closed


async def test_async_response_closed_after_done() -> None:
    """Async: reading to [DONE] closes the response without any ``async with`` block."""
    async with async_sse_chute(_read(VLLM_STREAM), 0) as chute:
        stream = await chute.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async for _ in stream:
            pass
        assert stream._raw is not None
        assert stream._raw.is_closed


async def test_async_break_inside_with_closes_response() -> None:
    """Async: leaving the ``async with`` block early (``break``) closes the response."""
    async with async_sse_chute(_read(VLLM_STREAM), 1) as chute:
        stream = await chute.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with stream:
            async for _ in stream:
                break
        assert stream._raw is not None
        assert stream._raw.is_closed


async def test_async_aclose_closes_response() -> None:
    """Async: ``await stream.aclose()`` closes the response and ends iteration."""
    async with async_sse_chute(_read(VLLM_STREAM), 1) as chute:
        stream = await chute.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        await stream.aclose()
        assert stream._raw is not None
        assert stream._raw.is_closed
        assert [chunk async for chunk in stream] == []


def test_stream_exposes_response_headers() -> None:
    """``stream.response`` carries the status and headers once the stream is open."""
    with (
        sse_chute(_read(VLLM_STREAM), 0) as chute,
        chute.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream,
    ):
        assert stream.response is not None
        assert stream.response.status_code == 200
        assert stream.response.content_type == "text/event-stream"


# --- a chunk that is JSON but not a chunk -------------------------------------------------

# The second chunk parses and carries text, but its `created` is no integer: only typing
# it finds that, so iterating fails there (iter_text() and collect() never type chunks).
BAD_SECOND = _sse([_chunk("Hel"), _chunk("lo", created="yesterday"), _chunk("!", "stop")])


@pytest.mark.parametrize("size", SPLITS)
def test_a_chunk_that_is_not_a_chunk_fails_iteration_with_the_text_so_far(size: int) -> None:
    with sse_chute(BAD_SECOND, size) as chute:
        stream = chute.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        first = next(stream)
        assert first.choices[0].delta.content == "Hel"
        with pytest.raises(chutes.StreamError, match="not a valid ChatCompletionChunk") as info:
            next(stream)
        assert info.value.partial_text.startswith("Hel")
        assert stream._raw is not None
        assert stream._raw.is_closed
        with pytest.raises(StopIteration):
            next(stream)
        assert chute._caller.usage.snapshot().by_chute[BASE].failures == 1


@pytest.mark.parametrize("size", SPLITS)
async def test_async_a_chunk_that_is_not_a_chunk_fails_iteration_with_the_text_so_far(
    size: int,
) -> None:
    async with async_sse_chute(BAD_SECOND, size) as chute:
        stream = await chute.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        first = await stream.__anext__()
        assert first.choices[0].delta.content == "Hel"
        with pytest.raises(chutes.StreamError, match="not a valid ChatCompletionChunk") as info:
            await stream.__anext__()
        assert info.value.partial_text.startswith("Hel")
        assert stream._raw is not None
        assert stream._raw.is_closed
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()
        assert chute._caller.usage.snapshot().by_chute[BASE].failures == 1


def test_the_same_chunks_still_give_their_text() -> None:
    with sse_chute(BAD_SECOND, 0) as chute:
        stream = chute.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        assert "".join(stream.iter_text()) == "Hello!"


def test_a_stream_closed_mid_way_yields_nothing_more() -> None:
    """Chunks already received (the whole body arrives at once here) are not handed out
    after close()."""
    with sse_chute(_sse(EVENTS), 0) as chute:
        stream = chute.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        assert next(stream).choices[0].delta.content == "Hel"
        stream.close()
        assert list(stream) == []
        assert list(stream.iter_text()) == []


async def test_async_a_stream_closed_mid_way_yields_nothing_more() -> None:
    async with async_sse_chute(_sse(EVENTS), 0) as chute:
        stream = await chute.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        assert (await stream.__anext__()).choices[0].delta.content == "Hel"
        await stream.aclose()
        assert [chunk async for chunk in stream] == []
        assert [piece async for piece in stream.iter_text()] == []

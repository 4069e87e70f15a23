"""``client.usage``: calls, failures, retries, tokens, per chute and the last quota.

Each mocked answer reports a known usage, so the totals after many concurrent calls (threads
for ``Client``, ``asyncio.gather`` for ``AsyncClient``), streamed ones included, are exact.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import respx

import chutes

KEY = "cpk_0123456789abcdef0123456789abcdef.0123456789abcdef0123456789abcdef.USAGEabc1234"
BASE = "http://127.0.0.1:9"
OTHER = "http://127.0.0.1:10"
LLM = "https://llm.chutes.ai"
MESSAGES = [{"role": "user", "content": "Hi"}]
NO_SLEEP = chutes.RetryPolicy(initial_delay=0.0)
SSE = {"content-type": "text/event-stream"}

# What every plain answer and every stream reports.
CHAT_USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
STREAM_USAGE = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
CALLS = 50
STREAMED = CALLS // 2
PLAIN = CALLS - STREAMED


def _chat_body(usage: dict[str, int] = CHAT_USAGE) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1764092500,
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": usage,
    }


def _stream_body(usage: dict[str, int] = STREAM_USAGE) -> bytes:
    base = {"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    events = [
        {**base, "choices": [{"index": 0, "delta": {"content": "o"}, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {"content": "k"}, "finish_reason": "stop"}]},
        {**base, "choices": [], "usage": usage},
    ]
    text = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    return text.encode()


def _answer(request: httpx.Request) -> httpx.Response:
    """Answer a chat call: a stream when it asks for one, else a plain completion."""
    if json.loads(request.content).get("stream"):
        return httpx.Response(200, headers=SSE, content=_stream_body())
    return httpx.Response(200, json=_chat_body())


def _expected_totals() -> tuple[int, int, int, int, int, int]:
    prompt = PLAIN * CHAT_USAGE["prompt_tokens"] + STREAMED * STREAM_USAGE["prompt_tokens"]
    completion = (
        PLAIN * CHAT_USAGE["completion_tokens"] + STREAMED * STREAM_USAGE["completion_tokens"]
    )
    total = PLAIN * CHAT_USAGE["total_tokens"] + STREAMED * STREAM_USAGE["total_tokens"]
    return (CALLS, 0, 0, prompt, completion, total)


def _numbers(usage: chutes.ChuteUsage) -> tuple[int, int, int, int, int, int]:
    return (
        usage.requests,
        usage.failures,
        usage.retries,
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.total_tokens,
    )


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture
def mock() -> respx.MockRouter:
    """A respx router the test clients' transports answer from."""
    return respx.MockRouter(assert_all_called=False)


@pytest.fixture
def client(mock: respx.MockRouter) -> Iterator[chutes.Client]:
    """A ``chutes.Client`` on the router that retries without sleeping."""
    with (
        httpx.Client(transport=httpx.MockTransport(mock.handler)) as http,
        chutes.Client(api_key=KEY, http_client=http, retry_policy=NO_SLEEP) as made,
    ):
        yield made


@pytest.fixture
async def aclient(mock: respx.MockRouter) -> AsyncIterator[chutes.AsyncClient]:
    """A ``chutes.AsyncClient`` on the router that retries without sleeping."""
    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(mock.async_handler)) as http,
        chutes.AsyncClient(api_key=KEY, http_client=http, retry_policy=NO_SLEEP) as made,
    ):
        yield made


def _sync_call(client: chutes.Client, number: int) -> None:
    chute = client.chute(url=BASE)
    if number % 2:
        with chute.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream:
            stream.collect()
    else:
        chute.chat.completions.create(model="m", messages=MESSAGES)


async def _async_call(client: chutes.AsyncClient, number: int) -> None:
    chute = client.chute(url=BASE)
    if number % 2:
        stream = await chute.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with stream:
            await stream.collect()
    else:
        await chute.chat.completions.create(model="m", messages=MESSAGES)


# --- exact totals under concurrency -------------------------------------------------------


def test_totals_exact_after_threaded_calls(client: chutes.Client, mock: respx.MockRouter) -> None:
    """50 calls (half streamed) from 8 threads give exact counts and token totals."""
    mock.post(f"{BASE}/v1/chat/completions").mock(side_effect=_answer)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda n: _sync_call(client, n), range(CALLS)))
    assert _numbers(client.usage) == _expected_totals()


async def test_totals_exact_after_gathered_calls(
    aclient: chutes.AsyncClient, mock: respx.MockRouter
) -> None:
    """50 calls (half streamed) in asyncio.gather give exact counts and token totals."""
    mock.post(f"{BASE}/v1/chat/completions").mock(side_effect=_answer)
    await asyncio.gather(*(_async_call(aclient, n) for n in range(CALLS)))
    assert _numbers(aclient.usage) == _expected_totals()


def test_snapshots_read_during_threaded_calls_are_consistent(
    client: chutes.Client, mock: respx.MockRouter
) -> None:
    """Every snapshot read while threads call has matching totals and per-chute sums."""
    mock.post(f"{BASE}/v1/chat/completions").mock(side_effect=_answer)
    seen: list[chutes.UsageSnapshot] = []

    def call_and_read(number: int) -> None:
        _sync_call(client, number)
        seen.append(client.usage)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(call_and_read, range(CALLS)))
    for snap in seen:
        assert snap.total_tokens == snap.prompt_tokens + snap.completion_tokens
        assert _numbers(snap) == _numbers(snap.by_chute[BASE])


def test_streamed_tokens_counted(client: chutes.Client, mock: respx.MockRouter) -> None:
    """A stream's reported usage is added to the totals once it ends."""
    mock.post(f"{BASE}/v1/chat/completions").mock(side_effect=_answer)
    _sync_call(client, 1)
    usage = client.usage
    assert (usage.requests, usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (
        1,
        5,
        3,
        8,
    )


async def test_async_streamed_tokens_counted(
    aclient: chutes.AsyncClient, mock: respx.MockRouter
) -> None:
    """Async: a stream's reported usage is added to the totals once it ends."""
    mock.post(f"{BASE}/v1/chat/completions").mock(side_effect=_answer)
    await _async_call(aclient, 1)
    usage = aclient.usage
    assert (usage.requests, usage.total_tokens) == (1, 8)


def test_embeddings_tokens_counted(client: chutes.Client, mock: respx.MockRouter) -> None:
    """An embeddings call's usage is counted too."""
    mock.post(f"{BASE}/v1/embeddings").respond(
        200,
        json={
            "object": "list",
            "data": [{"index": 0, "embedding": [0.5]}],
            "usage": {"prompt_tokens": 4, "total_tokens": 4},
        },
    )
    client.chute(url=BASE).embeddings.create(input="Hi")
    assert (client.usage.prompt_tokens, client.usage.total_tokens) == (4, 4)


# --- failures and retries -----------------------------------------------------------------


def test_error_status_counted_as_failure(client: chutes.Client, mock: respx.MockRouter) -> None:
    """A 400 answer is one request and one failure, with no retry and no tokens."""
    mock.post(f"{BASE}/v1/chat/completions").respond(400, json={"detail": "bad"})
    with pytest.raises(chutes.BadRequestError):
        client.chute(url=BASE).chat.completions.create(model="m", messages=MESSAGES)
    assert _numbers(client.usage) == (1, 1, 0, 0, 0, 0)


async def test_async_error_status_counted_as_failure(
    aclient: chutes.AsyncClient, mock: respx.MockRouter
) -> None:
    """Async: a 400 answer is one request and one failure."""
    mock.post(f"{BASE}/v1/chat/completions").respond(400, json={"detail": "bad"})
    with pytest.raises(chutes.BadRequestError):
        await aclient.chute(url=BASE).chat.completions.create(model="m", messages=MESSAGES)
    assert _numbers(aclient.usage) == (1, 1, 0, 0, 0, 0)


def test_retries_counted(client: chutes.Client, mock: respx.MockRouter) -> None:
    """A call that succeeds after two 503s is one request with two retries, no failure."""
    mock.post(f"{BASE}/v1/chat/completions").mock(
        side_effect=[
            httpx.Response(503, json={"detail": "cold"}),
            httpx.Response(503, json={"detail": "cold"}),
            httpx.Response(200, json=_chat_body()),
        ]
    )
    client.chute(url=BASE).chat.completions.create(model="m", messages=MESSAGES)
    assert _numbers(client.usage) == (1, 0, 2, 11, 7, 18)


async def test_async_retries_counted(aclient: chutes.AsyncClient, mock: respx.MockRouter) -> None:
    """Async: a call that succeeds after one 429 is one request with one retry."""
    mock.post(f"{BASE}/v1/chat/completions").mock(
        side_effect=[
            httpx.Response(429, json={"detail": "busy"}),
            httpx.Response(200, json=_chat_body()),
        ]
    )
    await aclient.chute(url=BASE).chat.completions.create(model="m", messages=MESSAGES)
    assert _numbers(aclient.usage) == (1, 0, 1, 11, 7, 18)


def test_exhausted_retries_counted_as_one_failure(
    client: chutes.Client, mock: respx.MockRouter
) -> None:
    """A call that fails after all its retries is one request, one failure, two retries."""
    mock.post(f"{BASE}/v1/chat/completions").respond(500, json={"detail": "down"})
    with pytest.raises(chutes.InternalServerError):
        client.chute(url=BASE).chat.completions.create(model="m", messages=MESSAGES)
    assert _numbers(client.usage) == (1, 1, 2, 0, 0, 0)


def test_retried_stream_counted_once(client: chutes.Client, mock: respx.MockRouter) -> None:
    """A stream that opens after one 503 is one request with one retry and its tokens."""
    mock.post(f"{BASE}/v1/chat/completions").mock(
        side_effect=[
            httpx.Response(503, json={"detail": "cold"}),
            httpx.Response(200, headers=SSE, content=_stream_body()),
        ]
    )
    _sync_call(client, 1)
    assert _numbers(client.usage) == (1, 0, 1, 5, 3, 8)


def test_broken_stream_counted_as_failure(client: chutes.Client, mock: respx.MockRouter) -> None:
    """A stream that ends with the raw error line is one request and one failure."""
    body = _stream_body().split(b"data: [DONE]")[0].split(b"\n\n")[0] + b'\n\n{"error": "boom"}'
    mock.post(f"{BASE}/v1/chat/completions").respond(200, headers=SSE, content=body)
    with pytest.raises(chutes.StreamError, match="boom"):
        _sync_call(client, 1)
    usage = client.usage
    assert (usage.requests, usage.failures) == (1, 1)


# --- per chute and quota ------------------------------------------------------------------


def test_by_chute_keyed_by_base_url(client: chutes.Client, mock: respx.MockRouter) -> None:
    """Counters are kept per chute, keyed by each chute's base URL."""
    for url in (BASE, OTHER, LLM):
        mock.post(f"{url}/v1/chat/completions").mock(side_effect=_answer)
    _sync_call(client, 0)
    _sync_call(client, 1)
    client.chute(url=OTHER).chat.completions.create(model="m", messages=MESSAGES)
    client.llm.chat.completions.create(model="m", messages=MESSAGES)
    by_chute = client.usage.by_chute
    assert set(by_chute) == {BASE, OTHER, LLM}
    assert _numbers(by_chute[BASE]) == (2, 0, 0, 16, 10, 26)
    assert _numbers(by_chute[OTHER]) == (1, 0, 0, 11, 7, 18)
    assert _numbers(by_chute[LLM]) == (1, 0, 0, 11, 7, 18)


def test_by_chute_counts_failures_where_they_happened(
    client: chutes.Client, mock: respx.MockRouter
) -> None:
    """A failure is counted on the chute that failed, not on the others."""
    mock.post(f"{BASE}/v1/chat/completions").mock(side_effect=_answer)
    mock.post(f"{OTHER}/v1/chat/completions").respond(404, json={"detail": "No matching chute"})
    _sync_call(client, 0)
    with pytest.raises(chutes.NotFoundError):
        client.chute(url=OTHER).chat.completions.create(model="m", messages=MESSAGES)
    by_chute = client.usage.by_chute
    assert (by_chute[BASE].failures, by_chute[OTHER].failures) == (0, 1)


QUOTA_HEADERS = {
    "X-Chutes-Quota-Total": "1000",
    "X-Chutes-Quota-Used": "12.5",
    "X-Chutes-Quota-Remaining": "987.5",
}


def test_quota_from_headers(client: chutes.Client, mock: respx.MockRouter) -> None:
    """The X-Chutes-Quota-* headers of a response become ``usage.quota``."""
    mock.post(f"{BASE}/v1/chat/completions").respond(200, json=_chat_body(), headers=QUOTA_HEADERS)
    client.chute(url=BASE).chat.completions.create(model="m", messages=MESSAGES)
    assert client.usage.quota == chutes.Quota(total=1000, used=12.5, remaining=987.5)


def test_quota_none_before_any_report(client: chutes.Client, mock: respx.MockRouter) -> None:
    """Without quota headers ``usage.quota`` stays None."""
    mock.post(f"{BASE}/v1/chat/completions").respond(200, json=_chat_body())
    client.chute(url=BASE).chat.completions.create(model="m", messages=MESSAGES)
    assert client.usage.quota is None


def test_quota_is_the_last_reported(client: chutes.Client, mock: respx.MockRouter) -> None:
    """``usage.quota`` is the quota of the latest response that reported one."""
    mock.post(f"{BASE}/v1/chat/completions").mock(
        side_effect=[
            httpx.Response(200, json=_chat_body(), headers=QUOTA_HEADERS),
            httpx.Response(
                200,
                json=_chat_body(),
                headers={
                    "X-Chutes-Quota-Total": "1000",
                    "X-Chutes-Quota-Used": "30",
                    "X-Chutes-Quota-Remaining": "970",
                },
            ),
            httpx.Response(200, json=_chat_body()),
        ]
    )
    for _ in range(3):
        client.chute(url=BASE).chat.completions.create(model="m", messages=MESSAGES)
    assert client.usage.quota == chutes.Quota(total=1000, used=30, remaining=970)


def test_quota_from_streamed_response(client: chutes.Client, mock: respx.MockRouter) -> None:
    """A stream's response headers report the quota too."""
    mock.post(f"{BASE}/v1/chat/completions").respond(
        200, headers={**SSE, **QUOTA_HEADERS}, content=_stream_body()
    )
    _sync_call(client, 1)
    assert client.usage.quota == chutes.Quota(total=1000, used=12.5, remaining=987.5)


async def test_async_quota_from_headers(
    aclient: chutes.AsyncClient, mock: respx.MockRouter
) -> None:
    """Async: the X-Chutes-Quota-* headers become ``usage.quota``."""
    mock.post(f"{BASE}/v1/chat/completions").respond(200, json=_chat_body(), headers=QUOTA_HEADERS)
    await aclient.chute(url=BASE).chat.completions.create(model="m", messages=MESSAGES)
    assert aclient.usage.quota == chutes.Quota(total=1000, used=12.5, remaining=987.5)


def test_usage_starts_at_zero(client: chutes.Client) -> None:
    """A new client has no calls, no tokens, no chutes and no quota."""
    usage = client.usage
    assert _numbers(usage) == (0, 0, 0, 0, 0, 0)
    assert (dict(usage.by_chute), usage.quota) == ({}, None)

"""How streams end: at [DONE], without reading on, and when abandoned."""

from __future__ import annotations

import gc
import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

import chutes

BASE = "http://127.0.0.1:8000"
KEY = "stream-endings-key"


def _chunk(text: str, finish: str | None = None) -> bytes:
    payload = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


class _Body(httpx.SyncByteStream, httpx.AsyncByteStream):
    """Everything up to [DONE] in one piece, then a tail whose reading is recorded."""

    def __init__(self, seen: list[str]) -> None:
        self.seen = seen
        self.tail_read_after: list[int] = []

    def __iter__(self) -> Iterator[bytes]:
        yield _chunk("Hello", None) + _chunk(" there", "stop") + b"data: [DONE]\n\n"
        self.tail_read_after.append(len(self.seen))
        yield b": trailing comment\n\n"

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self:
            yield piece


def _transport(body: _Body) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=body)

    return httpx.MockTransport(handler)


def test_the_body_after_done_is_not_read() -> None:
    """Every piece before [DONE] reaches the caller, and nothing after [DONE] is waited for."""
    seen: list[str] = []
    body = _Body(seen)
    with (
        httpx.Client(transport=_transport(body)) as http,
        chutes.Client(api_key=KEY, http_client=http) as client,
    ):
        stream = client.chute(url=BASE).chat.completions.create(messages=[], stream=True)
        with stream:
            for piece in stream.iter_text():
                seen.append(piece)
        assert seen == ["Hello", " there"]
        assert body.tail_read_after == []


async def test_the_body_after_done_is_not_read_async() -> None:
    """The async stream also ends at [DONE] without reading on."""
    seen: list[str] = []
    body = _Body(seen)
    async with httpx.AsyncClient(transport=_transport(body)) as http:
        client = chutes.AsyncClient(api_key=KEY, http_client=http)
        stream = await client.chute(url=BASE).chat.completions.create(messages=[], stream=True)
        async with stream:
            async for piece in stream.iter_text():
                seen.append(piece)
        await client.aclose()
    assert seen == ["Hello", " there"]
    assert body.tail_read_after == []


def test_sync_stream_abandoned_without_with_is_closed_when_collected() -> None:
    """A stream iterated without `with` and dropped after a break gives its response back."""
    body = _Body([])
    with (
        httpx.Client(transport=_transport(body)) as http,
        chutes.Client(api_key=KEY, http_client=http) as client,
    ):
        stream = client.chute(url=BASE).chat.completions.create(messages=[], stream=True)
        raw = stream._raw
        assert raw is not None
        for _ in stream:
            break
        assert not raw.is_closed
        del stream
        gc.collect()
        assert raw.is_closed


async def test_async_stream_abandoned_unclosed_warns() -> None:
    """An async stream collected while its response is open warns with ResourceWarning."""
    body = _Body([])
    async with httpx.AsyncClient(transport=_transport(body)) as http:
        client = chutes.AsyncClient(api_key=KEY, http_client=http)
        stream = await client.chute(url=BASE).chat.completions.create(messages=[], stream=True)
        raw = stream._raw
        assert raw is not None
        with pytest.warns(ResourceWarning, match="async with"):
            del stream  # CPython frees it here: the last reference goes
        await raw.aclose()
        await client.aclose()

"""A stream that is only iterated keeps its text, not one object per piece."""

from __future__ import annotations

import gc
import json
import tracemalloc
from collections.abc import Iterator

import httpx

import chutes

PIECES = 200_000
BASE = "http://127.0.0.1:8000"


def _body() -> Iterator[bytes]:
    chunk = {"choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": None}]}
    event = b"data: " + json.dumps(chunk).encode() + b"\n\n"
    for _ in range(PIECES // 1000):
        yield event * 1000
    last = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    yield b"data: " + json.dumps(last).encode() + b"\n\ndata: [DONE]\n\n"


class _Stream(httpx.SyncByteStream):
    def __iter__(self) -> Iterator[bytes]:
        yield from _body()


def _handler(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=_Stream())


def test_iterating_keeps_the_text_and_not_each_piece() -> None:
    """After 200,000 one-character pieces, what the stream holds is about the text (200 kB),
    not 200,000 objects (about 10 MB as a list of strings)."""
    with chutes.Client(api_key="k", transport=httpx.MockTransport(_handler)) as client:
        stream = client.chute(url=BASE).chat.completions.create(messages=[], stream=True)
        gc.collect()
        tracemalloc.start()
        try:
            with stream:
                count = sum(1 for _ in stream.iter_text())
            gc.collect()
            held, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert count == PIECES
        assert held < 2 * 2**20
        assert len(stream.collect().choices[0].message.content or "") == PIECES

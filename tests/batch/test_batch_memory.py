"""100,000 requests from a generator in bounded memory, on both clients.

The server is an in-process httpx transport answering a canned chat completion (a socket
server would make this minutes long); it reads the process's resident memory when the
10,000th and the 100,000th requests arrive. Nothing the run keeps may grow with the
number of requests: only the first pass's set of ids (gone before the first request) is.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import chutes

COUNT = 100_000
FIRST = 10_000
BODY = json.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
).encode()


def rss_mb() -> float:
    """The process's resident memory now, in MiB (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


class Server:
    """Answers every request at once and notes the memory at two request counts."""

    def __init__(self) -> None:
        self.count = 0
        self.memory: dict[int, float] = {}
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.count += 1
            if self.count in (FIRST, COUNT):
                self.memory[self.count] = rss_mb()
        return httpx.Response(200, content=BODY, headers={"content-type": "application/json"})


def requests() -> Iterator[dict[str, Any]]:
    """The requests, made one at a time as they are read."""
    for index in range(COUNT):
        yield {
            "custom_id": f"req-{index:06d}",
            "model": "m",
            "messages": [{"role": "user", "content": f"question {index}"}],
        }


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_100000_generated_requests_in_bounded_memory(mode: str, tmp_path: Path) -> None:
    """Memory at the 100,000th request is within 10 MiB of memory at the 10,000th."""
    server = Server()
    output = tmp_path / "out.jsonl"
    url = "http://127.0.0.1:9"
    if mode == "sync":
        with chutes.Client(api_key="k", transport=httpx.MockTransport(server)) as client:
            report = client.chute(url=url).batch.run(requests(), output, concurrency=16)
    else:

        async def handler(request: httpx.Request) -> httpx.Response:
            return server(request)

        async def main() -> chutes.BatchReport:
            transport = httpx.MockTransport(handler)
            async with chutes.AsyncClient(api_key="k", transport=transport) as client:
                return await client.chute(url=url).batch.run(requests(), output, concurrency=16)

        report = asyncio.run(main())
    assert (report.total, report.succeeded) == (COUNT, COUNT)
    with output.open("rb") as file:
        assert sum(1 for _ in file) == COUNT
    assert server.memory[COUNT] - server.memory[FIRST] < 10.0

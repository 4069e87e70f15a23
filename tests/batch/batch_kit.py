"""What the batch tests share: requests, reading the output, and a runner that drives a
batch through the blocking client or the asyncio one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from batch_server import BatchServer

import chutes

KEY = "cpk_0123456789abcdef0123456789abcdef.0123456789abcdef0123456789abcdef.BATCHkey123"
FIELDS = ["custom_id", "ok", "response", "error", "usage", "attempts", "latency_ms"]


def chat_lines(count: int, *, prefix: str = "q", ids: bool = True) -> list[dict[str, Any]]:
    """``count`` requests in the short chat form; request ``i`` says ``f"{prefix}{i}"``."""
    lines = []
    for index in range(count):
        line: dict[str, Any] = {
            "model": "m",
            "messages": [{"role": "user", "content": f"{prefix}{index}"}],
        }
        if ids:
            line["custom_id"] = f"id-{index}"
        lines.append(line)
    return lines


def read_output(path: Path) -> list[dict[str, Any]]:
    """The output file's lines, parsed (each must be whole JSON)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


class Runner:
    """Runs a batch on a fresh client of one kind (``sync`` or ``async``) on the server.

    The client sends to the server for ``chute(url=...)`` and as its gateway
    (``llm_url``), and never sleeps between retries unless a test asks.
    """

    def __init__(self, mode: str, server: BatchServer) -> None:
        self.mode = mode
        self.server = server

    def _options(self, options: dict[str, Any]) -> dict[str, Any]:
        return {
            "api_key": KEY,
            "llm_url": self.server.url,
            "retry_policy": chutes.RetryPolicy(initial_delay=0.0),
            **options,
        }

    def _chute(self, client: Any, gateway: bool) -> Any:
        return client.llm if gateway else client.chute(url=self.server.url)

    def run(
        self,
        requests: Any,
        output: Path,
        *,
        gateway: bool = False,
        client: dict[str, Any] | None = None,
        **options: Any,
    ) -> chutes.BatchReport:
        """``batch.run(requests, output, **options)``."""
        made = self._options(client or {})
        if self.mode == "sync":
            with chutes.Client(**made) as sync_client:
                return self._chute(sync_client, gateway).batch.run(requests, output, **options)

        async def main() -> chutes.BatchReport:
            async with chutes.AsyncClient(**made) as async_client:
                chute = self._chute(async_client, gateway)
                return await chute.batch.run(requests, output, **options)

        return asyncio.run(main())

    def stream(
        self, requests: Any, *, gateway: bool = False, **options: Any
    ) -> tuple[list[chutes.BatchResult], chutes.BatchReport]:
        """Every result of ``batch.stream(requests, **options)``, and the report."""
        made = self._options({})
        if self.mode == "sync":
            with chutes.Client(**made) as sync_client:
                chute = self._chute(sync_client, gateway)
                with chute.batch.stream(requests, **options) as results:
                    return list(results), results.report

        async def main() -> tuple[list[chutes.BatchResult], chutes.BatchReport]:
            async with chutes.AsyncClient(**made) as async_client:
                chute = self._chute(async_client, gateway)
                async with chute.batch.stream(requests, **options) as results:
                    return [result async for result in results], results.report

        return asyncio.run(main())

    def stream_first(self, requests: Any, **options: Any) -> chutes.BatchResult | None:
        """The first result of ``batch.stream(requests, **options)``; the stream is left
        there (closed by its ``with`` block)."""
        made = self._options({})
        if self.mode == "sync":
            with chutes.Client(**made) as sync_client:
                chute = self._chute(sync_client, False)
                with chute.batch.stream(requests, **options) as results:
                    return _first(results)

        async def main() -> chutes.BatchResult | None:
            async with chutes.AsyncClient(**made) as async_client:
                chute = self._chute(async_client, False)
                async with chute.batch.stream(requests, **options) as results:
                    async for result in results:
                        return result
            return None

        return asyncio.run(main())


def _first(results: Any) -> Any:
    for result in results:
        return result
    return None


def ids_of(lines: Iterable[dict[str, Any]]) -> list[str]:
    """The ``custom_id`` of each line."""
    return [line["custom_id"] for line in lines]

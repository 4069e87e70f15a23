"""One benchmark function per (scenario, client); each runs in a fresh interpreter.

The runner (``benchmarks/run.py``) calls::

    python benchmarks/clients.py SCENARIO CLIENT --port N [--count ...] [--profile FILE]

and reads the last stdout line, ``RESULT {json}``. Only the standard library is imported at
module level, so a child imports exactly the client it measures. CPU is
``resource.getrusage(RUSAGE_SELF)`` user + sys, taken after the warm-up so start-up and
imports are excluded (except in ``cold``, which measures start-up on purpose: it prints
``READY`` right after its first successful call and the runner times spawn -> ``READY``).

Every function checks what it received (the number of pieces, the text, the image size), so
a client cannot look fast by doing less work.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

MODEL = "deepseek-ai/DeepSeek-V3-0324"
MESSAGES = [{"role": "user", "content": "Tell a short story about a lighthouse keeper."}]
MAX_TOKENS = 256
TEMPERATURE = 0.7
API_KEY = "bench"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
BODY: dict[str, Any] = {
    "model": MODEL,
    "messages": MESSAGES,
    "max_tokens": MAX_TOKENS,
    "temperature": TEMPERATURE,
}
STREAM_BODY: dict[str, Any] = {**BODY, "stream": True, "stream_options": {"include_usage": True}}
IMAGE_PROMPT = "a lighthouse at dusk"
IMAGE_BODY: dict[str, Any] = {
    "model": "flux",
    "prompt": IMAGE_PROMPT,
    "response_format": "b64_json",
}
IMAGE_BYTES = 2 * 1024 * 1024 * 3 // 4  # what the server's 2 MB of base64 decodes to
TEXT_PREFIX = "The lighthouse keeper climbed"
CHUNKS_HEADER = "x-bench-chunks"


class Ctx:
    """The command line of one child."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.port: int = args.port
        self.base = f"http://127.0.0.1:{args.port}"
        self.count: int = args.count
        self.warmup: int = args.warmup
        self.concurrency: int = args.concurrency
        self.profile: str | None = args.profile


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def peak_rss_mb() -> float:
    # Linux reports KiB, macOS bytes.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


class Meter:
    """CPU and wall time of the measured part, optionally under cProfile."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.cpu = 0.0
        self.wall = 0.0
        self._profiler: Any = None

    def __enter__(self) -> Meter:
        if self.ctx.profile:
            import cProfile

            self._profiler = cProfile.Profile()
            self._profiler.enable()
        self._cpu0 = cpu_seconds()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._t0
        self.cpu = cpu_seconds() - self._cpu0
        if self._profiler is not None:
            self._profiler.disable()
            _write_profile(self._profiler, self.ctx.profile)


def _write_profile(profiler: Any, path: str | None) -> None:
    """Top 15 by tottime overall, then the top 15 of chutes' own functions."""
    import io
    import pstats

    def table(*restrictions: Any) -> str:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(*restrictions)
        lines = out.getvalue().splitlines()
        keep = [ln for ln in lines if ln.strip() and not ln.startswith("   Ordered by")]
        if not any("(" in ln and ":" in ln for ln in keep[3:]):
            return ""
        return "\n".join(keep) + "\n"

    text = "All functions:\n\n```\n" + table(15) + "```\n"
    own = table(r"[/\\]chutes[/\\]_", 15)
    if own:
        text += "\nchutes' own functions:\n\n```\n" + own + "```\n"
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)


def _check_text(text: str | None) -> None:
    if not text or not text.startswith(TEXT_PREFIX):
        raise AssertionError(f"unexpected completion text: {text!r:.80}")


def _sequential(ctx: Ctx, call: Callable[[], str | None]) -> dict[str, Any]:
    """S1: warm up, then ``count`` sequential calls; CPU per call and calls per second."""
    for _ in range(ctx.warmup):
        _check_text(call())
    with Meter(ctx) as m:
        for _ in range(ctx.count):
            call()
    _check_text(call())
    return {
        "cpu_us_per_req": m.cpu / ctx.count * 1e6,
        "req_per_s": ctx.count / m.wall,
        "cpu_s": m.cpu,
        "wall_s": m.wall,
        "requests": ctx.count,
    }


# --- S1: sequential non-streaming chat completions ------------------------------------


def s1_httpx(ctx: Ctx) -> dict[str, Any]:
    import httpx

    url = ctx.base + "/v1/chat/completions"
    with httpx.Client() as http:

        def call() -> str | None:
            r = http.post(url, json=BODY, headers=AUTH)
            if r.status_code != 200:
                raise AssertionError(r.status_code)
            data = json.loads(r.content)
            return data["choices"][0]["message"]["content"]

        return _sequential(ctx, call)


def _chat_calls(ctx: Ctx, chute: Any) -> dict[str, Any]:
    """S1's sequential helper calls on a chute handle (or the OpenAI SDK's client)."""
    create = chute.chat.completions.create

    def call() -> str | None:
        reply = create(
            model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS, temperature=TEMPERATURE
        )
        return reply.choices[0].message.content

    return _sequential(ctx, call)


def s1_chutes_helper(ctx: Ctx) -> dict[str, Any]:
    import chutes

    with chutes.Client(api_key=API_KEY) as client:
        return _chat_calls(ctx, client.chute(url=ctx.base))


def s1_chutes_any_cord(ctx: Ctx) -> dict[str, Any]:
    import chutes

    with chutes.Client(api_key=API_KEY) as client:
        chute = client.chute(url=ctx.base)

        def call() -> str | None:
            data = chute.post("/any", json=BODY).json()
            return data["choices"][0]["message"]["content"]

        return _sequential(ctx, call)


def s1_openai(ctx: Ctx) -> dict[str, Any]:
    import openai

    with openai.OpenAI(base_url=ctx.base + "/v1", api_key=API_KEY) as client:
        return _chat_calls(ctx, client)  # the SDK's create takes the same arguments


# --- E2EE: the same call, in the clear and end-to-end encrypted -----------------------
# The server plays the instance (real ML-KEM-768, see server.py); the chute is addressed by
# id, so the clear call goes to {api}/chutes/{id}/v1/chat/completions and the encrypted one
# to {api}/e2e/invoke. Both use the same client code; only e2ee= differs.

E2EE_CHUTE_ID = "0b7e2a2e-7d64-5d6b-9a0f-3c1e2f4a5b6c"


def _e2ee_calls(ctx: Ctx, e2ee: bool) -> dict[str, Any]:
    import chutes

    with chutes.Client(api_key=API_KEY, api_url=ctx.base, e2ee=e2ee) as client:
        return _chat_calls(ctx, client.chute(id=E2EE_CHUTE_ID))


def e2ee_plain(ctx: Ctx) -> dict[str, Any]:
    return _e2ee_calls(ctx, False)


def e2ee_encrypted(ctx: Ctx) -> dict[str, Any]:
    return _e2ee_calls(ctx, True)


def _e2ee_stream(ctx: Ctx, e2ee: bool) -> dict[str, Any]:
    import chutes

    with chutes.Client(api_key=API_KEY, api_url=ctx.base, e2ee=e2ee) as client:
        return _text_stream(ctx, client.chute(id=E2EE_CHUTE_ID))


def e2ee_stream_plain(ctx: Ctx) -> dict[str, Any]:
    return _e2ee_stream(ctx, False)


def e2ee_stream_encrypted(ctx: Ctx) -> dict[str, Any]:
    return _e2ee_stream(ctx, True)


# --- S2: one long stream of chat chunks -----------------------------------------------


def _streamed(ctx: Ctx, run: Callable[[int], int]) -> dict[str, Any]:
    """S2: a short warm-up stream, then one stream of ``count`` content chunks."""
    warm = min(500, ctx.count)
    got = run(warm)
    if got != warm:
        raise AssertionError(f"warm-up stream: {got} pieces, expected {warm}")
    with Meter(ctx) as m:
        got = run(ctx.count)
    if got != ctx.count:
        raise AssertionError(f"stream: {got} pieces, expected {ctx.count}")
    return {
        "cpu_us_per_chunk": m.cpu / ctx.count * 1e6,
        "chunks_per_s": ctx.count / m.wall,
        "cpu_s": m.cpu,
        "wall_s": m.wall,
        "chunks": ctx.count,
    }


def _piece(payload: dict[str, Any]) -> str | None:
    choices = payload["choices"]
    return choices[0]["delta"].get("content") if choices else None


def s2_httpx_lines(ctx: Ctx) -> dict[str, Any]:
    import httpx

    url = ctx.base + "/v1/chat/completions"
    with httpx.Client() as http:

        def run(n: int) -> int:
            pieces = 0
            headers = {**AUTH, CHUNKS_HEADER: str(n)}
            with http.stream("POST", url, json=STREAM_BODY, headers=headers) as r:
                if r.status_code != 200:
                    raise AssertionError(r.status_code)
                for line in r.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].lstrip()
                    if data == "[DONE]":
                        break
                    if _piece(json.loads(data)):
                        pieces += 1
            return pieces

        return _streamed(ctx, run)


def s2_httpx_sse(ctx: Ctx) -> dict[str, Any]:
    import httpx
    from httpx_sse import connect_sse

    url = ctx.base + "/v1/chat/completions"
    with httpx.Client() as http:

        def run(n: int) -> int:
            pieces = 0
            headers = {**AUTH, CHUNKS_HEADER: str(n)}
            with connect_sse(http, "POST", url, json=STREAM_BODY, headers=headers) as source:
                for event in source.iter_sse():
                    if event.data == "[DONE]":
                        break
                    if _piece(json.loads(event.data)):
                        pieces += 1
            return pieces

        return _streamed(ctx, run)


def s2_httpx_sse_cattrs(ctx: Ctx) -> dict[str, Any]:
    import cattrs
    import httpx
    from httpx_sse import connect_sse

    from chutes import ChatCompletionChunk

    # cattrs on its own: a converter with no hooks at all, on chutes' chunk model.
    structure = cattrs.Converter(detailed_validation=False).get_structure_hook(ChatCompletionChunk)
    url = ctx.base + "/v1/chat/completions"
    with httpx.Client() as http:

        def run(n: int) -> int:
            pieces = 0
            headers = {**AUTH, CHUNKS_HEADER: str(n)}
            with connect_sse(http, "POST", url, json=STREAM_BODY, headers=headers) as source:
                for event in source.iter_sse():
                    if event.data == "[DONE]":
                        break
                    chunk = structure(json.loads(event.data), ChatCompletionChunk)
                    if chunk.choices and chunk.choices[0].delta.content:
                        pieces += 1
            return pieces

        return _streamed(ctx, run)


def s2_chutes_typed(ctx: Ctx) -> dict[str, Any]:
    import chutes

    with chutes.Client(api_key=API_KEY) as client:
        chute = client.chute(url=ctx.base)

        def run(n: int) -> int:
            pieces = 0
            with chute.chat.completions.create(
                model=MODEL,
                messages=MESSAGES,
                max_tokens=MAX_TOKENS,
                temperature=TEMPERATURE,
                stream=True,
                extra_headers={CHUNKS_HEADER: str(n)},
            ) as stream:
                for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content:
                        pieces += 1
            return pieces

        return _streamed(ctx, run)


def _text_stream(ctx: Ctx, chute: Any) -> dict[str, Any]:
    """S2's ``iter_text()`` stream on a chute handle."""
    create = chute.chat.completions.create

    def run(n: int) -> int:
        pieces = 0
        with create(
            model=MODEL,
            messages=MESSAGES,
            max_tokens=MAX_TOKENS,
            temperature=TEMPERATURE,
            stream=True,
            extra_headers={CHUNKS_HEADER: str(n)},
        ) as stream:
            for _piece_text in stream.iter_text():
                pieces += 1
        return pieces

    return _streamed(ctx, run)


def s2_chutes_iter_text(ctx: Ctx) -> dict[str, Any]:
    import chutes

    with chutes.Client(api_key=API_KEY) as client:
        return _text_stream(ctx, client.chute(url=ctx.base))


def s2_openai(ctx: Ctx) -> dict[str, Any]:
    import openai

    with openai.OpenAI(base_url=ctx.base + "/v1", api_key=API_KEY) as client:

        def run(n: int) -> int:
            pieces = 0
            with client.chat.completions.create(
                model=MODEL,
                messages=MESSAGES,
                max_tokens=MAX_TOKENS,
                temperature=TEMPERATURE,
                stream=True,
                stream_options={"include_usage": True},
                extra_headers={CHUNKS_HEADER: str(n)},
            ) as stream:
                for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content:
                        pieces += 1
            return pieces

        return _streamed(ctx, run)


# --- S3: async, many requests in flight -----------------------------------------------


def _concurrent(ctx: Ctx, make: Callable[[], Any]) -> dict[str, Any]:
    """S3: ``make()`` -> (async call, async close); warm one wave, then ``count`` calls."""
    import asyncio

    async def main() -> dict[str, Any]:
        call, close = await make()
        sem = asyncio.Semaphore(ctx.concurrency)

        async def one() -> str | None:
            async with sem:
                return await call()

        try:
            # One wave opens the pool's connections; then the measured run.
            warm = await asyncio.gather(*(one() for _ in range(ctx.concurrency)))
            for text in warm:
                _check_text(text)
            with Meter(ctx) as m:
                texts = await asyncio.gather(*(one() for _ in range(ctx.count)))
            if len(texts) != ctx.count:
                raise AssertionError("lost requests")
            _check_text(texts[-1])
        finally:
            await close()
        return {
            "wall_ms": m.wall * 1e3,
            "cpu_ms": m.cpu * 1e3,
            "cpu_us_per_req": m.cpu / ctx.count * 1e6,
            "req_per_s": ctx.count / m.wall,
            "requests": ctx.count,
            "concurrency": ctx.concurrency,
        }

    result = asyncio.run(main())
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def s3_httpx(ctx: Ctx) -> dict[str, Any]:
    import httpx

    url = ctx.base + "/v1/chat/completions"

    async def make() -> Any:
        http = httpx.AsyncClient()

        async def call() -> str | None:
            r = await http.post(url, json=BODY, headers=AUTH)
            if r.status_code != 200:
                raise AssertionError(r.status_code)
            return json.loads(r.content)["choices"][0]["message"]["content"]

        return call, http.aclose

    return _concurrent(ctx, make)


def s3_chutes_helper(ctx: Ctx) -> dict[str, Any]:
    import chutes

    async def make() -> Any:
        client = chutes.AsyncClient(api_key=API_KEY)
        create = client.chute(url=ctx.base).chat.completions.create

        async def call() -> str | None:
            reply = await create(
                model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS, temperature=TEMPERATURE
            )
            return reply.choices[0].message.content

        return call, client.aclose

    return _concurrent(ctx, make)


def s3_chutes_any_cord(ctx: Ctx) -> dict[str, Any]:
    import chutes

    async def make() -> Any:
        client = chutes.AsyncClient(api_key=API_KEY)
        chute = client.chute(url=ctx.base)

        async def call() -> str | None:
            data = (await chute.post("/any", json=BODY)).json()
            return data["choices"][0]["message"]["content"]

        return call, client.aclose

    return _concurrent(ctx, make)


def s3_openai(ctx: Ctx) -> dict[str, Any]:
    import openai

    async def make() -> Any:
        client = openai.AsyncOpenAI(base_url=ctx.base + "/v1", api_key=API_KEY)
        create = client.chat.completions.create

        async def call() -> str | None:
            reply = await create(
                model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS, temperature=TEMPERATURE
            )
            return reply.choices[0].message.content

        return call, client.close

    return _concurrent(ctx, make)


# --- S5: a 2 MB base64 image ----------------------------------------------------------


def _images(ctx: Ctx, call: Callable[[], bytes]) -> dict[str, Any]:
    for _ in range(ctx.warmup):
        if len(call()) != IMAGE_BYTES:
            raise AssertionError("wrong image size")
    with Meter(ctx) as m:
        for _ in range(ctx.count):
            call()
    if len(call()) != IMAGE_BYTES:
        raise AssertionError("wrong image size")
    return {
        "cpu_ms_per_call": m.cpu / ctx.count * 1e3,
        "calls_per_s": ctx.count / m.wall,
        "cpu_s": m.cpu,
        "wall_s": m.wall,
        "calls": ctx.count,
    }


def s5_httpx(ctx: Ctx) -> dict[str, Any]:
    import base64

    import httpx

    url = ctx.base + "/v1/images/generations"
    with httpx.Client() as http:

        def call() -> bytes:
            r = http.post(url, json=IMAGE_BODY, headers=AUTH)
            if r.status_code != 200:
                raise AssertionError(r.status_code)
            return base64.b64decode(json.loads(r.content)["data"][0]["b64_json"])

        return _images(ctx, call)


def s5_chutes(ctx: Ctx) -> dict[str, Any]:
    import chutes

    with chutes.Client(api_key=API_KEY) as client:
        images = client.chute(url=ctx.base).images

        def call() -> bytes:
            result = images.generate(model="flux", prompt=IMAGE_PROMPT, response_format="b64_json")
            return result.data[0].bytes()

        return _images(ctx, call)


def s5_openai(ctx: Ctx) -> dict[str, Any]:
    import base64

    import openai

    with openai.OpenAI(base_url=ctx.base + "/v1", api_key=API_KEY) as client:

        def call() -> bytes:
            result = client.images.generate(
                model="flux", prompt=IMAGE_PROMPT, response_format="b64_json"
            )
            assert result.data is not None
            assert result.data[0].b64_json is not None
            return base64.b64decode(result.data[0].b64_json)

        return _images(ctx, call)


# --- S6: a batch of many requests, written to a results file ----------------------------


def batch_requests(count: int) -> list[dict[str, Any]]:
    """``count`` requests in the short chat form, each its own (distinct ids and bodies)."""
    return [
        {
            "custom_id": f"req-{index}",
            "model": MODEL,
            "messages": [{"role": "user", "content": f"Tell story {index} about a lighthouse."}],
            "max_tokens": MAX_TOKENS,
        }
        for index in range(count)
    ]


def _batched(ctx: Ctx, run: Callable[[list[dict[str, Any]], str], None]) -> dict[str, Any]:
    """S6: ``run(requests, path)`` sends every request at ``concurrency`` and writes one
    JSONL line per result to ``path``. First the first ``warmup`` requests (which also show
    the peak memory of a smaller run), then all ``count``, measured; the lines are checked
    after each. The requests are made before either run, so the memory they hold is in
    both peaks and the growth is the client's own."""
    import shutil
    import tempfile

    requests = batch_requests(ctx.count)
    folder = tempfile.mkdtemp(prefix="chutes-bench-")
    try:
        small = os.path.join(folder, "small.jsonl")
        run(requests[: ctx.warmup], small)
        _check_lines(small, ctx.warmup)
        peak_small = peak_rss_mb()
        path = os.path.join(folder, "results.jsonl")
        with Meter(ctx) as m:
            run(requests, path)
        _check_lines(path, ctx.count)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    peak = peak_rss_mb()
    return {
        "wall_ms": m.wall * 1e3,
        "cpu_ms": m.cpu * 1e3,
        "req_per_s": ctx.count / m.wall,
        "peak_rss_mb": peak,
        "peak_rss_small_mb": peak_small,
        "rss_growth_mb": peak - peak_small,
        "requests": ctx.count,
        "small": ctx.warmup,
        "concurrency": ctx.concurrency,
    }


def _check_lines(path: str, count: int) -> None:
    """Every request has one line, answered with the story."""
    seen = set()
    with open(path, encoding="utf-8") as file:
        for line in file:
            data = json.loads(line)
            seen.add(data["custom_id"])
            if not data["ok"]:
                raise AssertionError(f"a request failed: {line[:200]}")
            _check_text(data["response"]["body"]["choices"][0]["message"]["content"])
    if len(seen) != count:
        raise AssertionError(f"{len(seen)} results for {count} requests")


def s6_httpx_gather(ctx: Ctx) -> dict[str, Any]:
    """The hand-written loop: asyncio.gather over every request, a semaphore for the
    concurrency, raw httpx, and a JSONL line per result."""
    import asyncio

    import httpx

    url = ctx.base + "/v1/chat/completions"

    def run(requests: list[dict[str, Any]], path: str) -> None:
        async def main() -> None:
            sem = asyncio.Semaphore(ctx.concurrency)
            # Every connection kept alive, as many as requests in flight (the defaults keep
            # only 20, and opening new ones would slow the floor down).
            limits = httpx.Limits(
                max_connections=ctx.concurrency, max_keepalive_connections=ctx.concurrency
            )
            async with httpx.AsyncClient(limits=limits) as http:
                with open(path, "w", encoding="utf-8") as out:

                    async def one(request: dict[str, Any]) -> None:
                        body = {k: v for k, v in request.items() if k != "custom_id"}
                        async with sem:
                            r = await http.post(url, json=body, headers=AUTH)
                        data = json.loads(r.content)
                        line = {
                            "custom_id": request["custom_id"],
                            "ok": r.status_code == 200,
                            "response": {"status_code": r.status_code, "body": data},
                        }
                        out.write(json.dumps(line) + "\n")

                    await asyncio.gather(*(one(request) for request in requests))

        asyncio.run(main())

    return _batched(ctx, run)


def s6_chutes_gather(ctx: Ctx) -> dict[str, Any]:
    """The same hand-written loop over chutes' AsyncClient instead of raw httpx: what is
    left of the difference is the batch runner's own cost."""
    import asyncio

    import chutes

    def run(requests: list[dict[str, Any]], path: str) -> None:
        async def main() -> None:
            sem = asyncio.Semaphore(ctx.concurrency)
            async with chutes.AsyncClient(api_key=API_KEY) as client:
                chute = client.chute(url=ctx.base)
                with open(path, "w", encoding="utf-8") as out:

                    async def one(request: dict[str, Any]) -> None:
                        body = {k: v for k, v in request.items() if k != "custom_id"}
                        async with sem:
                            r = await chute.post("/v1/chat/completions", json=body)
                        line = {
                            "custom_id": request["custom_id"],
                            "ok": r.status_code == 200,
                            "response": {"status_code": r.status_code, "body": r.json()},
                        }
                        out.write(json.dumps(line) + "\n")

                    await asyncio.gather(*(one(request) for request in requests))

        asyncio.run(main())

    return _batched(ctx, run)


def s6_chutes_batch(ctx: Ctx) -> dict[str, Any]:
    """chutes' batch runner on the asyncio client: ``batch.run(requests, path)``."""
    import asyncio

    import chutes

    def run(requests: list[dict[str, Any]], path: str) -> None:
        async def main() -> None:
            async with chutes.AsyncClient(api_key=API_KEY) as client:
                batch = client.chute(url=ctx.base).batch
                report = await batch.run(requests, path, concurrency=ctx.concurrency)
            if report.succeeded != len(requests):
                raise AssertionError(repr(report))

        asyncio.run(main())

    return _batched(ctx, run)


def s6_chutes_batch_sync(ctx: Ctx) -> dict[str, Any]:
    """chutes' batch runner on the blocking client (threads)."""
    import chutes

    def run(requests: list[dict[str, Any]], path: str) -> None:
        with chutes.Client(api_key=API_KEY) as client:
            batch = client.chute(url=ctx.base).batch
            report = batch.run(requests, path, concurrency=ctx.concurrency)
        if report.succeeded != len(requests):
            raise AssertionError(repr(report))

    return _batched(ctx, run)


# --- cold start: interpreter start to the first reply ---------------------------------
# The runner times spawn -> "READY"; these functions import inside on purpose.


def cold_httpx(ctx: Ctx) -> dict[str, Any]:
    import httpx

    with httpx.Client() as http:
        r = http.post(ctx.base + "/v1/chat/completions", json=BODY, headers=AUTH)
        _check_text(json.loads(r.content)["choices"][0]["message"]["content"])
        _ready()
    return {}


def cold_chutes(ctx: Ctx) -> dict[str, Any]:
    import chutes

    with chutes.Client(api_key=API_KEY) as client:
        reply = client.chute(url=ctx.base).chat.completions.create(
            model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS, temperature=TEMPERATURE
        )
        _check_text(reply.choices[0].message.content)
        _ready()
    return {}


def cold_openai(ctx: Ctx) -> dict[str, Any]:
    import openai

    with openai.OpenAI(base_url=ctx.base + "/v1", api_key=API_KEY) as client:
        reply = client.chat.completions.create(
            model=MODEL,
            messages=MESSAGES,
            max_tokens=MAX_TOKENS,
            temperature=TEMPERATURE,
        )
        _check_text(reply.choices[0].message.content)
        _ready()
    return {}


def _ready() -> None:
    sys.stdout.write("READY\n")
    sys.stdout.flush()


BENCHMARKS: dict[tuple[str, str], Callable[[Ctx], dict[str, Any]]] = {
    ("s1", "httpx"): s1_httpx,
    ("s1", "chutes-helper"): s1_chutes_helper,
    ("s1", "chutes-any-cord"): s1_chutes_any_cord,
    ("s1", "openai"): s1_openai,
    ("s2", "httpx-lines"): s2_httpx_lines,
    ("s2", "httpx-sse"): s2_httpx_sse,
    ("s2", "httpx-sse-cattrs"): s2_httpx_sse_cattrs,
    ("s2", "chutes-typed"): s2_chutes_typed,
    ("s2", "chutes-iter_text"): s2_chutes_iter_text,
    ("s2", "openai"): s2_openai,
    ("s3", "httpx"): s3_httpx,
    ("s3", "chutes-helper"): s3_chutes_helper,
    ("s3", "chutes-any-cord"): s3_chutes_any_cord,
    ("s3", "openai"): s3_openai,
    ("s5", "httpx"): s5_httpx,
    ("s5", "chutes"): s5_chutes,
    ("s5", "openai"): s5_openai,
    ("s6", "httpx-gather"): s6_httpx_gather,
    ("s6", "chutes-gather"): s6_chutes_gather,
    ("s6", "chutes-batch"): s6_chutes_batch,
    ("s6", "chutes-batch-sync"): s6_chutes_batch_sync,
    ("e2ee", "httpx"): s1_httpx,
    ("e2ee", "chutes-clear"): e2ee_plain,
    ("e2ee", "chutes-e2ee"): e2ee_encrypted,
    ("e2ee-stream", "httpx-lines"): s2_httpx_lines,
    ("e2ee-stream", "chutes-clear"): e2ee_stream_plain,
    ("e2ee-stream", "chutes-e2ee"): e2ee_stream_encrypted,
    ("cold", "httpx"): cold_httpx,
    ("cold", "chutes"): cold_chutes,
    ("cold", "openai"): cold_openai,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="run one benchmark in this process")
    parser.add_argument("scenario")
    parser.add_argument("client")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, default=1000, help="requests, chunks or calls")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--cpu", type=int, help="pin this process to one CPU (Linux)")
    parser.add_argument("--profile", help="write the top 15 functions by tottime to this file")
    args = parser.parse_args(argv)
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    bench = BENCHMARKS.get((args.scenario, args.client))
    if bench is None:
        parser.error(f"no benchmark for {args.scenario} / {args.client}")
    result = bench(Ctx(args))
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()

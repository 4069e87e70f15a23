"""A fast local HTTP/1.1 server for the benchmarks, run in its own process.

Usage (the runner does this for you)::

    python benchmarks/server.py            # prints "PORT <n>" on stdout, serves until stopped

It listens on 127.0.0.1 (port 0 unless ``--port``), keeps connections alive, and answers
with bytes encoded once at start-up, so that the client, not the server, is measured:

* ``POST /v1/chat/completions``: a ~1 KB vLLM-style chat completion (``Content-Length``);
  with ``"stream": true`` in the body, a chunked ``text/event-stream`` of N content chunks
  (~250 B each) plus the role chunk, the finish chunk, a usage chunk and ``data: [DONE]``.
  N comes from the ``x-bench-chunks`` header or the ``chunks`` query parameter (default
  20,000). The framed body for each N is built once and cached; it is written in HTTP chunks
  of ~64 KB.
* ``POST /any``: the same 1 KB JSON (a custom cord).
* ``POST /v1/images/generations``: a JSON body carrying a ~2 MB base64 ``b64_json`` image.
* ``GET /health``: ``ok``.
* ``GET /e2e/instances/{id}`` and ``POST /e2e/invoke``: the platform's end-to-end encryption
  (PLATFORM.md), played by the testing kit's E2EE instance with real ML-KEM-768 keys (one
  instance, 100,000 nonces per fetch, so the client's fetches stay out of the measurement):
  the decrypted call is answered like ``/v1/chat/completions`` (the stream's events each
  encrypted, as a real instance does). Needs the ``[e2ee]`` extra; imported on first use.

Parsing is hand-written (request line and headers up to ``\\r\\n\\r\\n``, then a
``Content-Length`` or chunked body) on an asyncio ``Protocol``; pipelined requests are
answered in order. The server exits on SIGTERM/SIGINT, when its stdin reaches EOF (the runner
holds the other end of that pipe, so the server stops when the runner dies), and when its
parent process changes.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import re
import signal
import stat
import sys
from typing import Any
from urllib.parse import parse_qs

DEFAULT_CHUNKS = 20_000
MAX_CHUNKS = 2_000_000
HTTP_CHUNK = 64 * 1024  # bytes of SSE per HTTP chunk on the wire
IMAGE_B64_BYTES = 2 * 1024 * 1024  # size of the base64 text (decoded: ~1.5 MB)
MAX_HEADER = 64 * 1024
MAX_BODY = 16 * 1024 * 1024

MODEL = "deepseek-ai/DeepSeek-V3-0324"
CREATED = 1_750_000_000
COMPLETION_ID = "chatcmpl-" + "5f0c2a9e1b7d4c3f8a6e2d1c0b9a8f7e"
WORDS = [
    " the",
    " lighthouse",
    " keeper",
    " watched",
    " waves",
    " roll",
    " over",
    " black",
    " rocks,",
    " counting",
    " ships",
    " that",
    " never",
    " came",
    " home",
    ".",
]

_STREAM_TRUE = re.compile(rb'"stream"\s*:\s*true')
E2EE_CHUTE_ID = "0b7e2a2e-7d64-5d6b-9a0f-3c1e2f4a5b6c"
E2EE_NONCES = 100_000
_BY_ID = f"/chutes/{E2EE_CHUTE_ID}"


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def chat_completion_bytes() -> bytes:
    """A vLLM-style chat completion of about 1 KB."""
    content = (
        "The lighthouse keeper climbed the spiral stairs each evening at dusk, lit the great "
        "lamp, and wrote the names of passing ships in a leather logbook. One stormy night a "
        "small boat appeared without lights; he swung the beam toward it and watched it turn "
        "safely into the harbour. In the morning a child left a drawing of the lighthouse on "
        "his doorstep, and he pinned it above the logbook where he could see it every night. "
        "Years later the child came back as a harbour pilot."
    )
    payload = {
        "id": COMPLETION_ID,
        "object": "chat.completion",
        "created": CREATED,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "reasoning_content": None,
                    "content": content,
                    "tool_calls": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
                "stop_reason": None,
            }
        ],
        "usage": {
            "prompt_tokens": 24,
            "total_tokens": 118,
            "completion_tokens": 94,
            "prompt_tokens_details": None,
        },
        "prompt_logprobs": None,
        "kv_transfer_params": None,
    }
    return _dumps(payload)


def _chunk_event(delta: dict[str, Any], finish: str | None) -> bytes:
    payload = {
        "id": COMPLETION_ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "delta": delta,
                "logprobs": None,
                "finish_reason": finish,
                "stop_reason": None,
            }
        ],
    }
    return b"data: " + _dumps(payload) + b"\n\n"


def sse_events(n: int) -> bytes:
    """The SSE body: a role chunk, ``n`` content chunks, a finish chunk, usage, ``[DONE]``."""
    pieces = [_chunk_event({"content": w}, None) for w in WORDS]  # ~250 B each
    head = _chunk_event({"role": "assistant", "content": ""}, None)
    tail = _chunk_event({"content": ""}, "stop")
    usage = {
        "id": COMPLETION_ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": MODEL,
        "choices": [],
        "usage": {"prompt_tokens": 24, "total_tokens": 24 + n, "completion_tokens": n},
    }
    cycle = b"".join(pieces)
    whole, rest = divmod(n, len(pieces))
    return b"".join(
        [
            head,
            cycle * whole,
            b"".join(pieces[:rest]),
            tail,
            b"data: " + _dumps(usage) + b"\n\n",
            b"data: [DONE]\n\n",
        ]
    )


def chunked(body: bytes, size: int = HTTP_CHUNK) -> bytes:
    """``body`` framed with chunked transfer coding, in HTTP chunks of ``size`` bytes."""
    out = []
    for start in range(0, len(body), size):
        part = body[start : start + size]
        out.append(b"%x\r\n%b\r\n" % (len(part), part))
    out.append(b"0\r\n\r\n")
    return b"".join(out)


def image_bytes() -> bytes:
    """An images response with one ~2 MB base64 image (deterministic pseudo-random bytes)."""
    raw = random.Random(1234).randbytes(IMAGE_B64_BYTES * 3 // 4)
    payload = {
        "created": CREATED,
        "data": [{"b64_json": base64.b64encode(raw).decode(), "revised_prompt": None}],
    }
    return _dumps(payload)


def _response(
    status: str, content_type: bytes, body: bytes, extra: bytes = b""
) -> tuple[bytes, bytes]:
    head = (
        b"HTTP/1.1 " + status.encode() + b"\r\n"
        b"server: bench\r\n"
        b"content-type: " + content_type + b"\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n" + extra + b"\r\n"
    )
    return head, body


class Payloads:
    """Every response, encoded once."""

    def __init__(self) -> None:
        chat = chat_completion_bytes()
        self.chat = _response("200 OK", b"application/json", chat)
        self.image = _response("200 OK", b"application/json", image_bytes())
        self.health = _response("200 OK", b"text/plain", b"ok")
        self.not_found = _response("404 Not Found", b"application/json", b'{"detail":"Not Found"}')
        self.bad = _response(
            "400 Bad Request",
            b"application/json",
            b'{"detail":"bad request"}',
            b"connection: close\r\n",
        )
        self.stream_head = (
            b"HTTP/1.1 200 OK\r\n"
            b"server: bench\r\n"
            b"content-type: text/event-stream; charset=utf-8\r\n"
            b"cache-control: no-cache\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        self._streams: dict[int, bytes] = {}
        self._events: dict[int, list[bytes]] = {}
        self._chat_body = chat
        self._e2ee: Any = None

    def e2ee(self) -> Any:
        """The E2EE instance (``chutes.testing``'s), made on first use."""
        if self._e2ee is None:
            from chutes.testing._e2ee_instance import FakeE2EE

            self._e2ee = FakeE2EE(
                E2EE_CHUTE_ID, instances=1, nonces_per_instance=E2EE_NONCES, nonce_lifetime=3600
            )
        return self._e2ee

    def e2ee_instances(self) -> bytes:
        return b"".join(
            _response("200 OK", b"application/json", _dumps(self.e2ee().instances_answer()))
        )

    def e2ee_invoke(self, headers: dict[str, str], body: bytes, query: str) -> bytes:
        """Decrypt the call, answer it like the chat route, encrypt the answer."""
        from chutes.testing._e2ee_instance import E2EERejection, FakeE2EE

        opened = self.e2ee().open(body, headers)
        if isinstance(opened, E2EERejection):
            status = f"{opened.status} E2EE"
            return b"".join(_response(status, b"application/json", opened.body()))
        if not opened.stream:
            sealed = FakeE2EE.seal_reply(opened, self._chat_body)
            return b"".join(_response("200 OK", b"application/octet-stream", sealed))
        n = _chunk_count(headers, query)
        events = self._events.get(n)
        if events is None:
            if len(self._events) > 8:
                self._events.clear()
            events = self._events[n] = [e + b"\n\n" for e in sse_events(n).split(b"\n\n") if e]
        return self.stream_head + chunked(b"".join(FakeE2EE.seal_stream(opened, events)))

    def stream(self, n: int) -> bytes:
        body = self._streams.get(n)
        if body is None:
            if len(self._streams) > 8:
                self._streams.clear()
            body = self._streams[n] = chunked(sse_events(n))
        return body


class HTTPProtocol(asyncio.Protocol):
    """One connection: parse requests from the buffer, answer each with pre-encoded bytes."""

    def __init__(self, payloads: Payloads) -> None:
        self.p = payloads
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while self.transport is not None:
            if not self._one():
                break
        if len(self.buf) > MAX_HEADER + MAX_BODY:
            self._fail()

    def _fail(self) -> None:
        if self.transport is not None:
            self.transport.write(b"".join(self.p.bad))
            self.transport.close()
            self.transport = None
        self.buf.clear()

    def _one(self) -> bool:
        """Answer the first complete request in the buffer; False when more bytes are needed."""
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_HEADER:
                self._fail()
            return False
        head = bytes(buf[:end]).decode("latin-1")
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            self._fail()
            return False
        method, target, _version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                self._fail()
                return False
            headers[name.strip().lower()] = value.strip()
        start = end + 4
        if "chunked" in headers.get("transfer-encoding", "").lower():
            parsed = _dechunk(buf, start)
            if parsed is None:
                return False
            body, consumed = parsed
        else:
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                self._fail()
                return False
            if length < 0 or length > MAX_BODY:
                self._fail()
                return False
            if len(buf) < start + length:
                return False
            body = bytes(buf[start : start + length])
            consumed = start + length
        del buf[:consumed]
        self._answer(method, target, headers, body)
        return True

    def _answer(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        transport = self.transport
        assert transport is not None
        path, _, query = target.partition("?")
        if path.startswith(_BY_ID):  # the E2EE chute called in the clear, by its id
            path = path[len(_BY_ID) :]
        p = self.p
        if method == "POST" and path == "/v1/chat/completions":
            if _STREAM_TRUE.search(body):
                transport.write(p.stream_head)
                transport.write(p.stream(_chunk_count(headers, query)))
            else:
                transport.writelines(p.chat)
        elif method == "POST" and path == "/any":
            transport.writelines(p.chat)
        elif method == "POST" and path == "/v1/images/generations":
            transport.writelines(p.image)
        elif method == "GET" and path.startswith("/e2e/instances/"):
            transport.write(p.e2ee_instances())
        elif method == "POST" and path == "/e2e/invoke":
            transport.write(p.e2ee_invoke(headers, body, query))
        elif path == "/health":
            transport.writelines(p.health)
        else:
            transport.writelines(p.not_found)
        if headers.get("connection", "").lower() == "close":
            transport.close()
            self.transport = None


def _chunk_count(headers: dict[str, str], query: str) -> int:
    raw = headers.get("x-bench-chunks")
    if raw is None and query:
        raw = parse_qs(query).get("chunks", [None])[0]
    try:
        n = int(raw) if raw is not None else DEFAULT_CHUNKS
    except ValueError:
        n = DEFAULT_CHUNKS
    return max(0, min(n, MAX_CHUNKS))


def _dechunk(buf: bytearray, start: int) -> tuple[bytes, int] | None:
    """A chunked request body starting at ``start``: (body, end offset), or None if partial."""
    out = bytearray()
    pos = start
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buf[pos:eol]).split(b";", 1)[0], 16)
        pos = eol + 2
        if size == 0:
            # Skip trailers up to the blank line.
            while True:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    return None
                if eol == pos:
                    return bytes(out), pos + 2
                pos = eol + 2
        if len(buf) < pos + size + 2:
            return None
        out += buf[pos : pos + size]
        pos += size + 2
        if len(out) > MAX_BODY:
            raise ValueError("request body too large")


async def serve(port: int, announce: bool = True) -> None:
    loop = asyncio.get_running_loop()
    payloads = Payloads()
    payloads.stream(DEFAULT_CHUNKS)  # build the default stream before announcing the port
    server = await loop.create_server(
        lambda: HTTPProtocol(payloads), host="127.0.0.1", port=port, backlog=1024
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    parent = os.getppid()

    def on_stdin() -> None:
        # The runner never writes; readable means EOF (it closed the pipe or died).
        try:
            data = os.read(sys.stdin.fileno(), 4096)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(sys.stdin.fileno())
            stop.set()

    # Only a pipe can signal the runner's death (a tty or /dev/null cannot be watched).
    watch_stdin = stat.S_ISFIFO(os.fstat(sys.stdin.fileno()).st_mode)
    if watch_stdin:
        loop.add_reader(sys.stdin.fileno(), on_stdin)

    async def watch_parent() -> None:
        while not stop.is_set():
            if os.getppid() != parent:
                stop.set()
            await asyncio.sleep(0.5)

    watcher = asyncio.create_task(watch_parent())
    bound = server.sockets[0].getsockname()[1]
    if announce:
        sys.stdout.write(f"PORT {bound}\n")
        sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        watcher.cancel()
        server.close()
        if watch_stdin:
            loop.remove_reader(sys.stdin.fileno())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="benchmark HTTP server (127.0.0.1 only)")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()

"""The fault server: a real HTTP/1.1 server on 127.0.0.x with byte-level control.

It runs on plain asyncio streams in a background thread with its own event loop, so the
blocking client and the asyncio client (in the test's own loop) both talk to it over real
sockets. Each test scripts it: ``server.queue(...)`` lines up behaviours for the next
requests in order; when the queue is empty ``server.fallback`` answers. A behaviour is an
``async (Exchange) -> bool`` that writes (or withholds, or resets) the response and says
whether the connection may serve another request. Every wait in here is bounded.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

# Shaped like a real key, with distinctive parts so any leak is easy to find in text.
REL_KEY = "cpk_fa17c0de0123456789abcdef01234567.fa17c0de89abcdef0123456789abcdef.RELSECRETxyz789"

# Upper bounds that keep every loop and wait of the server finite.
MAX_STALL = 5.0
MAX_REQUESTS_PER_CONNECTION = 100_000
STOP_TIMEOUT = 5.0


@attrs.define
class SeenRequest:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    connection: int

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@attrs.define
class Exchange:
    """One request being answered: the behaviour's handle on the connection."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    request: SeenRequest

    async def send(self, data: bytes) -> None:
        """Write bytes and wait until the kernel has taken them (bounded)."""
        self.writer.write(data)
        await self.writer.drain()
        transport = self.writer.transport
        deadline = time.monotonic() + MAX_STALL
        while transport.get_write_buffer_size() and time.monotonic() < deadline:
            await asyncio.sleep(0.001)

    async def wait_for_client_close(self, limit: float = MAX_STALL) -> None:
        """Stall until the client closes its side (or ``limit`` seconds pass)."""
        deadline = time.monotonic() + limit
        with contextlib.suppress(TimeoutError, ConnectionError, OSError):
            while (left := deadline - time.monotonic()) > 0:
                if not await asyncio.wait_for(self.reader.read(65536), timeout=left):
                    return

    def reset(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0, then close)."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


Behaviour = Callable[[Exchange], Awaitable[bool]]


def head_of(status: int, reason: str, headers: list[tuple[str, str]]) -> bytes:
    """A response's status line and headers."""
    lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunk_of(data: bytes) -> bytes:
    """``data`` as one chunk of a chunked body."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


REASONS = {
    200: "OK",
    302: "Found",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def chat_completion_body(text: str = "hello") -> dict[str, Any]:
    """A whole OpenAI chat completion."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def chat_chunk_frame(content: str | None = None, finish: str | None = None) -> bytes:
    """One ``data: {chat.completion.chunk}`` SSE frame."""
    chunk = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "delta": {} if content is None else {"content": content},
                "finish_reason": finish,
            }
        ],
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


DONE_FRAME = b"data: [DONE]\n\n"


class FaultServer:
    """A scripted HTTP/1.1 server in a background thread (see the module docstring)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.requests: list[SeenRequest] = []
        self.connections_opened = 0
        self.connections_closed = 0
        self.fallback: Behaviour = self.ok()
        self._queue: collections.deque[Behaviour] = collections.deque()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=f"fault-server-{host}", daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    # --- life cycle ----------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def start(self) -> FaultServer:
        """Bind to ``host`` on a free port and serve in the background thread."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        future.result(timeout=STOP_TIMEOUT)
        return self

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, 0, backlog=512)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        """Close the listener and every connection, stop the loop, join the thread."""
        try:
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
            future.result(timeout=STOP_TIMEOUT)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=STOP_TIMEOUT)
            alive = self._thread.is_alive()
            if not alive:
                self._loop.close()
        assert not alive, "the fault server thread did not stop"

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_TIMEOUT)
        await asyncio.wait_for(self._server.wait_closed(), timeout=STOP_TIMEOUT)

    # --- scripting -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://{self.host}:{self.port}"

    def queue(self, *behaviours: Behaviour) -> None:
        """Answer the next requests with ``behaviours``, in order."""
        with self._lock:
            self._queue.extend(behaviours)

    def clear(self) -> None:
        """Forget queued behaviours and recorded requests."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()

    def count(self, path: str | None = None) -> int:
        """How many requests arrived (for ``path`` only, when given)."""
        with self._lock:
            return sum(1 for r in self.requests if path is None or r.path == path)

    @property
    def open_connections(self) -> int:
        """Connections accepted and not yet closed by the server."""
        with self._lock:
            return self.connections_opened - self.connections_closed

    def wait_until(self, predicate: Callable[[], bool], limit: float = STOP_TIMEOUT) -> bool:
        """Poll ``predicate`` (from the test's thread) for at most ``limit`` seconds."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.005)
        return predicate()

    def _next(self) -> Behaviour:
        with self._lock:
            return self._queue.popleft() if self._queue else self.fallback

    # --- connection handling -------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        with self._lock:
            self.connections_opened += 1
            connection = self.connections_opened
        try:
            for _ in range(MAX_REQUESTS_PER_CONNECTION):
                request = await self._read_request(reader, connection)
                if request is None:
                    break
                with self._lock:
                    self.requests.append(request)
                behaviour = self._next()
                keep_alive = await behaviour(Exchange(reader, writer, request))
                if not keep_alive or writer.transport.is_closing():
                    break
        except (
            ConnectionError,
            OSError,
            ValueError,  # a malformed request line or Content-Length
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
        ):
            pass
        except asyncio.CancelledError:
            writer.transport.abort()
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), timeout=1.0)
            with self._lock:
                self.connections_closed += 1
            self._tasks.discard(task)

    @staticmethod
    async def _read_request(reader: asyncio.StreamReader, connection: int) -> SeenRequest | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = await reader.readexactly(length) if length else b""
        return SeenRequest(method, path, headers, body, connection)

    # --- payload helpers (also importable from this module) ---------------------------

    chat_frame = staticmethod(chat_chunk_frame)
    chat_body = staticmethod(chat_completion_body)
    done_frame = DONE_FRAME

    # --- behaviours ----------------------------------------------------------------------

    @staticmethod
    def respond(
        status: int = 200,
        body: bytes | dict[str, Any] | list[Any] = b'{"ok": true}',
        *,
        content_type: str = "application/json",
        headers: list[tuple[str, str]] | None = None,
        delay: float = 0.0,
        close_after: bool = False,
    ) -> Behaviour:
        """A complete response (after ``delay`` s); ``close_after`` then closes the
        keep-alive connection without saying so (no ``Connection: close``)."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()

        async def behaviour(ex: Exchange) -> bool:
            if delay:
                await asyncio.sleep(delay)
            extra = list(headers or [])
            head = head_of(
                status,
                REASONS.get(status, "Status"),
                [("Content-Type", content_type), ("Content-Length", str(len(data))), *extra],
            )
            await ex.send(head + data)
            return not close_after

        return behaviour

    def ok(self, body: bytes | dict[str, Any] | list[Any] = b'{"ok": true}') -> Behaviour:
        """``200`` with a JSON body, keep-alive."""
        return self.respond(200, body)

    def status(self, code: int, detail: str = "busy") -> Behaviour:
        """An error status with the platform's ``{"detail": ...}`` body."""
        return self.respond(code, {"detail": detail})

    def html(self, code: int, title: str) -> Behaviour:
        """An HTML error page, as proxies and the edge send them."""
        page = (
            f"<html><head><title>{title}</title></head>"
            f"<body><center><h1>{title}</h1></center><hr><center>nginx</center></body></html>"
        ).encode()
        return self.respond(code, page, content_type="text/html")

    @staticmethod
    def stall_after_headers(declared: int = 100) -> Behaviour:
        """Send the status line and headers, then nothing until the client gives up."""

        async def behaviour(ex: Exchange) -> bool:
            head = head_of(
                200, "OK", [("Content-Type", "application/json"), ("Content-Length", str(declared))]
            )
            await ex.send(head)
            await ex.wait_for_client_close()
            return False

        return behaviour

    @staticmethod
    def stall() -> Behaviour:
        """Read the request, answer nothing until the client gives up."""

        async def behaviour(ex: Exchange) -> bool:
            await ex.wait_for_client_close()
            return False

        return behaviour

    @staticmethod
    def reset_before_response() -> Behaviour:
        """Read the request, then reset the connection (RST) without a byte of answer."""

        async def behaviour(ex: Exchange) -> bool:
            ex.reset()
            return False

        return behaviour

    @staticmethod
    def close_before_response() -> Behaviour:
        """Read the request, then close the connection (FIN) without answering."""

        async def behaviour(ex: Exchange) -> bool:
            return False

        return behaviour

    @staticmethod
    def reset_mid_body(sent: bytes = b'{"text": "par', declared: int = 1000) -> Behaviour:
        """Headers and part of the body, a pause so the client is reading, then RST."""

        async def behaviour(ex: Exchange) -> bool:
            head = head_of(
                200, "OK", [("Content-Type", "application/json"), ("Content-Length", str(declared))]
            )
            await ex.send(head + sent)
            await asyncio.sleep(0.15)
            ex.reset()
            return False

        return behaviour

    @staticmethod
    def truncated(sent: bytes = b'{"choices": [{"mess', declared: int = 1000) -> Behaviour:
        """A ``Content-Length`` larger than the body sent, then a clean close (FIN)."""

        async def behaviour(ex: Exchange) -> bool:
            head = head_of(
                200, "OK", [("Content-Type", "application/json"), ("Content-Length", str(declared))]
            )
            await ex.send(head + sent)
            return False

        return behaviour

    @staticmethod
    def sse(
        frames: list[bytes],
        *,
        gap: float = 0.0,
        ending: str = "end",
        first_gap: float = 0.0,
    ) -> Behaviour:
        """A chunked ``text/event-stream``: one chunk per frame, ``gap`` s apart, then:
        ``end`` (the terminating chunk, keep-alive), ``end-close`` (terminator, then close),
        ``abrupt`` (close with no terminator), ``reset`` (RST), ``stall`` (wait for the
        client to give up).
        """

        async def behaviour(ex: Exchange) -> bool:
            head = head_of(
                200,
                "OK",
                [
                    ("Content-Type", "text/event-stream"),
                    ("Transfer-Encoding", "chunked"),
                    ("Cache-Control", "no-cache"),
                ],
            )
            await ex.send(head)
            for index, frame in enumerate(frames):
                pause = first_gap if index == 0 else gap
                if pause:
                    await asyncio.sleep(pause)
                await ex.send(chunk_of(frame))
            if ending in ("end", "end-close"):
                await ex.send(b"0\r\n\r\n")
                return ending == "end"
            if ending == "reset":
                await asyncio.sleep(0.15)  # let the client read what was sent first
                ex.reset()
            elif ending == "stall":
                await ex.wait_for_client_close()
            return False

        return behaviour

    def chat_stream(self, pieces: list[str], **options: Any) -> Behaviour:
        """A whole streamed chat completion: content pieces, a finish chunk, ``[DONE]``."""
        frames = [chat_chunk_frame(p) for p in pieces]
        frames += [chat_chunk_frame(finish="stop"), DONE_FRAME]
        return self.sse(frames, **options)

    @staticmethod
    def raw(data: bytes, *, ending: str = "close", pause: float = 0.0) -> Behaviour:
        """Send ``data`` as it is (status line, headers and body, or any bytes), then
        ``close`` (FIN), ``reset`` (RST) or ``stall`` (hold the connection until the client
        gives up); ``pause`` s after the data first, so the client reads it."""

        async def behaviour(ex: Exchange) -> bool:
            if data:
                await ex.send(data)
            if pause:
                await asyncio.sleep(pause)
            if ending == "reset":
                ex.reset()
            elif ending == "stall":
                await ex.wait_for_client_close()
            return False

        return behaviour

    @staticmethod
    def drip(head: bytes, body: bytes, every: float, *, limit: float = MAX_STALL) -> Behaviour:
        """Send ``head`` then ``body`` one byte every ``every`` s (for at most ``limit`` s)."""

        async def behaviour(ex: Exchange) -> bool:
            await ex.send(head)
            deadline = time.monotonic() + limit
            for byte in body:
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(every)
                await ex.send(bytes([byte]))
            await ex.wait_for_client_close(limit)
            return False

        return behaviour

    @staticmethod
    def big_event(size: int) -> Behaviour:
        """One SSE event whose data is ``size`` bytes of ``x``, written in 1 MiB chunks."""

        async def behaviour(ex: Exchange) -> bool:
            head = head_of(
                200,
                "OK",
                [("Content-Type", "text/event-stream"), ("Transfer-Encoding", "chunked")],
            )
            await ex.send(head + chunk_of(b"data: "))
            step = 1 << 20
            for start in range(0, size, step):
                await ex.send(chunk_of(b"x" * min(step, size - start)))
            await ex.send(chunk_of(b"\n\n") + b"0\r\n\r\n")
            return True

        return behaviour

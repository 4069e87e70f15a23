"""A chat-completions server on 127.0.0.1 for the batch tests, over real sockets.

It is the standard library's threading HTTP/1.1 server (keep-alive, one thread per
connection), so requests really overlap: it measures how many are in flight at once,
records when each arrived and the exact bytes of its body, and answers the way a test
scripts it. A request's "key" is the content of its last message; ``answer_for(key,
...)`` lines up answers for the requests carrying it, ``answer_next(...)`` for the next
requests whatever they carry; everything else gets a chat completion echoing the key,
with usage, after ``delay`` seconds. ``GET /v1/models`` lists ``prices``, as the gateway
does. Every wait is bounded.
"""

from __future__ import annotations

import collections
import datetime as dt
import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import attrs

MAX_DELAY = 5.0
EDGE_PAGE = (
    b"<html><head><title>429 Too Many Requests</title></head><body><center>"
    b"<h1>429 Too Many Requests</h1></center><hr><center>nginx</center></body></html>"
)


@attrs.frozen
class Answer:
    """One scripted answer: a status, body, content type and headers, after a delay."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0


def detail(status: int, text: Any, *, delay: float = 0.0) -> Answer:
    """The platform's ``{"detail": ...}`` error."""
    return Answer(status, json.dumps({"detail": text}).encode(), delay=delay)


def capacity() -> Answer:
    """429: every instance is busy."""
    return detail(429, "Infrastructure is at maximum capacity, try again later")


def edge(retry_after: float | None = None) -> Answer:
    """429 from the edge's rate limit: an HTML page, no JSON."""
    headers = () if retry_after is None else (("Retry-After", f"{retry_after:g}"),)
    return Answer(429, EDGE_PAGE, content_type="text/html", headers=headers)


def daily_limit() -> Answer:
    """429: the free models' daily limit."""
    return detail(429, "Free models limit reached for today, try again tomorrow")


RESET = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)


def payment(*, delay: float = 0.0) -> Answer:
    """402 for a spent quota, saying when it resets."""
    quota = {"message": "Quota exceeded", "quota_reset_timestamp": RESET.isoformat()}
    return detail(402, quota, delay=delay)


@attrs.define
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    body: bytes
    key: str | None
    arrived: float  # time.monotonic() when its body was read
    answered: float = 0.0  # when its status was written


class BatchServer:
    """See the module docstring."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.delay = 0.0
        self.usage = {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}
        self.prices: dict[str, tuple[float, float]] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._next: collections.deque[Answer] = collections.deque()
        self._by_key: dict[str, collections.deque[Answer]] = {}
        self._count = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server._handle(self, "GET")

            def do_POST(self) -> None:
                server._handle(self, "POST")

        self._http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        """The server's base URL."""
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> BatchServer:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)
        assert not self._thread.is_alive()

    def answer_next(self, *answers: Answer) -> None:
        """Answer the next requests with ``answers``, in order."""
        with self._lock:
            self._next.extend(answers)

    def answer_for(self, key: str, *answers: Answer) -> None:
        """Answer the next requests whose last message is ``key`` with ``answers``."""
        with self._lock:
            self._by_key.setdefault(key, collections.deque()).extend(answers)

    def chats(self) -> list[Seen]:
        """The chat requests received, in order of arrival."""
        with self._lock:
            return [r for r in self.requests if r.path == "/v1/chat/completions"]

    def keys(self) -> list[str | None]:
        """The keys of the chat requests received, in order of arrival."""
        return [r.key for r in self.chats()]

    def _pick(self, key: str | None) -> Answer | None:
        with self._lock:
            queued = self._by_key.get(key) if key is not None else None
            if queued:
                return queued.popleft()
            return self._next.popleft() if self._next else None

    def _handle(self, handler: http.server.BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        key = _key(body)
        seen = Seen(method, handler.path, body, key, time.monotonic())
        with self._lock:
            self.requests.append(seen)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self._count += 1
            number = self._count
        try:
            answer = self._answer(method, handler.path, body, key, number)
            time.sleep(min(answer.delay, MAX_DELAY))
            seen.answered = time.monotonic()
            handler.send_response(answer.status)
            handler.send_header("Content-Type", answer.content_type)
            handler.send_header("Content-Length", str(len(answer.body)))
            for name, value in answer.headers:
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(answer.body)
            handler.wfile.flush()
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer(self, method: str, path: str, body: bytes, key: str | None, number: int) -> Answer:
        if method == "GET" and path == "/v1/models":
            return Answer(200, json.dumps({"object": "list", "data": self._models()}).encode())
        if method != "POST" or path != "/v1/chat/completions":
            return detail(404, "No matching cord found!")
        scripted = self._pick(key)
        if scripted is not None:
            return scripted
        request = json.loads(body)
        completion = {
            "id": f"chatcmpl-{number}",
            "object": "chat.completion",
            "created": 1,
            "model": request.get("model", "m"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": f"echo: {key}"},
                    "finish_reason": "stop",
                }
            ],
            "usage": self.usage,
        }
        headers = (("X-Chutes-InvocationID", f"inv-{number}"),)
        return Answer(200, json.dumps(completion).encode(), headers=headers, delay=self.delay)

    def _models(self) -> list[dict[str, Any]]:
        return [
            {
                "id": model,
                "object": "model",
                "price": {"input": {"usd": p_in}, "output": {"usd": p_out}},
            }
            for model, (p_in, p_out) in self.prices.items()
        ]


def _key(body: bytes) -> str | None:
    try:
        messages = json.loads(body)["messages"]
        return str(messages[-1]["content"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def serve() -> Iterator[BatchServer]:
    """A started server, stopped afterwards (for a fixture)."""
    server = BatchServer().start()
    try:
        yield server
    finally:
        server.stop()

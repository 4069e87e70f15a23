"""``FakeChutes``: an in-process fake of the chutes platform, as an httpx transport.

It speaks the platform's wire format (API.md, first section): chute subdomains, the
``api.chutes.ai/chutes/<id>`` form, the ``llm`` gateway and any URL; ``{"detail": ...}``
errors; SSE streams that end with ``data: [DONE]`` and carry usage; the raw
``{"error": ...}`` line for failures after the first chunk; raw image bytes from
diffusion cords; ``X-Chutes-InvocationID`` and quota headers. Nothing in the client knows
about it: it is only a transport.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any, Final
from urllib.parse import urlsplit

import attrs
import httpx

from .._core.config import DEFAULT_API_URL, DEFAULT_DOMAIN
from .._core.targets import Target, resolve_target
from ._png import make_png

__all__ = ["FakeChutes", "FakeRequest", "Handler", "Reply"]

NO_CHUTE: Final = "No matching chute found!"
NO_CORD: Final = "No matching cord found!"
BAD_KEY: Final = "Invalid or missing API key."
REDACTED: Final = "***"
_DEFAULT_MESSAGES: Final = {
    400: "Bad request.",
    402: {"message": "Quota exceeded.", "quota_reset_timestamp": "2030-01-01T00:00:00Z"},
    404: NO_CHUTE,
    429: "Infrastructure is at maximum capacity, try again later",
    500: "Internal server error.",
    502: "Bad gateway.",
    503: "No instances available (yet) for chute_id=fake",
    504: "Gateway timeout.",
}


@attrs.frozen
class FakeRequest:
    """What the fake received; the key is replaced by ``***``.

    Attributes:
        method: the HTTP method.
        url: the full URL.
        path: the path relative to the chute.
        chute: the chute's base URL.
        headers: the request headers, with the key redacted.
        json: the parsed JSON body, or ``None``.
        content: the raw body bytes.
    """

    method: str
    url: str
    path: str
    chute: str
    headers: Mapping[str, str]
    json: Any
    content: bytes


@attrs.frozen
class Reply:
    """A custom cord's full answer: status, body and headers.

    Give ``json`` for a JSON body, or ``content`` (with ``content_type``) for raw bytes.
    """

    status: int = 200
    json: Any = None
    content: bytes | None = None
    content_type: str | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict)


Handler = Callable[[FakeRequest], "dict[str, Any] | list[Any] | bytes | Reply"]


class _Body(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body that arrives in pieces, for sync and async clients alike."""

    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = pieces

    def __iter__(self) -> Iterator[bytes]:
        yield from self._pieces

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self._pieces:
            yield piece


@attrs.define
class _Fault:
    status: int
    retry_after: float | None
    detail: Any


@attrs.define
class _StreamFault:
    after_events: int
    message: str | None  # None: cut without a word; else the raw error line


def _digest(data: bytes) -> Any:
    """A stable digest for deterministic ids and seeds (not for security)."""
    return hashlib.sha256(data)


def _words(text: str) -> list[str]:
    """Split text into the pieces a fake tokenizer counts (words with their leading space)."""
    pieces: list[str] = []
    for index, word in enumerate(text.split()):
        pieces.append(word if index == 0 else f" {word}")
    return pieces


_Route = Callable[["FakeChutes", FakeRequest], httpx.Response]


class FakeChutes(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """An in-process fake of the chutes platform, usable as a sync and async httpx transport.

    Args:
        api_key: the key it accepts (as ``Authorization: Bearer`` or ``X-API-Key``).
        domain: the platform domain whose subdomains are chutes.
        api_url: the platform API, for the ``/chutes/<id>`` form.
        any_chute: serve every chute name; with ``False`` only chutes given to
            :meth:`add_chute`, :meth:`reply` or :meth:`cord` exist (others answer 404).
        embedding_dim: the length of the fake embedding vectors.
    """

    def __init__(
        self,
        api_key: str = "test-key",
        *,
        domain: str = DEFAULT_DOMAIN,
        api_url: str = DEFAULT_API_URL,
        any_chute: bool = True,
        embedding_dim: int = 8,
    ) -> None:
        self.api_key = api_key
        self.domain = domain
        self.api_url = api_url.rstrip("/")
        self.any_chute = any_chute
        self.embedding_dim = embedding_dim
        self.requests: list[FakeRequest] = []
        self.quota_total = 1000
        self._lock = threading.Lock()
        self._known: set[str] = set()
        self._replies: dict[str, str] = {}
        self._cords: dict[tuple[str, str, str], Handler] = {}
        self._faults: deque[_Fault] = deque()
        self._stream_faults: deque[_StreamFault] = deque()
        self._counter = itertools.count(1)
        self._used = 0

    # -- configuration ----------------------------------------------------------------

    def _base(self, chute: str) -> str:
        """A chute's base URL from a name, ``slug:...``, ``id:...`` or an http(s) URL."""
        if chute.startswith(("http://", "https://")):
            target = resolve_target(url=chute, domain=self.domain, api_url=self.api_url)
        elif chute.startswith("slug:"):
            target = resolve_target(slug=chute[5:], domain=self.domain, api_url=self.api_url)
        elif chute.startswith("id:"):
            target = resolve_target(id=chute[3:], domain=self.domain, api_url=self.api_url)
        elif chute == "llm":
            target = Target(base_url=f"https://llm.{self.domain}", host=f"llm.{self.domain}")
        else:
            target = resolve_target(chute, domain=self.domain, api_url=self.api_url)
        return target.base_url

    def add_chute(self, chute: str) -> None:
        """Make ``chute`` exist (a name, ``slug:<slug>``, ``id:<uuid>``, ``llm`` or a URL)."""
        self._known.add(self._base(chute))

    def reply(self, chute: str, text: str) -> None:
        """Make ``chute`` answer every chat and text completion with ``text``."""
        base = self._base(chute)
        self._known.add(base)
        self._replies[base] = text

    def cord(self, chute: str, path: str, handler: Handler, *, method: str = "POST") -> None:
        """Serve ``handler`` at ``path`` on ``chute``.

        The handler gets a :class:`FakeRequest` and returns a dict or list (JSON), bytes
        (``application/octet-stream``) or a :class:`Reply`.
        """
        base = self._base(chute)
        self._known.add(base)
        self._cords[(base, method.upper(), "/" + path.lstrip("/"))] = handler

    def fail_next(
        self, status: int, *, times: int = 1, retry_after: float | None = None, detail: Any = None
    ) -> None:
        """Answer the next ``times`` requests with ``status`` (and ``Retry-After`` if given)."""
        for _ in range(times):
            self._faults.append(_Fault(status, retry_after, detail))

    def cut_next_stream(self, *, after_events: int) -> None:
        """End the next stream after ``after_events`` events, with no ``[DONE]``."""
        self._stream_faults.append(_StreamFault(after_events, None))

    def error_next_stream(self, message: str, *, after_events: int) -> None:
        """After ``after_events`` events, write the raw ``{"error": message}`` line and end."""
        self._stream_faults.append(_StreamFault(after_events, message))

    # -- clients ----------------------------------------------------------------------

    def client(self, **options: Any) -> Any:
        """A ready ``chutes.Client`` on this fake (closing it closes its httpx client)."""
        from .._sync.client import Client

        return Client(api_key=self.api_key, transport=self, **options)

    def async_client(self, **options: Any) -> Any:
        """A ready ``chutes.AsyncClient`` on this fake."""
        from .._async.client import AsyncClient

        return AsyncClient(api_key=self.api_key, transport=self, **options)

    # -- transport --------------------------------------------------------------------

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Answer one request (sync transport interface)."""
        request.read()
        return self._answer(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer one request (async transport interface)."""
        await request.aread()
        return self._answer(request)

    def _locate(self, url: httpx.URL) -> tuple[str, str] | None:
        """(chute base URL, path within the chute) for a request URL, or None."""
        full = str(url.copy_with(query=None, fragment=None))
        for base in sorted(self._known, key=len, reverse=True):
            if full == base or full.startswith(base + "/"):
                return base, full[len(base) :] or "/"
        host = url.host
        api = urlsplit(self.api_url)
        if host == api.hostname and url.path.startswith("/chutes/"):
            _, _, rest = url.path.partition("/chutes/")
            chute_id, _, path = rest.partition("/")
            base = f"{self.api_url}/chutes/{chute_id}"
            return (base, "/" + path) if self.any_chute else None
        if host.endswith("." + self.domain) and host.count(".") == self.domain.count(".") + 1:
            base = f"{url.scheme}://{host}"
            return (base, url.path or "/") if self.any_chute else None
        if self.any_chute and host != api.hostname:
            base = f"{url.scheme}://{url.netloc.decode()}"
            return base, url.path or "/"
        return None

    def _answer(self, request: httpx.Request) -> httpx.Response:
        located = self._locate(request.url)
        recorded = self._record(request, located)
        if located is not None and request.method == "GET" and located[1].startswith("/images/"):
            return self._image_file(recorded)  # generated image URLs are public, like a CDN's
        if not self._authorized(request):
            return self._error(401, BAD_KEY)
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
        if fault is not None:
            detail = (
                fault.detail
                if fault.detail is not None
                else _DEFAULT_MESSAGES.get(fault.status, "Error.")
            )
            headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
            return self._error(fault.status, detail, headers)
        if located is None:
            return self._error(404, NO_CHUTE)
        base, path = located
        handler = self._cords.get((base, request.method, path))
        if handler is not None:
            return self._custom(handler(recorded))
        route = self._ROUTES.get((request.method, path))
        if route is None:
            return self._error(404, NO_CORD)
        return route(self, recorded)

    def _record(self, request: httpx.Request, located: tuple[str, str] | None) -> FakeRequest:
        headers = {}
        for name, value in request.headers.items():
            if name.lower() in ("authorization", "x-api-key"):
                value = REDACTED
            headers[name.lower()] = value
        try:
            body = json.loads(request.content) if request.content else None
        except ValueError:
            body = None
        recorded = FakeRequest(
            method=request.method,
            url=str(request.url),
            path=located[1] if located else request.url.path,
            chute=located[0] if located else "",
            headers=headers,
            json=body,
            content=request.content,
        )
        with self._lock:
            self.requests.append(recorded)
        return recorded

    def _authorized(self, request: httpx.Request) -> bool:
        bearer: str | None = request.headers.get("authorization")
        if bearer is not None:
            return bearer == f"Bearer {self.api_key}"
        key: str | None = request.headers.get("x-api-key")
        return key == self.api_key

    # -- responses --------------------------------------------------------------------

    def _meta_headers(self) -> dict[str, str]:
        with self._lock:
            number = next(self._counter)
            self._used += 1
            used = self._used
        return {
            "X-Chutes-InvocationID": f"inv-{number:08d}",
            "X-Chutes-Quota-Total": str(self.quota_total),
            "X-Chutes-Quota-Used": str(used),
            "X-Chutes-Quota-Remaining": str(max(0, self.quota_total - used)),
        }

    def _error(
        self, status: int, detail: Any, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        return httpx.Response(status, json={"detail": detail}, headers=headers)

    def _json(self, payload: Any) -> httpx.Response:
        return httpx.Response(200, json=payload, headers=self._meta_headers())

    def _custom(self, result: dict[str, Any] | list[Any] | bytes | Reply) -> httpx.Response:
        if isinstance(result, Reply):
            headers = {**self._meta_headers(), **result.headers}
            if result.content is not None:
                headers["Content-Type"] = result.content_type or "application/octet-stream"
                return httpx.Response(result.status, content=result.content, headers=headers)
            return httpx.Response(result.status, json=result.json, headers=headers)
        if isinstance(result, bytes):
            headers = {**self._meta_headers(), "Content-Type": "application/octet-stream"}
            return httpx.Response(200, content=result, headers=headers)
        return self._json(result)

    def _text_for(self, chute: str, prompt: str) -> str:
        reply = self._replies.get(chute)
        if reply is not None:
            return reply
        words = prompt.split()
        return "You said: " + (" ".join(words[-12:]).rstrip(".!?") if words else "nothing") + "."

    def _completion(self, request: FakeRequest, *, chat: bool) -> httpx.Response:
        body = request.json if isinstance(request.json, dict) else {}
        if chat:
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                return self._error(400, "messages must be a non-empty list")
            contents = [m.get("content") for m in messages if isinstance(m, dict)]
            prompt = " ".join(c for c in contents if isinstance(c, str))
            last = next((c for c in reversed(contents) if isinstance(c, str)), "")
        else:
            raw_prompt = body.get("prompt")
            if not isinstance(raw_prompt, str):
                return self._error(400, "prompt must be a string")
            prompt = last = raw_prompt
        pieces = _words(self._text_for(request.chute, last))
        limit = body.get("max_tokens")
        finish = "stop"
        if isinstance(limit, int) and 0 <= limit < len(pieces):
            pieces, finish = pieces[:limit], "length"
        model = body.get("model") or "fake-model"
        usage = {
            "prompt_tokens": len(prompt.split()),
            "completion_tokens": len(pieces),
            "total_tokens": len(prompt.split()) + len(pieces),
        }
        created = int(time.time())
        ident = f"{'chatcmpl' if chat else 'cmpl'}-{_digest(prompt.encode()).hexdigest()[:16]}"
        if body.get("stream"):
            return self._stream(ident, created, model, pieces, finish, usage, chat=chat)
        if chat:
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(pieces)},
                "logprobs": None,
                "finish_reason": finish,
            }
        else:
            choice = {
                "index": 0,
                "text": "".join(pieces),
                "logprobs": None,
                "finish_reason": finish,
            }
        return self._json(
            {
                "id": ident,
                "object": "chat.completion" if chat else "text_completion",
                "created": created,
                "model": model,
                "choices": [choice],
                "usage": usage,
            }
        )

    def _stream(
        self,
        ident: str,
        created: int,
        model: str,
        pieces: list[str],
        finish: str,
        usage: dict[str, int],
        *,
        chat: bool,
    ) -> httpx.Response:
        kind = "chat.completion.chunk" if chat else "text_completion"

        def chunk(choices: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> bytes:
            payload = {"id": ident, "object": kind, "created": created, "model": model}
            payload["choices"] = choices
            payload.update(extra or {})
            return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"

        def choice(piece: str | None, reason: str | None, *, first: bool = False) -> dict[str, Any]:
            if chat:
                delta: dict[str, Any] = {"role": "assistant"} if first else {}
                if piece is not None:
                    delta["content"] = piece
                return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
            return {"index": 0, "text": piece or "", "logprobs": None, "finish_reason": reason}

        events = [chunk([choice(p, None, first=i == 0)]) for i, p in enumerate(pieces)]
        events.append(chunk([choice(None if chat else "", finish)]))
        events.append(chunk([], {"usage": usage}))
        events.append(b"data: [DONE]\n\n")
        with self._lock:
            fault = self._stream_faults.popleft() if self._stream_faults else None
        if fault is not None:
            events = events[: fault.after_events]
            if fault.message is not None:
                events.append(json.dumps({"error": fault.message}).encode())
        headers = {
            **self._meta_headers(),
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
        }
        return httpx.Response(200, headers=headers, stream=_Body(events))

    def _chat(self, request: FakeRequest) -> httpx.Response:
        return self._completion(request, chat=True)

    def _text(self, request: FakeRequest) -> httpx.Response:
        return self._completion(request, chat=False)

    def _vector(self, text: str) -> list[float]:
        digest = hashlib.sha256(text.encode()).digest()
        values = itertools.cycle(digest)
        return [round((next(values) - 127.5) / 127.5, 6) for _ in range(self.embedding_dim)]

    def _embeddings(self, request: FakeRequest) -> httpx.Response:
        body = request.json if isinstance(request.json, dict) else {}
        raw = body.get("input")
        inputs = [raw] if isinstance(raw, str) else raw
        if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
            return self._error(400, "input must be a string or a list of strings")
        tokens = sum(len(i.split()) for i in inputs)
        return self._json(
            {
                "object": "list",
                "model": body.get("model") or "fake-embed",
                "data": [
                    {"object": "embedding", "index": n, "embedding": self._vector(text)}
                    for n, text in enumerate(inputs)
                ],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    def _models(self, request: FakeRequest) -> httpx.Response:
        gateway = request.chute == f"https://llm.{self.domain}"
        entry: dict[str, Any] = {
            "id": "fake-model",
            "object": "model",
            "created": 1_700_000_000,
            "owned_by": "chutes",
        }
        if gateway:
            entry.update(
                {
                    "chute_id": "00000000-0000-4000-8000-000000000000",
                    "pricing": {"prompt": 0.1, "completion": 0.2},
                    "confidential_compute": False,
                }
            )
        return self._json({"object": "list", "data": [entry]})

    @staticmethod
    def _size(body: Mapping[str, Any]) -> tuple[int, int] | None:
        size = body.get("size")
        if isinstance(size, str) and "x" in size:
            w, _, h = size.partition("x")
            if w.isdigit() and h.isdigit():
                return int(w), int(h)
            return None
        width, height = body.get("width", 256), body.get("height", 256)
        if isinstance(width, int) and isinstance(height, int):
            return width, height
        return None

    def _images(self, request: FakeRequest) -> httpx.Response:
        body = request.json if isinstance(request.json, dict) else {}
        size = self._size(body)
        n = body.get("n", 1)
        if not isinstance(body.get("prompt"), str) or size is None or not isinstance(n, int):
            return self._error(400, "prompt, size and n are required and must be valid")
        if not (0 < size[0] <= 4096 and 0 < size[1] <= 4096 and 0 < n <= 4):
            return self._error(400, "size must be at most 4096x4096 and n at most 4")
        seed = int(_digest(body["prompt"].encode()).hexdigest()[:6], 16)
        data = []
        for index in range(n):
            png = make_png(size[0], size[1], seed + index)
            if body.get("response_format") == "url":
                key = f"{seed + index:x}-{size[0]}x{size[1]}"
                data.append({"url": f"{request.chute}/images/{key}.png", "revised_prompt": None})
            else:
                data.append({"b64_json": base64.b64encode(png).decode(), "revised_prompt": None})
        return self._json({"created": int(time.time()), "data": data})

    def _generate(self, request: FakeRequest) -> httpx.Response:
        body = request.json if isinstance(request.json, dict) else {}
        size = self._size(body)
        if not isinstance(body.get("prompt"), str) or size is None:
            return self._error(422, [{"loc": ["body", "prompt"], "msg": "field required"}])
        if not (0 < size[0] <= 4096 and 0 < size[1] <= 4096):
            return self._error(400, "width and height must be between 1 and 4096")
        seed = body.get("seed")
        if not isinstance(seed, int):
            seed = int(_digest(body["prompt"].encode()).hexdigest()[:6], 16)
        headers = {**self._meta_headers(), "Content-Type": "image/png"}
        return httpx.Response(200, content=make_png(size[0], size[1], seed), headers=headers)

    def _image_file(self, request: FakeRequest) -> httpx.Response:
        name = request.path.rsplit("/", 1)[-1].removesuffix(".png")
        seed_hex, _, size = name.partition("-")
        w, _, h = size.partition("x")
        try:
            png = make_png(int(w), int(h), int(seed_hex, 16))
        except ValueError:
            return self._error(404, NO_CORD)
        return httpx.Response(200, content=png, headers={"Content-Type": "image/png"})

    _ROUTES: Final[
        Mapping[tuple[str, str], Callable[[FakeChutes, FakeRequest], httpx.Response]]
    ] = {
        ("POST", "/v1/chat/completions"): _chat,
        ("POST", "/v1/completions"): _text,
        ("POST", "/v1/embeddings"): _embeddings,
        ("GET", "/v1/models"): _models,
        ("POST", "/v1/images/generations"): _images,
        ("POST", "/generate"): _generate,
    }

"""A small real HTTP/1.1 server that answers like the chutes platform (PLATFORM.md).

It shares no code with ``chutes.testing``: its answers are written here, by hand, from
PLATFORM.md and the platform's server code, so holding the fake to it holds the fake to the
platform (``test_fake_matches_server``). It runs on plain asyncio streams in a background
thread with its own loop, binds 127.0.0.1 on a free port, and routes by the ``Host`` header
like the platform's edge: ``api.chutes.ai`` is the platform API, ``llm.chutes.ai`` the
gateway, ``{slug}.chutes.ai`` a chute. :class:`LoopbackTransport` sends any request to it
while keeping the request's own ``Host``, so a client pointed at ``https://*.chutes.ai``
reaches it over a real socket. A process that cannot be handed a transport (the command
line) reaches it by URL instead: ``server.listen_as("api.chutes.ai")`` opens another port
whose every request is routed as if sent to that host.

The scenario is fixed (see ``PlatformServer.__init__``); a test changes the account's
attributes (``balance``, ``quotas``, ...) before its requests. Warm-up really waits: a cold
chute's event stream sends its cold events 50 ms apart, then the hot one. Every wait and
loop is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import json
import re
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

import attrs
import httpx

KEY: Final = (
    "cpk_0123456789abcdef0123456789abcdef.fedcba9876543210fedcba9876543210."
    "PLATFORMKEYabc123def456ghi789jkl"
)
SCOPED_KEY: Final = "cpk_scoped_key_for_the_platform_server"
USERNAME: Final = "myuser"
MODEL: Final = "deepseek-ai/DeepSeek-V3"
DOMAIN: Final = "chutes.ai"
COLD_EVENT_GAP: Final = 0.05
STOP_TIMEOUT: Final = 5.0
READ_TIMEOUT: Final = 10.0
MAX_REQUESTS_PER_CONNECTION: Final = 1000
MAX_WARMUP_EVENTS: Final = 120
SPEAK_SCHEMA: Final = {
    "title": "SpeakInput",
    "type": "object",
    "properties": {"text": {"type": "string"}, "voice": {"type": "string", "default": "af"}},
    "required": ["text"],
}
REASONS: Final = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    404: "Not Found",
    422: "Unprocessable Entity",
    503: "Service Unavailable",
}
STAMP: Final = "2025-01-01T00:00:00Z"


def platform_id(full_name: str) -> str:
    """The platform's chute id: uuid5 of ``"{user}::chute::{name}"``."""
    user, _, name = full_name.partition("/")
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"{user}::chute::{name}"))


def platform_slug(full_name: str) -> str:
    """python-slugify's slug of ``user-name``, as the platform makes it."""
    return re.sub(r"[^a-z0-9]+", "-", full_name.lower()).strip("-")[:58].strip("-")


def llm_cords() -> list[dict[str, Any]]:
    """The cords of a vLLM chute: chat and completions, streamed and not, and models."""

    def cord(function: str, public: str, stream: bool, method: str = "POST") -> dict[str, Any]:
        return {
            "method": method,
            "path": f"/{function}",
            "function": function,
            "stream": stream,
            "passthrough": True,
            "public_api_path": public,
            "public_api_method": method,
            "input_schema": {},
            "minimal_input_schema": {},
            "output_schema": {},
            "output_content_type": None,
        }

    return [
        cord("chat_stream", "/v1/chat/completions", True),
        cord("chat", "/v1/chat/completions", False),
        cord("completion_stream", "/v1/completions", True),
        cord("completion", "/v1/completions", False),
        cord("get_models", "/v1/models", False, "GET"),
    ]


def tts_cords() -> list[dict[str, Any]]:
    """A TTS chute's ``/speak`` cord, its body model wrapped under ``input_args``."""
    flat = copy.deepcopy(dict(SPEAK_SCHEMA))
    return [
        {
            "method": "POST",
            "path": "/speak",
            "function": "speak",
            "stream": False,
            "passthrough": False,
            "public_api_path": None,
            "public_api_method": None,
            "input_schema": {
                "title": "speakArgs",
                "type": "object",
                "properties": {"input_args": {"$ref": "#/definitions/SpeakInput"}},
                "required": ["input_args"],
                "definitions": {"SpeakInput": flat},
            },
            "minimal_input_schema": {},
            "output_schema": {},
            "output_content_type": "audio/wav",
        }
    ]


@attrs.define
class ServedChute:
    """One chute of the scenario."""

    full_name: str
    template: str | None = "vllm"
    public: bool = True
    hot: bool = True
    cold_events: int = 0
    instances: int = 1
    concurrency: int | None = None
    max_instances: int | None = None
    disabled: bool = False
    cords: list[dict[str, Any]] = attrs.field(factory=llm_cords)
    invocations: int = 0

    @property
    def owner(self) -> str:
        return self.full_name.partition("/")[0]

    @property
    def name(self) -> str:
        return self.full_name.partition("/")[2]

    @property
    def chute_id(self) -> str:
        return platform_id(self.full_name)

    @property
    def slug(self) -> str:
        return platform_slug(self.full_name)


@attrs.define
class Answer:
    """A response to write: JSON, raw bytes, or server-sent events made as they are sent."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = attrs.field(factory=dict)
    events: Callable[[], AsyncIterator[bytes]] | None = None


def answer(status: int, payload: Any, **headers: str) -> Answer:
    """A JSON answer."""
    return Answer(status, json.dumps(payload).encode(), headers=headers)


def detail(status: int, text: Any) -> Answer:
    """The platform's error shape: ``{"detail": ...}``."""
    return answer(status, {"detail": text})


class PlatformServer:
    """The platform on a real socket (see the module docstring)."""

    def __init__(self) -> None:
        self.port = 0
        self.username = USERNAME
        self.balance = 25.0
        self.tao_usd = 400.0
        self.quotas: Any = [
            {"chute_id": "*", "quota": 200, "is_default": True, "effective_date": STAMP}
        ]
        self.subscription: Any = {"subscription": False}
        self.usage_buckets: list[dict[str, Any]] = []
        self.chutes: list[ServedChute] = [
            ServedChute("myuser/my-llm", concurrency=16, max_instances=4),
            ServedChute("myuser/cold-llm", hot=False, cold_events=3),
            ServedChute("myuser/tts", template=None, cords=tts_cords()),
            ServedChute("other/secret", public=False),
            ServedChute("chutes/deepseek-v3"),
        ]
        self.models: dict[str, tuple[str, float, float]] = {MODEL: ("chutes/deepseek-v3", 0.3, 1.2)}
        self.seen: list[tuple[str, str, str, bytes]] = []  # (method, host, target, body)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="platform-server", daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._listeners: list[asyncio.AbstractServer] = []
        self._tasks: set[asyncio.Task[None]] = set()

    # --- life cycle --------------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def start(self) -> PlatformServer:
        """Bind 127.0.0.1 on a free port and serve in the background thread."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=STOP_TIMEOUT)
        return self

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def listen_as(self, host: str) -> int:
        """Open another listener on 127.0.0.1 whose every request is routed as if its
        ``Host`` were ``host`` (``api.chutes.ai``, ``llm.chutes.ai``, ``{slug}.chutes.ai``);
        returns its port. It is closed with the server."""
        future = asyncio.run_coroutine_threadsafe(self._listen(host), self._loop)
        port: int = future.result(timeout=STOP_TIMEOUT)
        return port

    async def _listen(self, host: str) -> int:
        server = await asyncio.start_server(
            functools.partial(self._serve, host=host), "127.0.0.1", 0
        )
        self._listeners.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    def stop(self) -> None:
        """Close the listeners and every connection, stop the loop, join the thread."""
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(
                timeout=STOP_TIMEOUT
            )
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=STOP_TIMEOUT)
            alive = self._thread.is_alive()
            if not alive:
                self._loop.close()
        assert not alive, "the platform server thread did not stop"

    async def _shutdown(self) -> None:
        assert self._server is not None
        listeners = [self._server, *self._listeners]
        for listener in listeners:
            listener.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_TIMEOUT)
        for listener in listeners:
            await asyncio.wait_for(listener.wait_closed(), timeout=STOP_TIMEOUT)

    # --- HTTP/1.1 ----------------------------------------------------------------------------

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str | None = None
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            for _ in range(MAX_REQUESTS_PER_CONNECTION):
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
                except (asyncio.IncompleteReadError, TimeoutError):
                    break
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                if host is not None:
                    headers["host"] = host
                length = int(headers.get("content-length", "0"))
                body = await reader.readexactly(length) if length else b""
                with self._lock:
                    self.seen.append((method, headers.get("host", ""), target, body))
                    reply = self._route(method, target, headers, body)
                await self._write(writer, reply)
                if headers.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, OSError, ValueError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            writer.transport.abort()
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), timeout=1.0)
            self._tasks.discard(task)

    async def _write(self, writer: asyncio.StreamWriter, reply: Answer) -> None:
        fields = [("Content-Type", reply.content_type), *reply.headers.items()]
        if reply.events is None:
            fields.append(("Content-Length", str(len(reply.body))))
        else:
            fields.append(("Transfer-Encoding", "chunked"))
        lines = [f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, 'Status')}"]
        lines += [f"{name}: {value}" for name, value in fields]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if reply.events is None:
            writer.write(reply.body)
        else:
            async for event in reply.events():
                writer.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
                await writer.drain()
            writer.write(b"0\r\n\r\n")
        await writer.drain()

    # --- routing by Host ---------------------------------------------------------------------

    def _who(self, headers: dict[str, str]) -> str:
        auth = headers.get("authorization")
        key: str | None = headers.get("x-api-key")
        if auth is not None:
            key = auth[7:] if auth[:7].lower() == "bearer " else None
        if auth is None and key is None:
            return "anonymous"
        if key == SCOPED_KEY:
            return "scoped"
        return "user" if key == KEY else "invalid"

    def _route(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        parts = urlsplit(target)
        path, params = parts.path, dict(parse_qsl(parts.query))
        host = headers.get("host", "").partition(":")[0].lower()
        who = self._who(headers)
        if who == "invalid":
            return detail(401, "Invalid token or user not found")
        label, _, rest = host.partition(".")
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = None
        if host == f"api.{DOMAIN}":
            return self._api(method, path, params, who, payload)
        if rest != DOMAIN:
            return detail(404, "No matching chute found!")
        if who == "anonymous":
            return detail(401, "Invalid token or user not found")
        if label == "llm":
            return self._gateway(method, path, payload)
        chute = next((c for c in self.chutes if c.slug == label), None)
        if chute is None:
            return detail(404, "No matching chute found!")
        return self._invoke(chute, method, path, payload)

    def _visible(self, chute: ServedChute, who: str) -> bool:
        return chute.public or (who in ("user", "scoped") and chute.owner == self.username)

    def _find(self, ident: str, who: str) -> ServedChute | None:
        wanted = ident.strip("/").lower()
        for chute in self.chutes:
            if not self._visible(chute, who):
                continue
            if wanted in (chute.chute_id, chute.full_name.lower(), chute.name.lower()):
                return chute
        return None

    # --- the platform API --------------------------------------------------------------------

    def _api(
        self, method: str, path: str, params: dict[str, str], who: str, payload: Any
    ) -> Answer:
        invoked = re.fullmatch(r"/chutes/([0-9a-f-]{36})(/.*)", path)
        if invoked:
            chute = next((c for c in self.chutes if c.chute_id == invoked.group(1)), None)
            if chute is None:
                return detail(404, "No matching chute found!")
            return self._invoke(chute, method, invoked.group(2), payload)
        if method != "GET":
            return detail(404, "Not Found")
        if path in ("/chutes", "/chutes/"):
            return self._list(params, who)
        if path.startswith("/chutes/warmup/"):
            if who == "anonymous":
                return detail(401, "Invalid token or user not found")
            return self._warmup(path[len("/chutes/warmup/") :], params, who)
        if path.startswith("/chutes/"):
            chute = self._find(path[len("/chutes/") :], who)
            if chute is None:
                return detail(404, "Chute not found, or does not belong to you")
            return answer(200, self._record(chute))
        if path == "/pricing":
            return answer(200, self._pricing())
        if path.startswith("/users/me"):
            if who in ("anonymous", "scoped"):
                return detail(401, "Invalid token or user not found")
            return self._account(path[len("/users/me") :], params)
        return detail(404, "Not Found")

    def _price(self, chute: ServedChute) -> dict[str, Any]:
        price: dict[str, Any] = {}
        if chute.template == "vllm":
            found = next((m for m in self.models.values() if m[0] == chute.full_name), None)
            low, high = (found[1], found[2]) if found else (0.2, 0.8)
            price["per_million_tokens"] = {
                "input": {"usd": low, "tao": low / self.tao_usd},
                "output": {"usd": high, "tao": high / self.tao_usd},
            }
        # The platform merges the node selector's hourly price into every chute's.
        price["usd"] = {"hour": 1.5, "second": 1.5 / 3600}
        price["tao"] = {"hour": 1.5 / self.tao_usd, "second": 1.5 / self.tao_usd / 3600}
        return price

    def _record(self, chute: ServedChute, *, cords: bool = True) -> dict[str, Any]:
        instances = [
            {
                "instance_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{chute.chute_id}/{n}")),
                "region": "eu-west",
                "active": True,
                "verified": True,
                "last_verified_at": STAMP,
            }
            for n in range(chute.instances if chute.hot else 0)
        ]
        return {
            "chute_id": chute.chute_id,
            "name": chute.name,
            "slug": chute.slug,
            "standard_template": chute.template,
            "public": chute.public,
            "tee": False,
            "user": {
                "username": chute.owner,
                "user_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, chute.owner)),
            },
            "concurrency": chute.concurrency,
            "max_instances": chute.max_instances,
            "shutdown_after_seconds": 300,
            "bounty": None if chute.hot else 25,
            "instances": instances,
            "hot": chute.hot,
            "current_estimated_price": self._price(chute),
            "cords": [dict(c) for c in chute.cords] if cords else None,
        }

    def _list(self, params: dict[str, str], who: str) -> Answer:
        def flag(name: str) -> bool:
            return params.get(name, "false").lower() in ("true", "1", "yes", "on")

        try:
            limit = int(params.get("limit", "25"))
            page = int(params.get("page", "0"))
        except ValueError:
            return answer(422, {"detail": [{"loc": ["query"], "msg": "not an integer"}]})
        if not 0 < limit <= 5000:
            return answer(422, {"detail": [{"loc": ["query", "limit"], "msg": "out of range"}]})
        chosen = []
        for chute in self.chutes:
            own = who in ("user", "scoped") and chute.owner == self.username
            if who in ("user", "scoped") and not flag("include_public"):
                if not own:
                    continue
            elif not (chute.public or own):
                continue
            if params.get("name", "").lower() not in chute.name.lower():
                continue
            if params.get("template") and chute.template != params["template"]:
                continue
            chosen.append(chute)
        chosen.sort(key=lambda c: -c.invocations)
        refs: dict[str, list[dict[str, Any]]] = {}
        items = []
        for chute in chosen[page * limit : (page + 1) * limit]:
            item = self._record(chute, cords=False)
            ref = str(uuid.uuid5(uuid.NAMESPACE_OID, json.dumps(chute.cords, sort_keys=True)))
            item["cord_ref_id"] = ref
            keep = flag("include_schemas")
            refs[ref] = [
                {k: v for k, v in c.items() if keep or not k.endswith("_schema")}
                for c in chute.cords
            ]
            items.append(item)
        return answer(
            200,
            {"total": len(chosen), "page": page, "limit": limit, "items": items, "cord_refs": refs},
        )

    def _warmup(self, ident: str, params: dict[str, str], who: str) -> Answer:
        chute = self._find(ident, who)
        if chute is None:
            return detail(404, "Chute not found, or does not belong to you")
        if self.balance <= 0:
            return detail(
                402,
                f"Account balance is ${self.balance}, please top-up with fiat or send tao to 5Pay",
            )
        if chute.disabled:
            return detail(503, "This chute is currently disabled.")
        if params.get("quick", "").lower() == "true":
            count = chute.instances if chute.hot else 0
            return answer(
                200,
                {
                    "chute_id": chute.chute_id,
                    "status": "hot" if chute.hot else "cold",
                    "instance_count": count,
                    "bounty": None if chute.hot else 25,
                    "instances": [
                        {
                            "instance_id": f"i-{n}",
                            "active": True,
                            "gpu_count": 8,
                            "gpu_model_name": "h200",
                        }
                        for n in range(count)
                    ],
                },
            )

        async def events() -> AsyncIterator[bytes]:
            # The platform checks for instances every few seconds; here 50 ms, really waited.
            for _ in range(MAX_WARMUP_EVENTS):
                with self._lock:
                    if chute.cold_events <= 0:
                        chute.hot = True
                if chute.hot:
                    log = f"chute is hot, {chute.instances} instances available"
                    yield b"data: " + json.dumps({"status": "hot", "log": log}).encode() + b"\n\n"
                    return
                yield b'data: {"status": "cold", "log": "waiting for instances ..."}\n\n'
                await asyncio.sleep(COLD_EVENT_GAP)
                with self._lock:
                    chute.cold_events -= 1

        return Answer(200, content_type="text/event-stream", events=events)

    def _pricing(self) -> dict[str, Any]:
        def hourly(usd: float) -> dict[str, Any]:
            tao = usd / self.tao_usd
            return {
                "usd": {"hour": usd, "second": usd / 3600},
                "tao": {"hour": tao, "second": tao / 3600},
            }

        unit = 0.5 / 3600
        return {
            "tao_usd": self.tao_usd,
            "compute_unit_estimate": {
                "usd": unit,
                "tao": unit / self.tao_usd,
                "description": "one second of compute on the cheapest GPU",
            },
            "gpu_price_estimates": {"h100": hourly(2.0), "a100": hourly(1.2)},
        }

    def _account(self, path: str, params: dict[str, str]) -> Answer:
        if path == "":
            return answer(
                200,
                {
                    "username": self.username,
                    "user_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, self.username)),
                    "balance": self.balance,
                    "payment_address": "5Pay",
                    "quotas": self.quotas,
                    "permissions": ["developer"],
                },
            )
        if path == "/quotas":
            return answer(200, self.quotas)
        if path.startswith("/quota_usage/"):
            if self.quotas == {}:
                return answer(200, {"quota": "unlimited", "used": 0})
            return answer(200, {"quota": 200, "used": 3.0})
        if path == "/subscription_usage":
            return answer(200, self.subscription)
        if path == "/usage":
            per_chute = params.get("per_chute", "").lower() == "true"
            limit, page = int(params.get("limit", "24")), int(params.get("page", "0"))
            rows = []
            for bucket in self.usage_buckets:
                row = {
                    "bucket": bucket["bucket"],
                    "amount": bucket["amount"],
                    "count": bucket["count"],
                    "input_tokens": bucket["input_tokens"],
                    "output_tokens": bucket["output_tokens"],
                }
                if per_chute:
                    row = {
                        "bucket": row["bucket"],
                        "chute_id": bucket["chute_id"],
                        **{k: v for k, v in row.items() if k != "bucket"},
                    }
                rows.append(row)
            return answer(
                200,
                {
                    "total": len(rows),
                    "page": page,
                    "limit": limit,
                    "items": rows[page * limit : (page + 1) * limit],
                },
            )
        return detail(404, "Not Found")

    # --- chutes and the gateway ---------------------------------------------------------------

    def _invoke(self, chute: ServedChute, method: str, path: str, payload: Any) -> Answer:
        if not chute.hot:
            return detail(503, f"No instances available (yet) for chute_id='{chute.chute_id}'")
        served = {
            ((c["public_api_method"] or c["method"]).upper(), c["public_api_path"] or c["path"])
            for c in chute.cords
        }
        if (method, path) not in served:
            return detail(404, "No matching cord found!")
        chute.invocations += 1
        meta = {"X-Chutes-InvocationID": f"inv-{chute.invocations}"}
        if path == "/speak":
            return Answer(200, b"RIFF....WAVE", content_type="audio/wav", headers=meta)
        if path == "/v1/chat/completions" and isinstance(payload, dict):
            return answer(200, self._chat(payload), **meta)
        return answer(200, {}, **meta)

    def _gateway(self, method: str, path: str, payload: Any) -> Answer:
        if (method, path) == ("GET", "/v1/models"):
            data = []
            for model_id, (name, low, high) in self.models.items():
                data.append(
                    {
                        "id": model_id,
                        "object": "model",
                        "created": 1_740_000_000,
                        "owned_by": "sglang",
                        "root": model_id,
                        "parent": None,
                        "max_model_len": 163840,
                        "chute_id": platform_id(name),
                        "price": {
                            "input": {"usd": low, "tao": low / self.tao_usd},
                            "output": {"usd": high, "tao": high / self.tao_usd},
                        },
                        "pricing": {"prompt": low, "completion": high},
                        "confidential_compute": False,
                    }
                )
            return answer(200, {"object": "list", "data": data})
        model = payload.get("model") if isinstance(payload, dict) else None
        if model not in self.models:
            return detail(404, f"model not found: {model}")
        chute = next(c for c in self.chutes if c.full_name == self.models[model][0])
        return self._invoke(chute, method, path, payload)

    @staticmethod
    def _chat(payload: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": "chatcmpl-server",
            "object": "chat.completion",
            "created": 1_740_000_000,
            "model": payload.get("model", "m"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hello from the socket server."},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
        }


class LoopbackTransport(httpx.BaseTransport):
    """Sends every request to ``http://127.0.0.1:{port}``, keeping its ``Host`` header.

    A client pointed at ``https://myuser-my-llm.chutes.ai`` thus reaches the local server
    over a real socket, and the server routes it by ``Host`` like the platform's edge.
    """

    def __init__(self, port: int) -> None:
        self._port = port
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Rewrite the URL to the local server and send (the ``Host`` header stays)."""
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self._port)
        return self._inner.handle_request(request)

    def close(self) -> None:
        """Close the pooled connections."""
        self._inner.close()


class AsyncLoopbackTransport(httpx.AsyncBaseTransport):
    """The asyncio twin of :class:`LoopbackTransport`."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Rewrite the URL to the local server and send (the ``Host`` header stays)."""
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self._port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._inner.aclose()

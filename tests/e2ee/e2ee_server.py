"""A small E2EE platform on 127.0.0.1: the instances and invoke routes over real HTTP/1.1.

It follows PLATFORM.md ("End-to-end encryption") with the independent pqcrypto instance
side of ``instance.py``: ``GET /e2e/instances/{chute_id}`` lists up to five instances with
ten single-use nonces each; ``POST /e2e/invoke`` checks the headers and spends the nonce
(unknown, spent, expired or another instance's: 403), decrypts the body, and answers an
OpenAI chat completion, encrypted whole or as a stream of encrypted chunks (usage inside).

Tests script it: ``server.queue(Fault...)`` lines up faults for the next invoke requests;
``server.legacy`` holds instances that refuse plain requests (400); ``server.advance(s)``
moves its clock. It records the raw bytes it received and sent, the decrypted requests,
and how often the instances route was called. It runs on asyncio streams in a background
thread; every wait is bounded; a fixture starts and stops it.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import enum
import json
import secrets
import threading
import time
from typing import Any

import attrs
from pq_instance import PQInstance, sse

CHUTE_ID = "5f0a8a4e-3b1c-5d2e-8f9a-0b1c2d3e4f50"
API_KEY = "cpk_e2ee0123456789abcdef0123456789.e2ee0123456789abcdef0123456789ab.E2EESECRET"
REPLY_TEXT = "Zebras hum in violet hexagons at noon"  # never on the wire in the clear
USAGE = {"prompt_tokens": 7, "completion_tokens": 6, "total_tokens": 13}
STOP_TIMEOUT = 5.0
READ_TIMEOUT = 5.0
MAX_REQUESTS_PER_CONNECTION = 1000
REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    410: "Gone",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    502: "Bad Gateway",
}


class Fault(enum.Enum):
    """What the next invoke request meets (after its nonce is checked and spent)."""

    NONCE_403 = "the platform forgets every nonce, then refuses this one"
    GONE_410 = "the instance is gone"
    BUSY_429 = "the instance is at capacity"
    KEY_EXCHANGE_502 = "the instance requires key exchange"
    TAMPER_REPLY = "one byte of the encrypted plain reply is flipped"
    TRUNCATE_REPLY = "the encrypted plain reply is cut short"
    TAMPER_CHUNK = "one byte of the third encrypted stream chunk is flipped"
    STREAM_ERROR = "the stream ends with an e2e_error event after two chunks"


@attrs.frozen
class Invocation:
    """A request the server decrypted."""

    instance_id: str
    path: str
    stream: bool
    body: dict[str, Any]


def completion(text: str = REPLY_TEXT) -> dict[str, Any]:
    """An OpenAI chat completion."""
    return {
        "id": "chatcmpl-e2e",
        "object": "chat.completion",
        "created": 1,
        "model": "e2e-model",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": USAGE,
    }


def chunk_frames(text: str = REPLY_TEXT) -> list[bytes]:
    """The upstream SSE frames of a streamed chat completion: role, three content pieces,
    the finish, the usage chunk, ``[DONE]``."""

    def chunk(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> bytes:
        payload: dict[str, Any] = {
            "id": "chatcmpl-e2e",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "e2e-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if delta else [],
        }
        if usage is not None:
            payload["usage"] = usage
        return sse(payload)

    words = text.split(" ")
    thirds = [" ".join(words[:2]), " " + " ".join(words[2:4]), " " + " ".join(words[4:])]
    frames = [chunk({"role": "assistant", "content": ""})]
    frames += [chunk({"content": piece}) for piece in thirds]
    frames.append(chunk({"content": ""}, finish="stop"))
    frames.append(chunk({}, usage=USAGE))
    frames.append(b"data: [DONE]\n\n")
    return frames


class E2EEServer:
    """The E2EE platform (see the module docstring)."""

    def __init__(
        self,
        *,
        chute_id: str = CHUTE_ID,
        instances: int = 3,
        nonces_per_instance: int = 10,
        expires_in: float = 60.0,
        plain_usage: bool = True,
    ) -> None:
        self.chute_id = chute_id
        self.instances = {f"inst-{n}": PQInstance(f"inst-{n}") for n in range(min(instances, 5))}
        self.nonces_per_instance = nonces_per_instance
        self.expires_in = expires_in
        # Real vLLM instances add a plaintext {"usage": ...} event before the encrypted usage
        # chunk, for the platform's billing.
        self.plain_usage = plain_usage
        self.legacy: set[str] = set()
        self.port = 0
        self.fetches = 0
        self.received: list[bytes] = []
        self.sent: list[bytes] = []
        self.invocations: list[Invocation] = []
        self.statuses: list[int] = []
        self._nonces: dict[str, tuple[str, float]] = {}  # nonce -> (instance id, deadline)
        self._faults: collections.deque[Fault] = collections.deque()
        self._offset = 0.0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # --- life cycle --------------------------------------------------------------------------

    def start(self) -> E2EEServer:
        """Bind 127.0.0.1 on a free port and serve in the background thread."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(STOP_TIMEOUT)
        return self

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        """Close the listener and every connection, stop the loop, join the thread."""
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(STOP_TIMEOUT)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(STOP_TIMEOUT)
            alive = self._thread.is_alive()
            if not alive:
                self._loop.close()
        assert not alive, "the E2EE server thread did not stop"

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=STOP_TIMEOUT)
        await asyncio.wait_for(self._server.wait_closed(), STOP_TIMEOUT)

    # --- scripting ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def queue(self, *faults: Fault) -> None:
        """Meet the next invoke requests with ``faults``, in order."""
        with self._lock:
            self._faults.extend(faults)

    def advance(self, seconds: float) -> None:
        """Move the server's clock forward (nonces expire by it)."""
        with self._lock:
            self._offset += seconds

    def wire(self) -> bytes:
        """Every byte received and sent so far."""
        with self._lock:
            return b"".join(self.received) + b"".join(self.sent)

    def _now(self) -> float:
        return time.monotonic() + self._offset

    # --- HTTP --------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
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
                length = int(headers.get("content-length", "0"))
                body = await asyncio.wait_for(reader.readexactly(length), READ_TIMEOUT)
                with self._lock:
                    self.received.append(head + body)
                status, content_type, parts = self._answer(method, target, headers, body)
                await self._send(writer, status, content_type, parts)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except asyncio.CancelledError:
            writer.transport.abort()
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            self._tasks.discard(task)

    async def _send(
        self, writer: asyncio.StreamWriter, status: int, content_type: str, parts: list[bytes]
    ) -> None:
        head = f"HTTP/1.1 {status} {REASONS[status]}\r\nContent-Type: {content_type}\r\n"
        if content_type == "text/event-stream":
            # A stream goes out chunked, one SSE frame per chunk, as the platform relays it.
            data = head.encode() + b"Transfer-Encoding: chunked\r\n\r\n"
            data += b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in parts) + b"0\r\n\r\n"
        else:
            body = b"".join(parts)
            data = head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
        with self._lock:
            self.sent.append(data)
            self.statuses.append(status)
        writer.write(data)
        await asyncio.wait_for(writer.drain(), READ_TIMEOUT)

    def _answer(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, str, list[bytes]]:
        if headers.get("authorization") != f"Bearer {API_KEY}":
            return error(401, "Invalid or missing API key.")
        prefix = "/e2e/instances/"
        if target.startswith(prefix):
            if method != "GET":
                return error(405, "Method Not Allowed")
            return self._instances(target[len(prefix) :])
        if target == "/e2e/invoke":
            if method != "POST":
                return error(405, "Method Not Allowed")
            return self._invoke(headers, body)
        return error(404, "Not Found")

    # --- the routes --------------------------------------------------------------------------

    def _instances(self, chute_id: str) -> tuple[int, str, list[bytes]]:
        if chute_id != self.chute_id:
            return error(404, "Chute not found")
        now = self._now()
        listed = []
        with self._lock:
            self.fetches += 1
            for instance in self.instances.values():
                nonces = [secrets.token_urlsafe(24) for _ in range(self.nonces_per_instance)]
                for nonce in nonces:
                    self._nonces[nonce] = (instance.instance_id, now + self.expires_in)
                listed.append(
                    {
                        "instance_id": instance.instance_id,
                        "e2e_pubkey": instance.public_key_b64,
                        "nonces": nonces,
                    }
                )
        answer = {
            "instances": listed,
            "nonce_expires_in": self.expires_in,
            "nonce_expires_at": int(time.time() + self.expires_in),
        }
        return 200, "application/json", [json.dumps(answer).encode()]

    def _invoke(self, headers: dict[str, str], body: bytes) -> tuple[int, str, list[bytes]]:
        required = ("x-chute-id", "x-instance-id", "x-e2e-nonce", "x-e2e-stream", "x-e2e-path")
        missing = [name for name in required if name not in headers]
        if missing:
            return error(422, f"missing headers: {', '.join(missing)}")
        if headers.get("content-type") != "application/octet-stream":
            return error(400, "the body must be application/octet-stream")
        if headers["x-e2e-stream"] not in ("true", "false") or not headers["x-e2e-path"].startswith(
            "/"
        ):
            return error(400, "bad X-E2E-Stream or X-E2E-Path")
        instance_id = headers["x-instance-id"]
        with self._lock:
            issued = self._nonces.get(headers["x-e2e-nonce"])
            valid = (
                headers["x-chute-id"] == self.chute_id
                and issued is not None
                and issued[0] == instance_id
            )
            if valid:
                del self._nonces[headers["x-e2e-nonce"]]
            fault = self._faults.popleft() if valid and self._faults else None
        if not valid or issued is None or issued[1] <= self._now():
            return error(403, "Invalid, expired, or already-used nonce")
        if fault is Fault.NONCE_403:
            with self._lock:
                self._nonces.clear()
            return error(403, "Invalid, expired, or already-used nonce")
        if fault is Fault.GONE_410:
            return error(410, "Instance is no longer active")
        if fault is Fault.BUSY_429:
            return error(429, "Instance is at maximum capacity, try again later")
        if fault is Fault.KEY_EXCHANGE_502:
            return error(502, "Instance requires key exchange, try a different instance")
        instance = self.instances[instance_id]
        stream = headers["x-e2e-stream"] == "true"
        try:
            payload, response_pk = instance.decrypt_request(body)
        except Exception:
            return error(400, "E2E decryption failed")
        with self._lock:
            self.invocations.append(Invocation(instance_id, headers["x-e2e-path"], stream, payload))
        if instance_id in self.legacy and not stream:
            return error(400, "Bad request: E2EE needs a streamed request on this instance")
        if not stream:
            reply = instance.encrypt_reply(response_pk, json.dumps(completion()).encode())
            if fault is Fault.TAMPER_REPLY:
                reply = reply[:-20] + bytes([reply[-20] ^ 1]) + reply[-19:]
            if fault is Fault.TRUNCATE_REPLY:
                reply = reply[:1100]
            return 200, "application/octet-stream", [reply]
        upstream = chunk_frames()
        frames = instance.encrypt_stream(response_pk, upstream)
        if fault is Fault.TAMPER_CHUNK:
            frames[3] = tamper_frame(frames[3])
        if fault is Fault.STREAM_ERROR:
            frames = [*frames[:3], sse({"e2e_error": "upstream model crashed"})]
        elif self.plain_usage:
            frames.insert(len(frames) - 2, sse({"usage": USAGE}))
        return 200, "text/event-stream", frames


def error(status: int, detail: str) -> tuple[int, str, list[bytes]]:
    """An error answer with the platform's ``{"detail": ...}`` body."""
    return status, "application/json", [json.dumps({"detail": detail}).encode()]


def tamper_frame(frame: bytes) -> bytes:
    """Flip one bit inside an ``e2e`` frame's ciphertext, keeping it valid base64."""
    payload = json.loads(frame[len(b"data: ") :])
    raw = bytearray(base64.b64decode(payload["e2e"]))
    raw[-1] ^= 1
    return sse({"e2e": base64.b64encode(bytes(raw)).decode()})

"""No byte sequence a server sends makes a call raise anything but a chutes.ChutesError.

A hypothesis property over a raw socket server: status lines, headers, bodies and event
streams, well-formed or not, cut anywhere, closed or reset; every kind of call, blocking and
asyncio. A call either returns or raises a ChutesError.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import chutes

POLICY = chutes.RetryPolicy(initial_delay=0)
TIMEOUT = chutes.Timeout(connect=2, read=0.5, write=2, pool=2, total=3)

STATUS_LINES = [
    b"HTTP/1.1 200 OK",
    b"HTTP/1.1 404 Not Found",
    b"HTTP/1.1 429 Too Many Requests",
    b"HTTP/1.1 503 Service Unavailable",
    b"HTTP/1.1 302 Found",
    b"HTTP/1.0 200",
    b"HTTP/1.1 999 Odd",
    b"HTTP/1.1 20",
    b"HTTP/2 200",
    b"garbage",
    b"",
]
HEADERS = [
    b"Content-Type: application/json",
    b"Content-Type: text/event-stream",
    b"Content-Type: text/event-stream; charset=idna",
    b"Content-Type: text/plain; charset=utf-16",
    b"Content-Type: image/png",
    b"Content-Type: text/html",
    b"Content-Length: 0",
    b"Content-Length: 5",
    b"Content-Length: 99999",
    b"Content-Length: -1",
    b"Content-Length: x",
    b"Transfer-Encoding: chunked",
    b"Content-Encoding: gzip",
    b"Content-Encoding: deflate",
    b"Content-Encoding: br",
    b"Content-Encoding: zstd",
    b"Content-Encoding: identity, gzip",
    b"Retry-After: 0",
    b"Retry-After: 99999999999999999999",
    b"Retry-After: Thu, 01 Jan 1970 00:00:00 GMT",
    b"retry-after-ms: nan",
    b"Location: http://evil.example/",
    b"X-Chutes-Quota-Total: 1e999",
    b"X-Chutes-InvocationID: \xff\xfe",
    b"Set-Cookie: a=b; Domain=.",
    b"Broken header line",
]
BODIES = [
    b"",
    b"{}",
    b'{"detail": "no"}',
    b'{"detail": {"message": "quota", "quota_reset_timestamp": 1e300}}',
    b'{"error": {"message": "boom"}}',
    b'{"choices": [{"index": 0, "message": {"content": [1, 2]}}]}',
    b'{"choices": "x", "usage": {"total_tokens": 1.5}}',
    b'{"data": [{"url": "http://x:99999/i.png"}], "created": "yesterday"}',
    b"[" * 5000,
    b"\xff\xfe\x00garbage",
    gzip.compress(b'{"ok": true}'),
    gzip.compress(b'{"ok": true}')[:-9],
    b"data: {}\n\n",
    b'data: {"choices": [{"index": 0, "delta": {"content": "hi"}}]}\n\n',
    b"data: [DONE]\n\n",
    b"event: error\ndata: oops\n\n",
    b'{"error": "boom"}',
    b"retry: \xc2\xb2\ndata: x\n\n",
    b"id: \x00\ndata: {\n\n",
    b"5\r\nhello\r\n0\r\n\r\n",
    b"zz\r\nhello\r\n",
    b"<html><title>504 Gateway Time-out</title></html>",
]


@st.composite
def answers(draw: st.DrawFn) -> bytes:
    """Bytes a server might send back, from well-formed to nonsense."""
    status = draw(st.sampled_from(STATUS_LINES))
    headers = draw(st.lists(st.sampled_from(HEADERS), max_size=5))
    body = b"".join(draw(st.lists(st.sampled_from(BODIES), max_size=3)))
    head = b"\r\n".join([status, *headers]) + b"\r\n\r\n"
    data = head + body
    cut = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=len(data))))
    noise = draw(st.binary(max_size=32))
    return (data if cut is None else data[:cut]) + noise


def _calls(chute: chutes.Chute) -> dict[str, Callable[[], Any]]:
    def stream_text() -> Any:
        with chute.chat.completions.create(messages=[], stream=True) as stream:
            return "".join(stream.iter_text())

    def events() -> Any:
        with chute.stream("/e") as source:
            return [event.json() if event.data.startswith("{") else event.data for event in source]

    return {
        "get": lambda: chute.get("/x").json(),
        "post": lambda: chute.post("/x", json={"a": 1}).text,
        "chat": lambda: chute.chat.completions.create(messages=[]).choices,
        "stream": stream_text,
        "events": events,
        "image": lambda: [i.bytes() for i in chute.images.generate(prompt="p").data],
        "models": lambda: chute.models.list().data,
    }


async def _acall(chute: chutes.AsyncChute, name: str) -> Any:
    if name == "get":
        return (await chute.get("/x")).json()
    if name == "post":
        return (await chute.post("/x", json={"a": 1})).text
    if name == "chat":
        return (await chute.chat.completions.create(messages=[])).choices
    if name == "stream":
        stream = await chute.chat.completions.create(messages=[], stream=True)
        async with stream:
            return "".join([piece async for piece in stream.iter_text()])
    if name == "events":
        async with chute.stream("/e") as source:
            return [event.data async for event in source]
    if name == "image":
        return [await i.bytes() for i in (await chute.images.generate(prompt="p")).data]
    return (await chute.models.list()).data


CALLS = ["get", "post", "chat", "stream", "events", "image", "models"]
ENDINGS = ["close", "reset"]


# Answers that broke earlier versions, tried first every run.
KNOWN = [
    b"HTTP/1.1 400 Bad\r\nContent-Type: application/json\r\n\r\n" + b"[" * 5000,
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + b"[" * 5000,
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: " + b"[" * 5000 + b"\n\n",
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=idna\r\n\r\n\xff\xfe",
    b"HTTP/1.1 402 P\r\n\r\n" + BODIES[3],
    b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\nnot gzip",
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + BODIES[7],
]


def _known(test: Callable[..., Any]) -> Callable[..., Any]:
    for answer in KNOWN:
        for call in CALLS:
            test = example(answer=answer, call=call, ending="close")(test)
    return test


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@_known
@given(answer=answers(), call=st.sampled_from(CALLS), ending=st.sampled_from(ENDINGS))
def test_any_answer_gives_a_result_or_a_chutes_error_sync(
    fault_server: Any, rel_key: str, answer: bytes, call: str, ending: str
) -> None:
    """Whatever the server sends, a blocking call returns or raises a ChutesError."""
    fault_server.clear()
    fault_server.fallback = fault_server.raw(answer, ending=ending)
    with (
        chutes.Client(api_key=rel_key, retry_policy=POLICY, timeout=TIMEOUT) as client,
        contextlib.suppress(chutes.ChutesError),
    ):
        _calls(client.chute(url=fault_server.url))[call]()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@_known
@given(answer=answers(), call=st.sampled_from(CALLS), ending=st.sampled_from(ENDINGS))
def test_any_answer_gives_a_result_or_a_chutes_error_async(
    fault_server: Any, rel_key: str, answer: bytes, call: str, ending: str
) -> None:
    """Whatever the server sends, an asyncio call returns or raises a ChutesError."""
    fault_server.clear()
    fault_server.fallback = fault_server.raw(answer, ending=ending)

    async def run() -> None:
        async with chutes.AsyncClient(
            api_key=rel_key, retry_policy=POLICY, timeout=TIMEOUT
        ) as client:
            with contextlib.suppress(chutes.ChutesError):
                await _acall(client.chute(url=fault_server.url), call)

    asyncio.run(run())


def test_the_property_sees_real_answers(fault_server: Any, rel_key: str) -> None:
    """The server behind the property answers as scripted (so the property tests calls)."""
    body = json.dumps({"ok": 1}).encode()
    fault_server.fallback = fault_server.raw(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    with chutes.Client(api_key=rel_key, retry_policy=POLICY, timeout=TIMEOUT) as client:
        assert _calls(client.chute(url=fault_server.url))["get"]() == {"ok": 1}

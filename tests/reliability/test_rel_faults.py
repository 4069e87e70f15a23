"""Every fault of the fault server ends in the contract's behaviour, for both facades.

The contract (API.md, "Retries, timeouts, limits" and "Errors"): the right exception class
and message, the right number of attempts as counted by the server, no hang past the
configured timeout plus one second, and a client that still serves the next request.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import pytest

import chutes

NO_SLEEP = chutes.RetryPolicy(initial_delay=0)
MESSAGES = [{"role": "user", "content": "hi"}]
CHAT_PATH = "/v1/chat/completions"
BOOM = b'{"error": "boom"}'
SLACK = 1.0  # seconds allowed past the configured timeout


def _timeout(read: float) -> chutes.Timeout:
    return chutes.Timeout(connect=1.0, read=read, write=1.0, pool=1.0)


def sync_client(key: str, read: float = 2.0, **options: Any) -> chutes.Client:
    """A blocking client that never sleeps between retries."""
    options.setdefault("retry_policy", NO_SLEEP)
    return chutes.Client(api_key=key, timeout=_timeout(read), **options)


def async_client(key: str, read: float = 2.0, **options: Any) -> chutes.AsyncClient:
    """An asyncio client that never sleeps between retries."""
    options.setdefault("retry_policy", NO_SLEEP)
    return chutes.AsyncClient(api_key=key, timeout=_timeout(read), **options)


# --- the calls, per facade --------------------------------------------------------------


def _get(chute: chutes.Chute) -> Any:
    return chute.get("/fault").json()


def _chat(chute: chutes.Chute) -> Any:
    return chute.chat.completions.create(model="m", messages=MESSAGES).choices[0].message.content


def _events(chute: chutes.Chute) -> Any:
    with chute.stream("/events") as events:
        return [event.data for event in events]


def _chat_stream(chute: chutes.Chute) -> Any:
    stream = chute.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    with stream:
        return "".join(stream.iter_text())


async def _aget(chute: chutes.AsyncChute) -> Any:
    return (await chute.get("/fault")).json()


async def _achat(chute: chutes.AsyncChute) -> Any:
    completion = await chute.chat.completions.create(model="m", messages=MESSAGES)
    return completion.choices[0].message.content


async def _aevents(chute: chutes.AsyncChute) -> Any:
    async with chute.stream("/events") as events:
        return [event.data async for event in events]


async def _achat_stream(chute: chutes.AsyncChute) -> Any:
    stream = await chute.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    async with stream:
        return "".join([piece async for piece in stream.iter_text()])


SYNC_CALLS: dict[str, Callable[[chutes.Chute], Any]] = {
    "get": _get,
    "chat": _chat,
    "events": _events,
    "chat_stream": _chat_stream,
}
ASYNC_CALLS: dict[str, Callable[[chutes.AsyncChute], Awaitable[Any]]] = {
    "get": _aget,
    "chat": _achat,
    "events": _aevents,
    "chat_stream": _achat_stream,
}
PATHS = {"get": "/fault", "chat": CHAT_PATH, "events": "/events", "chat_stream": CHAT_PATH}


# --- the table ----------------------------------------------------------------------------


@attrs.frozen
class Case:
    """One fault: what the server does, the call made, and what must come out of it."""

    script: Callable[[Any], list[Any]]
    call: str
    error: type[BaseException] | None = None
    match: str | None = None
    attempts: int = 1
    read: float = 2.0
    failure: chutes.ConnectionFailure | None = None
    status: int | None = None
    partial: str | None = None
    result: Any = None


F = chutes.ConnectionFailure
OK_BODY = {"ok": True}


def _frames(*data: str) -> list[bytes]:
    return [f"data: {d}\n\n".encode() for d in data]


CASES = [
    pytest.param(
        Case(
            lambda s: [s.respond(body=OK_BODY, delay=0.5)],
            "get",
            chutes.APITimeoutError,
            r"^timed out waiting for the response: http://127\.0\.0\.1:\d+/fault",
            read=0.2,
            failure=F.READ_TIMEOUT,
        ),
        id="answer-after-read-timeout",
    ),
    pytest.param(
        Case(lambda s: [s.respond(body=OK_BODY, delay=0.3)], "get", result=OK_BODY),
        id="answer-after-delay-within-timeout",
    ),
    pytest.param(
        Case(
            lambda s: [s.stall_after_headers()],
            "get",
            chutes.APITimeoutError,
            r"^timed out waiting for the response",
            read=0.2,
            failure=F.READ_TIMEOUT,
        ),
        id="headers-then-stall",
    ),
    pytest.param(
        Case(
            lambda s: [s.stall()],
            "chat",
            chutes.APITimeoutError,
            r"^timed out waiting for the response",
            read=0.2,
            failure=F.READ_TIMEOUT,
        ),
        id="no-answer-read-timeout-not-retried",
    ),
    pytest.param(
        Case(
            lambda s: [s.reset_before_response()] * 3,
            "get",
            chutes.APIConnectionError,
            r"^the server closed the connection without answering",
            attempts=3,
            failure=F.NO_RESPONSE,
        ),
        id="reset-before-response-every-attempt",
    ),
    pytest.param(
        Case(lambda s: [s.reset_before_response(), s.ok()], "get", attempts=2, result=OK_BODY),
        id="reset-before-response-then-ok",
    ),
    pytest.param(
        Case(lambda s: [s.close_before_response(), s.ok()], "get", attempts=2, result=OK_BODY),
        id="close-before-response-then-ok",
    ),
    pytest.param(
        Case(
            lambda s: [s.reset_mid_body()],
            "get",
            chutes.APIConnectionError,
            r"^the connection dropped while the response was being read",
            failure=F.DROPPED,
        ),
        id="reset-mid-body-not-retried",
    ),
    pytest.param(
        Case(
            lambda s: [s.truncated()],
            "chat",
            chutes.APIConnectionError,
            r"^the connection dropped while the response was being read",
            failure=F.DROPPED,
        ),
        id="content-length-larger-than-body",
    ),
    pytest.param(
        Case(
            lambda s: [s.ok(b'{"choices": [{"message": ')],
            "chat",
            chutes.DecodeError,
            r"JSON",
        ),
        id="complete-invalid-json-200",
    ),
    pytest.param(
        Case(
            lambda s: [
                s.respond(200, b"<html><body>maintenance</body></html>", content_type="text/html")
            ],
            "chat",
            chutes.DecodeError,
            r"html",
        ),
        id="html-page-with-200",
    ),
    pytest.param(
        Case(lambda s: [s.status(503), s.status(429), s.ok()], "get", attempts=3, result=OK_BODY),
        id="503-429-burst-then-ok",
    ),
    pytest.param(
        Case(
            lambda s: [s.status(503, "No instances available (yet) for chute_id=x")] * 3,
            "get",
            chutes.ServiceUnavailableError,
            r"^No instances available \(yet\) for chute_id=x$",
            attempts=3,
            status=503,
        ),
        id="503-burst-exhausts-retries",
    ),
    pytest.param(
        Case(
            lambda s: [s.status(429, "Too many requests")] * 3,
            "chat",
            chutes.RateLimitError,
            r"^Too many requests$",
            attempts=3,
            status=429,
        ),
        id="429-burst-exhausts-retries",
    ),
    pytest.param(
        Case(
            lambda s: [s.html(502, "502 Bad Gateway")] * 3,
            "get",
            chutes.InternalServerError,
            r"^502 Bad Gateway$",
            attempts=3,
            status=502,
        ),
        id="html-502-pages-retried",
    ),
    pytest.param(
        Case(lambda s: [s.html(502, "502 Bad Gateway"), s.ok()], "get", attempts=2, result=OK_BODY),
        id="html-502-then-ok",
    ),
    pytest.param(
        Case(
            lambda s: [s.html(504, "504 Gateway Time-out")],
            "get",
            chutes.InternalServerError,
            r"^504 Gateway Time-out$",
            status=504,
        ),
        id="html-504-page-not-retried",
    ),
    pytest.param(
        Case(lambda s: [s.sse(_frames("1", "2", "3"))], "events", result=["1", "2", "3"]),
        id="events-whole",
    ),
    pytest.param(
        Case(
            lambda s: [s.status(503), s.sse(_frames("1", "2"))],
            "events",
            attempts=2,
            result=["1", "2"],
        ),
        id="events-503-before-first-event-retried",
    ),
    pytest.param(
        Case(
            lambda s: [s.reset_before_response(), s.sse(_frames("1"))],
            "events",
            attempts=2,
            result=["1"],
        ),
        id="events-reset-before-response-retried",
    ),
    pytest.param(
        Case(
            lambda s: [s.sse(_frames(*"0123456789"), gap=0.05)],
            "events",
            read=0.5,
            result=list("0123456789"),
        ),
        id="events-drip-within-read-timeout",
    ),
    pytest.param(
        Case(
            lambda s: [s.sse(_frames("1", "2"), gap=0.5)],
            "events",
            chutes.APITimeoutError,
            r"^timed out waiting for the response",
            read=0.2,
            failure=F.READ_TIMEOUT,
        ),
        id="events-drip-slower-than-read-timeout",
    ),
    pytest.param(
        Case(
            lambda s: [s.sse(_frames("1"), ending="reset")],
            "events",
            chutes.APIConnectionError,
            r"^the connection dropped while the response was being read",
            failure=F.DROPPED,
        ),
        id="events-reset-mid-stream-not-retried",
    ),
    pytest.param(
        Case(
            lambda s: [s.sse([*_frames("1"), BOOM], ending="end-close")],
            "events",
            chutes.StreamError,
            r"^boom$",
        ),
        id="events-error-line",
    ),
    pytest.param(
        Case(lambda s: [s.chat_stream(["Hel", "lo"])], "chat_stream", result="Hello"),
        id="chat-stream-whole",
    ),
    pytest.param(
        Case(
            lambda s: [s.chat_stream(["Hel", "lo"], gap=0.05)],
            "chat_stream",
            read=0.5,
            result="Hello",
        ),
        id="chat-stream-drip-within-read-timeout",
    ),
    pytest.param(
        Case(
            lambda s: [s.sse([s.chat_frame("Hel")], ending="reset")],
            "chat_stream",
            chutes.StreamError,
            r"^the stream was cut before its end",
            partial="Hel",
        ),
        id="chat-stream-reset-mid-stream",
    ),
    pytest.param(
        Case(
            lambda s: [s.sse([s.chat_frame("Hel")], ending="abrupt")],
            "chat_stream",
            chutes.StreamError,
            r"^the stream was cut before its end",
            partial="Hel",
        ),
        id="chat-stream-closed-mid-stream",
    ),
    pytest.param(
        Case(
            lambda s: [s.sse([s.chat_frame("Hel")], ending="end")],
            "chat_stream",
            chutes.StreamError,
            r"^the stream ended before it was complete",
            partial="Hel",
        ),
        id="chat-stream-ends-without-done",
    ),
    pytest.param(
        Case(
            lambda s: [s.sse([s.chat_frame("Hel")], ending="stall")],
            "chat_stream",
            chutes.APITimeoutError,
            r"^timed out waiting for the response",
            read=0.2,
            failure=F.READ_TIMEOUT,
        ),
        id="chat-stream-stall-mid-stream",
    ),
    pytest.param(
        Case(
            lambda s: [s.sse([s.chat_frame("Hel"), s.chat_frame("lo"), BOOM], ending="end-close")],
            "chat_stream",
            chutes.StreamError,
            r"^boom$",
            partial="Hello",
        ),
        id="chat-stream-error-line",
    ),
    pytest.param(
        Case(
            lambda s: [s.sse([s.chat_frame("Hel"), BOOM], ending="abrupt")],
            "chat_stream",
            chutes.StreamError,
            r"^boom$",
            partial="Hel",
        ),
        id="chat-stream-error-line-then-abrupt-close",
    ),
]


def _check(case: Case, outcome: Any, elapsed: float, server: Any, usage: Any) -> None:
    assert elapsed < case.read + SLACK, f"took {elapsed:.2f}s, timeout {case.read}s"
    if case.error is None:
        assert not isinstance(outcome, BaseException), repr(outcome)
        assert outcome == case.result
    else:
        assert type(outcome) is case.error, repr(outcome)
        assert case.match is not None
        text = outcome.message if isinstance(outcome, chutes.APIStatusError) else str(outcome)
        assert re.search(case.match, text), text
        if case.failure is not None:
            assert outcome.failure is case.failure
        if case.status is not None:
            assert outcome.status_code == case.status
        if case.partial is not None:
            assert outcome.partial_text == case.partial
    assert server.count(PATHS[case.call]) == case.attempts
    assert server.count() == case.attempts
    assert (usage.requests, usage.failures, usage.retries) == (
        1,
        int(case.error is not None),
        case.attempts - 1,
    )


@pytest.mark.parametrize("case", CASES)
def test_fault_sync(case: Case, fault_server: Any, rel_key: str) -> None:
    """The blocking client ends a fault as the contract says and then serves the next call."""
    fault_server.queue(*case.script(fault_server))
    with sync_client(rel_key, case.read) as client:
        chute = client.chute(url=fault_server.url)
        started = time.monotonic()
        try:
            outcome = SYNC_CALLS[case.call](chute)
        except chutes.ChutesError as exc:
            outcome = exc
        elapsed = time.monotonic() - started
        _check(case, outcome, elapsed, fault_server, client.usage)
        fault_server.clear()
        fault_server.queue(fault_server.ok({"next": True}))
        assert chute.get("/next").json() == {"next": True}
        assert fault_server.count("/next") == 1


@pytest.mark.parametrize("case", CASES)
async def test_fault_async(case: Case, fault_server: Any, rel_key: str) -> None:
    """The asyncio client ends a fault as the contract says and then serves the next call."""
    fault_server.queue(*case.script(fault_server))
    async with async_client(rel_key, case.read) as client:
        chute = client.chute(url=fault_server.url)
        started = time.monotonic()
        try:
            outcome = await ASYNC_CALLS[case.call](chute)
        except chutes.ChutesError as exc:
            outcome = exc
        elapsed = time.monotonic() - started
        _check(case, outcome, elapsed, fault_server, client.usage)
        fault_server.clear()
        fault_server.queue(fault_server.ok({"next": True}))
        assert (await chute.get("/next")).json() == {"next": True}
        assert fault_server.count("/next") == 1


# --- keep-alive connections the server closed -------------------------------------------


def test_stale_keep_alive_sync(fault_server: Any, rel_key: str) -> None:
    """A keep-alive connection the server closed while idle does not fail the next call."""
    fault_server.queue(fault_server.respond(body={"n": 1}, close_after=True))
    fault_server.queue(fault_server.ok({"n": 2}))
    with sync_client(rel_key) as client:
        chute = client.chute(url=fault_server.url)
        assert chute.get("/first").json() == {"n": 1}
        assert fault_server.wait_until(lambda: fault_server.open_connections == 0)
        time.sleep(0.05)  # let the FIN reach the client's idle connection
        assert chute.get("/second").json() == {"n": 2}
        assert fault_server.count("/second") == 1
        assert (client.usage.requests, client.usage.failures) == (2, 0)


async def test_stale_keep_alive_async(fault_server: Any, rel_key: str) -> None:
    """A keep-alive connection the server closed while idle does not fail the next call."""
    fault_server.queue(fault_server.respond(body={"n": 1}, close_after=True))
    fault_server.queue(fault_server.ok({"n": 2}))
    async with async_client(rel_key) as client:
        chute = client.chute(url=fault_server.url)
        assert (await chute.get("/first")).json() == {"n": 1}
        for _ in range(500):
            if fault_server.open_connections == 0:
                break
            await asyncio.sleep(0.01)
        assert fault_server.open_connections == 0
        await asyncio.sleep(0.05)
        assert (await chute.get("/second")).json() == {"n": 2}
        assert fault_server.count("/second") == 1
        assert (client.usage.requests, client.usage.failures) == (2, 0)


def test_keep_alive_closed_as_request_arrives_sync(fault_server: Any, rel_key: str) -> None:
    """A reused connection closed without an answer is retried: the user call succeeds."""
    fault_server.queue(
        fault_server.ok({"n": 1}), fault_server.close_before_response(), fault_server.ok({"n": 2})
    )
    with sync_client(rel_key) as client:
        chute = client.chute(url=fault_server.url)
        assert chute.get("/first").json() == {"n": 1}
        assert chute.get("/second").json() == {"n": 2}
        second = [r.connection for r in fault_server.requests if r.path == "/second"]
        assert len(second) == 2
        assert second[0] != second[1]
        assert fault_server.requests[0].connection == second[0]  # it was the reused one
        usage = client.usage
        assert (usage.requests, usage.failures, usage.retries) == (2, 0, 1)


async def test_keep_alive_closed_as_request_arrives_async(fault_server: Any, rel_key: str) -> None:
    """A reused connection closed without an answer is retried: the user call succeeds."""
    fault_server.queue(
        fault_server.ok({"n": 1}), fault_server.close_before_response(), fault_server.ok({"n": 2})
    )
    async with async_client(rel_key) as client:
        chute = client.chute(url=fault_server.url)
        assert (await chute.get("/first")).json() == {"n": 1}
        assert (await chute.get("/second")).json() == {"n": 2}
        second = [r.connection for r in fault_server.requests if r.path == "/second"]
        assert len(second) == 2
        assert second[0] != second[1]
        assert fault_server.requests[0].connection == second[0]
        usage = client.usage
        assert (usage.requests, usage.failures, usage.retries) == (2, 0, 1)


# --- nothing listening -------------------------------------------------------------------


def test_connection_refused_sync(fault_server: Any, unused_port: int, rel_key: str) -> None:
    """A refused connection is retried max_retries times, then APIConnectionError (CONNECT)."""
    with sync_client(rel_key) as client:
        started = time.monotonic()
        with pytest.raises(chutes.APIConnectionError, match=r"^could not connect") as info:
            client.chute(url=f"http://127.0.0.1:{unused_port}").get("/x")
        assert time.monotonic() - started < 1.0 + SLACK
        assert type(info.value) is chutes.APIConnectionError
        assert info.value.failure is F.CONNECT
        assert (client.usage.failures, client.usage.retries) == (1, 2)
        assert client.chute(url=fault_server.url).get("/next").json() == OK_BODY


async def test_connection_refused_async(fault_server: Any, unused_port: int, rel_key: str) -> None:
    """A refused connection is retried max_retries times, then APIConnectionError (CONNECT)."""
    async with async_client(rel_key) as client:
        started = time.monotonic()
        with pytest.raises(chutes.APIConnectionError, match=r"^could not connect") as info:
            await client.chute(url=f"http://127.0.0.1:{unused_port}").get("/x")
        assert time.monotonic() - started < 1.0 + SLACK
        assert type(info.value) is chutes.APIConnectionError
        assert info.value.failure is F.CONNECT
        assert (client.usage.failures, client.usage.retries) == (1, 2)
        assert (await client.chute(url=fault_server.url).get("/next")).json() == OK_BODY


# --- a huge event ------------------------------------------------------------------------

BIG = 20 * 1024 * 1024


BIG_LIMITS = chutes.ResponseLimits(event=32 * 1024 * 1024)


def test_20mb_event_arrives_whole_sync(fault_server: Any, rel_key: str) -> None:
    """A 20 MB server-sent event within the event limit arrives whole (blocking client)."""
    fault_server.queue(fault_server.big_event(BIG))
    with (
        sync_client(rel_key, response_limits=BIG_LIMITS) as client,
        client.chute(url=fault_server.url).stream("/big") as s,
    ):
        sizes = [(len(event.data), event.data[:1], event.data[-1:]) for event in s]
    assert sizes == [(BIG, "x", "x")]


def test_20mb_event_past_the_default_limit_raises(fault_server: Any, rel_key: str) -> None:
    """The default event limit (16 MiB) stops a 20 MB event with ResponseTooLargeError."""
    fault_server.queue(fault_server.big_event(BIG))
    with (
        sync_client(rel_key) as client,
        pytest.raises(chutes.ResponseTooLargeError, match=r"ResponseLimits\.event"),
        client.chute(url=fault_server.url).stream("/big") as s,
    ):
        list(s)


async def test_20mb_event_arrives_whole_async(fault_server: Any, rel_key: str) -> None:
    """A 20 MB server-sent event within the event limit arrives whole (asyncio client)."""
    fault_server.queue(fault_server.big_event(BIG))
    async with (
        async_client(rel_key, response_limits=BIG_LIMITS) as client,
        client.chute(url=fault_server.url).stream("/big") as s,
    ):
        sizes = [(len(event.data), event.data[:1], event.data[-1:]) async for event in s]
    assert sizes == [(BIG, "x", "x")]

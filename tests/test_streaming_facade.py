"""Server-sent-event streams through both facades: events, errors, retries and cleanup.

Most tests answer from a respx router; a custom byte stream controls chunk boundaries and
mid-body failures; the pool-exhaustion tests use a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

import httpx
import pytest
import respx

import chutes

NAME = "myuser/my-llm"
URL = "https://myuser-my-llm.chutes.ai/v1/chat/completions"
PATH = "/v1/chat/completions"
SSE = {"content-type": "text/event-stream"}
NO_JITTER = chutes.RetryPolicy(jitter=False)

FIELDS_BODY = (
    b'event: token\nid: 7\nretry: 1500\ndata: {"text": "hi"}\n\n'
    b": a comment\n"
    b"data: line one\ndata: line two\n\n"
)
# CRLF endings and a multi-byte character, so one-byte chunks split both.
SPLIT_BODY = 'data: {"text": "h\u00e9llo"}\r\n\r\nevent: done\r\ndata: end\r\n\r\n'.encode()
SPLIT_EVENTS = [("message", '{"text": "h\u00e9llo"}'), ("done", "end")]

ERROR_STATUSES = [
    pytest.param(400, "bad body", chutes.BadRequestError, id="400"),
    pytest.param(401, "Invalid token.", chutes.AuthenticationError, id="401"),
    pytest.param(402, "Quota exceeded", chutes.PaymentRequiredError, id="402"),
    pytest.param(404, "No matching cord found!", chutes.NotFoundError, id="404"),
    pytest.param(429, "Infrastructure is at maximum capacity", chutes.RateLimitError, id="429"),
    pytest.param(500, "internal failure", chutes.InternalServerError, id="500"),
    pytest.param(503, "No instances available", chutes.ServiceUnavailableError, id="503"),
]


class ChunkStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body sent as the given chunks, then optionally a transport error."""

    def __init__(self, chunks: Iterable[bytes], error: Exception | None = None) -> None:
        self._chunks = list(chunks)
        self._error = error

    def __iter__(self) -> Iterator[bytes]:
        yield from self._chunks
        if self._error is not None:
            raise self._error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk
        if self._error is not None:
            raise self._error


def one_byte_chunks(body: bytes) -> list[bytes]:
    """``body`` cut into single bytes."""
    return [body[i : i + 1] for i in range(len(body))]


def sse_reply(chunks: Iterable[bytes], error: Exception | None = None) -> Callable[..., Any]:
    """A respx side effect answering each call with a fresh chunked event stream."""

    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=SSE, stream=ChunkStream(chunks, error))

    return reply


def collect(events: Iterable[chutes.ServerSentEvent], into: list[str]) -> None:
    """Append each event's data to ``into`` as it arrives."""
    for event in events:
        into.append(event.data)


async def acollect(events: AsyncIterator[chutes.ServerSentEvent], into: list[str]) -> None:
    """Append each event's data to ``into`` as it arrives."""
    async for event in events:
        into.append(event.data)


def fields(event: chutes.ServerSentEvent) -> tuple[str, str, str | None, int | None]:
    return (event.event, event.data, event.id, event.retry)


# --- events -----------------------------------------------------------------------------------


def test_sync_stream_yields_event_fields(client: chutes.Client, router: respx.MockRouter) -> None:
    """Events carry event, data, id and retry, and json() parses the data."""
    router.post(URL).respond(200, headers=SSE, content=FIELDS_BODY)
    with client.chute(NAME).stream(PATH, json={"stream": True}) as events:
        received = list(events)
    assert fields(received[0]) == ("token", '{"text": "hi"}', "7", 1500)
    assert received[0].json() == {"text": "hi"}
    assert (received[1].event, received[1].data) == ("message", "line one\nline two")


async def test_async_stream_yields_event_fields(
    aclient: chutes.AsyncClient, router: respx.MockRouter
) -> None:
    """Events carry event, data, id and retry, and json() parses the data."""
    router.post(URL).respond(200, headers=SSE, content=FIELDS_BODY)
    async with aclient.chute(NAME).stream(PATH, json={"stream": True}) as events:
        received = [event async for event in events]
    assert fields(received[0]) == ("token", '{"text": "hi"}', "7", 1500)
    assert received[0].json() == {"text": "hi"}
    assert (received[1].event, received[1].data) == ("message", "line one\nline two")


def test_sync_stream_sends_json_body(client: chutes.Client, router: respx.MockRouter) -> None:
    """stream() POSTs its json= body."""
    route = router.post(URL).respond(200, headers=SSE, content=b"data: 1\n\n")
    with client.chute(NAME).stream(PATH, json={"stream": True}) as events:
        list(events)
    assert route.calls.last.request.read() == b'{"stream":true}'


async def test_async_stream_sends_json_body(
    aclient: chutes.AsyncClient, router: respx.MockRouter
) -> None:
    """stream() POSTs its json= body."""
    route = router.post(URL).respond(200, headers=SSE, content=b"data: 1\n\n")
    async with aclient.chute(NAME).stream(PATH, json={"stream": True}) as events:
        [event async for event in events]
    assert route.calls.last.request.read() == b'{"stream":true}'


def test_sync_stream_parses_one_byte_chunks(
    client: chutes.Client, router: respx.MockRouter
) -> None:
    """Events split one byte per chunk (CRLF and UTF-8 split too) still parse."""
    router.post(URL).mock(side_effect=sse_reply(one_byte_chunks(SPLIT_BODY)))
    with client.chute(NAME).stream(PATH, json={}) as events:
        assert [(e.event, e.data) for e in events] == SPLIT_EVENTS


async def test_async_stream_parses_one_byte_chunks(
    aclient: chutes.AsyncClient, router: respx.MockRouter
) -> None:
    """Events split one byte per chunk (CRLF and UTF-8 split too) still parse."""
    router.post(URL).mock(side_effect=sse_reply(one_byte_chunks(SPLIT_BODY)))
    async with aclient.chute(NAME).stream(PATH, json={}) as events:
        assert [(e.event, e.data) async for e in events] == SPLIT_EVENTS


# --- failures before the first event ------------------------------------------------------------


@pytest.mark.parametrize(("status", "detail", "error_class"), ERROR_STATUSES)
def test_sync_stream_error_status_raises_mapped_error(
    client: chutes.Client,
    router: respx.MockRouter,
    status: int,
    detail: str,
    error_class: type[chutes.APIStatusError],
) -> None:
    """An error status on a stream raises its APIStatusError with the body's detail."""
    router.post(URL).respond(status, json={"detail": detail})
    with (
        pytest.raises(error_class) as info,
        client.chute(NAME).stream(PATH, json={}, max_retries=0) as events,
    ):
        list(events)
    assert (info.value.status_code, info.value.message) == (status, detail)


@pytest.mark.parametrize(("status", "detail", "error_class"), ERROR_STATUSES)
async def test_async_stream_error_status_raises_mapped_error(
    aclient: chutes.AsyncClient,
    router: respx.MockRouter,
    status: int,
    detail: str,
    error_class: type[chutes.APIStatusError],
) -> None:
    """An error status on a stream raises its APIStatusError with the body's detail."""
    router.post(URL).respond(status, json={"detail": detail})
    with pytest.raises(error_class) as info:
        async with aclient.chute(NAME).stream(PATH, json={}, max_retries=0) as events:
            [event async for event in events]
    assert (info.value.status_code, info.value.message) == (status, detail)


def test_sync_stream_retries_503_then_streams(
    client: chutes.Client, router: respx.MockRouter
) -> None:
    """A 503 before the stream starts is retried, then the 200's events arrive."""
    route = router.post(URL)
    route.side_effect = [
        httpx.Response(503, json={"detail": "cold"}),
        httpx.Response(200, headers=SSE, content=b"data: ok\n\n"),
    ]
    with client.chute(NAME).stream(PATH, json={}) as events:
        assert [e.data for e in events] == ["ok"]
    assert route.call_count == 2


async def test_async_stream_retries_503_then_streams(
    aclient: chutes.AsyncClient, router: respx.MockRouter
) -> None:
    """A 503 before the stream starts is retried, then the 200's events arrive."""
    route = router.post(URL)
    route.side_effect = [
        httpx.Response(503, json={"detail": "cold"}),
        httpx.Response(200, headers=SSE, content=b"data: ok\n\n"),
    ]
    async with aclient.chute(NAME).stream(PATH, json={}) as events:
        assert [e.data async for e in events] == ["ok"]
    assert route.call_count == 2


def test_sync_stream_json_200_raises_decode_error(
    client: chutes.Client, router: respx.MockRouter
) -> None:
    """A 200 that is JSON instead of text/event-stream raises DecodeError."""
    router.post(URL).respond(200, json={"choices": []})
    with pytest.raises(chutes.DecodeError), client.chute(NAME).stream(PATH, json={}) as events:
        list(events)


async def test_async_stream_json_200_raises_decode_error(
    aclient: chutes.AsyncClient, router: respx.MockRouter
) -> None:
    """A 200 that is JSON instead of text/event-stream raises DecodeError."""
    router.post(URL).respond(200, json={"choices": []})
    with pytest.raises(chutes.DecodeError):
        async with aclient.chute(NAME).stream(PATH, json={}) as events:
            [event async for event in events]


def test_sync_stream_transport_error_is_chutes_error(
    client: chutes.Client, router: respx.MockRouter
) -> None:
    """A transport failure opening a stream surfaces as a chutes error, not httpx's."""
    router.post(URL).side_effect = httpx.ConnectError
    with (
        pytest.raises(chutes.APIConnectionError) as info,
        client.chute(NAME).stream(PATH, json={}) as events,
    ):
        list(events)
    assert not isinstance(info.value, httpx.HTTPError)


async def test_async_stream_transport_error_is_chutes_error(
    aclient: chutes.AsyncClient, router: respx.MockRouter
) -> None:
    """A transport failure opening a stream surfaces as a chutes error, not httpx's."""
    router.post(URL).side_effect = httpx.ConnectError
    with pytest.raises(chutes.APIConnectionError) as info:
        async with aclient.chute(NAME).stream(PATH, json={}) as events:
            [event async for event in events]
    assert not isinstance(info.value, httpx.HTTPError)


# --- failures after the first event -------------------------------------------------------------


def test_sync_raw_error_line_raises_stream_error(
    client: chutes.Client, router: respx.MockRouter
) -> None:
    """The platform's raw {"error": ...} line at the end raises StreamError during iteration."""
    body = b'data: {"n": 1}\n\n{"error": "boom"}'
    router.post(URL).respond(200, headers=SSE, content=body)
    received: list[str] = []
    with (
        pytest.raises(chutes.StreamError, match=r"^boom$"),
        client.chute(NAME).stream(PATH, json={}) as events,
    ):
        collect(events, received)
    assert received == ['{"n": 1}']


async def test_async_raw_error_line_raises_stream_error(
    aclient: chutes.AsyncClient, router: respx.MockRouter
) -> None:
    """The platform's raw {"error": ...} line at the end raises StreamError during iteration."""
    body = b'data: {"n": 1}\n\n{"error": "boom"}'
    router.post(URL).respond(200, headers=SSE, content=body)
    received: list[str] = []
    with pytest.raises(chutes.StreamError, match=r"^boom$"):
        async with aclient.chute(NAME).stream(PATH, json={}) as events:
            await acollect(events, received)
    assert received == ['{"n": 1}']


def test_sync_connection_drop_mid_stream_raises_connection_error(
    client: chutes.Client, router: respx.MockRouter
) -> None:
    """A connection dropped after the first event raises APIConnectionError, not httpx's."""
    router.post(URL).mock(side_effect=sse_reply([b"data: 1\n\n"], httpx.ReadError("reset")))
    with (
        pytest.raises(chutes.APIConnectionError) as info,
        client.chute(NAME).stream(PATH, json={}) as events,
    ):
        list(events)
    assert not isinstance(info.value, httpx.HTTPError)


async def test_async_connection_drop_mid_stream_raises_connection_error(
    aclient: chutes.AsyncClient, router: respx.MockRouter
) -> None:
    """A connection dropped after the first event raises APIConnectionError, not httpx's."""
    router.post(URL).mock(side_effect=sse_reply([b"data: 1\n\n"], httpx.ReadError("reset")))
    with pytest.raises(chutes.APIConnectionError) as info:
        async with aclient.chute(NAME).stream(PATH, json={}) as events:
            [event async for event in events]
    assert not isinstance(info.value, httpx.HTTPError)


def test_sync_stream_not_retried_after_first_event(
    client: chutes.Client, router: respx.MockRouter
) -> None:
    """Once an event reached the caller, a dropped stream is not sent again."""
    route = router.post(URL).mock(
        side_effect=sse_reply([b"data: 1\n\n"], httpx.RemoteProtocolError("peer closed"))
    )
    with pytest.raises(chutes.APIConnectionError), client.chute(NAME).stream(PATH) as events:
        list(events)
    assert route.call_count == 1


async def test_async_stream_not_retried_after_first_event(
    aclient: chutes.AsyncClient, router: respx.MockRouter
) -> None:
    """Once an event reached the caller, a dropped stream is not sent again."""
    route = router.post(URL).mock(
        side_effect=sse_reply([b"data: 1\n\n"], httpx.RemoteProtocolError("peer closed"))
    )
    with pytest.raises(chutes.APIConnectionError):
        async with aclient.chute(NAME).stream(PATH) as events:
            [event async for event in events]
    assert route.call_count == 1


# --- cleanup --------------------------------------------------------------------------------------

MANY_EVENTS = b"".join(b"data: %d\n\n" % i for i in range(50))


def test_sync_stream_closes_response_on_early_break(
    client: chutes.Client, router: respx.MockRouter
) -> None:
    """Breaking out of a stream and leaving the block closes the httpx response."""
    router.post(URL).mock(side_effect=sse_reply([MANY_EVENTS[:9], MANY_EVENTS[9:]]))
    with client.chute(NAME).stream(PATH, json={}) as events:
        for _ in events:
            break
    assert events._raw is not None
    assert events._raw.is_closed


async def test_async_stream_closes_response_on_early_break(
    aclient: chutes.AsyncClient, router: respx.MockRouter
) -> None:
    """Breaking out of a stream and leaving the block closes the httpx response."""
    router.post(URL).mock(side_effect=sse_reply([MANY_EVENTS[:9], MANY_EVENTS[9:]]))
    async with aclient.chute(NAME).stream(PATH, json={}) as events:
        async for _ in events:
            break
    assert events._raw is not None
    assert events._raw.is_closed


def test_sync_stream_closes_response_when_block_raises(
    client: chutes.Client, router: respx.MockRouter
) -> None:
    """An exception inside the block still closes the httpx response."""
    router.post(URL).mock(side_effect=sse_reply([MANY_EVENTS]))
    with pytest.raises(KeyError), client.chute(NAME).stream(PATH, json={}) as events:
        raise KeyError("caller bug")
    assert events._raw is not None
    assert events._raw.is_closed


async def test_async_stream_closes_response_when_block_raises(
    aclient: chutes.AsyncClient, router: respx.MockRouter
) -> None:
    """An exception inside the block still closes the httpx response."""
    router.post(URL).mock(side_effect=sse_reply([MANY_EVENTS]))
    with pytest.raises(KeyError):
        async with aclient.chute(NAME).stream(PATH, json={}) as events:
            raise KeyError("caller bug")
    assert events._raw is not None
    assert events._raw.is_closed


def test_sync_exhausted_stream_closes_without_block(
    client: chutes.Client, router: respx.MockRouter
) -> None:
    """Iterating a stream to its end closes the response even without a with block."""
    router.post(URL).mock(side_effect=sse_reply([MANY_EVENTS]))
    events = client.chute(NAME).stream(PATH, json={})
    assert len(list(events)) == 50
    assert events._raw is not None
    assert events._raw.is_closed


async def test_async_exhausted_stream_closes_without_block(
    aclient: chutes.AsyncClient, router: respx.MockRouter
) -> None:
    """Iterating a stream to its end closes the response even without an async with block."""
    router.post(URL).mock(side_effect=sse_reply([MANY_EVENTS]))
    events = aclient.chute(NAME).stream(PATH, json={})
    assert len([event async for event in events]) == 50
    assert events._raw is not None
    assert events._raw.is_closed


# --- a real server: breaking out early never exhausts the pool ----------------------------------

SERVER_EVENTS = 1000
ROUNDS = 200
POOL_LIMITS = httpx.Limits(max_connections=5, max_keepalive_connections=5)
SHORT_POOL = chutes.Timeout(connect=5.0, read=5.0, write=5.0, pool=0.5)


class _EventsHandler(http.server.BaseHTTPRequestHandler):
    """Answers every POST with a chunked stream of SERVER_EVENTS events, as uvicorn would."""

    protocol_version = "HTTP/1.1"
    timeout = 10  # a stuck connection ends instead of blocking the fixture's join

    def handle(self) -> None:
        # The client resets connections it abandoned: that is the point of the test.
        with contextlib.suppress(ConnectionError):
            super().handle()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for i in range(SERVER_EVENTS):
                payload = b"data: %d\n\n" % i
                self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client closed early, which is the point of the test
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def sse_server() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 (ephemeral port) streaming events; yields its URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EventsHandler)
    server.daemon_threads = False  # so server_close() joins every handler thread
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_sync_breaking_out_early_never_exhausts_pool(sse_server: str, api_key: str) -> None:
    """200 streams abandoned after one event on a 5-connection pool never stall or leak."""
    streams: list[chutes.EventStream] = []
    with (
        httpx.Client(limits=POOL_LIMITS) as http_client,
        chutes.Client(
            api_key=api_key, http_client=http_client, timeout=SHORT_POOL, max_retries=0
        ) as client,
    ):
        chute = client.chute(url=sse_server)
        for _ in range(ROUNDS):
            with chute.stream("/events", json={}) as events:
                first = next(events)
            assert first.data == "0"
            streams.append(events)
    assert all(s._raw is not None and s._raw.is_closed for s in streams)


async def test_async_breaking_out_early_never_exhausts_pool(sse_server: str, api_key: str) -> None:
    """200 streams abandoned after one event on a 5-connection pool never stall or leak."""
    streams: list[chutes.AsyncEventStream] = []
    async with (
        httpx.AsyncClient(limits=POOL_LIMITS) as http_client,
        chutes.AsyncClient(
            api_key=api_key, http_client=http_client, timeout=SHORT_POOL, max_retries=0
        ) as client,
    ):
        chute = client.chute(url=sse_server)
        for _ in range(ROUNDS):
            async with chute.stream("/events", json={}) as events:
                first = await anext(events)
            assert first.data == "0"
            streams.append(events)
    assert all(s._raw is not None and s._raw.is_closed for s in streams)

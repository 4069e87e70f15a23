"""Client life cycle: pickling, fork, event loops, garbage collection and cancellation."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import pickle
import warnings
from typing import Any

import httpx
import pytest

import chutes

NO_SLEEP = chutes.RetryPolicy(initial_delay=0)
MESSAGES = [{"role": "user", "content": "hi"}]


def _bearer(key: str) -> str:
    return f"Bearer {key}"


def roundtrip(value: Any) -> Any:
    """``value`` pickled and unpickled (our own bytes, so loading them is safe)."""
    return pickle.loads(pickle.dumps(value))  # noqa: S301


def _drop(references: list[Any]) -> None:
    """Forget the only references and run the garbage collector."""
    references.clear()
    gc.collect()


def _transport() -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(200, json={"ok": True}))


# --- pickling clients --------------------------------------------------------------------


def test_pickled_client_round_trip_sync(fault_server: Any, rel_key: str) -> None:
    """A pickled Client keeps its settings and key, with a fresh pool and fresh usage."""
    with chutes.Client(api_key=rel_key, max_retries=1, retry_policy=NO_SLEEP) as client:
        assert client.chute(url=fault_server.url).get("/before").status_code == 200
        with roundtrip(client) as copy:
            assert repr(copy) == repr(client)
            assert copy.max_retries == 1
            assert copy._caller.pool is not client._caller.pool
            assert copy._caller.pool.http is not client._caller.pool.http
            assert copy.usage.requests == 0
            assert copy.chute(url=fault_server.url).get("/after").status_code == 200
            assert copy.usage.requests == 1
        assert client.usage.requests == 1
        assert not client.is_closed
    seen = {r.path: r.headers["authorization"] for r in fault_server.requests}
    assert seen == {"/before": _bearer(rel_key), "/after": _bearer(rel_key)}


async def test_pickled_client_round_trip_async(fault_server: Any, rel_key: str) -> None:
    """A pickled AsyncClient keeps its settings and key, with a fresh pool and fresh usage."""
    async with chutes.AsyncClient(api_key=rel_key, max_retries=1, retry_policy=NO_SLEEP) as client:
        assert (await client.chute(url=fault_server.url).get("/before")).status_code == 200
        async with roundtrip(client) as copy:
            assert repr(copy) == repr(client)
            assert copy.max_retries == 1
            assert copy._caller.pool is not client._caller.pool
            assert copy._caller.pool.http is not client._caller.pool.http
            assert copy.usage.requests == 0
            assert (await copy.chute(url=fault_server.url).get("/after")).status_code == 200
            assert copy.usage.requests == 1
        assert client.usage.requests == 1
    seen = {r.path: r.headers["authorization"] for r in fault_server.requests}
    assert seen == {"/before": _bearer(rel_key), "/after": _bearer(rel_key)}


def test_pickled_client_with_borrowed_http_owns_its_copy(rel_key: str) -> None:
    """A client on a borrowed http_client unpickles into one with its own pool to close."""
    with httpx.Client(transport=_transport()) as http:
        client = chutes.Client(api_key=rel_key, http_client=http)
        copy = roundtrip(client)
        assert copy._caller.pool.http is not http
        assert copy._caller.pool.owned
        copy.close()
        client.close()
        assert not http.is_closed


# --- pickling errors ---------------------------------------------------------------------


def _status_error(server: Any, key: str) -> chutes.APIStatusError:
    server.queue(
        server.respond(
            404,
            {"detail": "No matching chute found!"},
            headers=[("X-Chutes-InvocationID", "inv-7")],
        )
    )
    with (
        chutes.Client(api_key=key, retry_policy=NO_SLEEP) as client,
        pytest.raises(chutes.NotFoundError) as info,
    ):
        client.chute(url=server.url).get("/missing")
    return info.value


def test_pickled_status_error_keeps_attributes(fault_server: Any, rel_key: str) -> None:
    """An APIStatusError from a real call survives pickling with its attributes."""
    error = _status_error(fault_server, rel_key)
    copy = roundtrip(error)
    assert type(copy) is chutes.NotFoundError
    assert copy.message == error.message == "No matching chute found!"
    assert str(copy) == str(error)
    assert copy.status_code == 404
    assert copy.detail == "No matching chute found!"
    assert copy.body == {"detail": "No matching chute found!"}
    assert copy.invocation_id == "inv-7"
    assert copy.retry_after is None
    assert copy.response.status_code == 404
    assert copy.response.json() == {"detail": "No matching chute found!"}


def test_pickled_connection_error_keeps_attributes(unused_port: int, rel_key: str) -> None:
    """An APIConnectionError from a refused connection survives pickling."""
    url = f"http://127.0.0.1:{unused_port}"
    with (
        chutes.Client(api_key=rel_key, max_retries=0) as client,
        pytest.raises(chutes.APIConnectionError) as info,
    ):
        client.chute(url=url).get("/x")
    copy = roundtrip(info.value)
    assert type(copy) is chutes.APIConnectionError
    assert str(copy) == str(info.value)
    assert copy.failure is chutes.ConnectionFailure.CONNECT
    assert copy.url == f"{url}/x"


def test_pickled_timeout_error_is_still_a_timeout(fault_server: Any, rel_key: str) -> None:
    """An APITimeoutError survives pickling and is still a built-in TimeoutError."""
    fault_server.queue(fault_server.stall())
    with (
        chutes.Client(api_key=rel_key, timeout=0.2) as client,
        pytest.raises(chutes.APITimeoutError) as info,
    ):
        client.chute(url=fault_server.url).get("/slow")
    copy = roundtrip(info.value)
    assert isinstance(copy, TimeoutError)
    assert copy.failure is chutes.ConnectionFailure.READ_TIMEOUT
    assert str(copy) == str(info.value)


def test_pickled_stream_error_keeps_attributes(fault_server: Any, rel_key: str) -> None:
    """A StreamError from a real stream's error line survives pickling."""
    fault_server.queue(
        fault_server.sse([fault_server.chat_frame("Hel"), b'{"error": "boom"}'], ending="end-close")
    )
    with chutes.Client(api_key=rel_key) as client:
        stream = client.chute(url=fault_server.url).chat.completions.create(
            model="m", messages=MESSAGES, stream=True
        )
        with stream, pytest.raises(chutes.StreamError) as info:
            stream.collect()
    copy = roundtrip(info.value)
    assert type(copy) is chutes.StreamError
    assert str(copy) == "boom"
    assert copy.partial_text == "Hel"
    assert copy.detail == "boom"


# --- fork --------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_opens_a_fresh_pool(fault_server: Any, rel_key: str) -> None:
    """A Client used in a forked child gets its own pool and never touches the parent's."""
    with chutes.Client(api_key=rel_key, retry_policy=NO_SLEEP, timeout=5.0) as client:
        chute = client.chute(url=fault_server.url)
        assert chute.get("/parent").status_code == 200
        parent_http = client._caller.pool.http
        parent_connection = fault_server.requests[0].connection
        read_end, write_end = os.pipe()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
            pid = os.fork()
        if pid == 0:  # the child: report through the pipe, never return into pytest
            code = 1
            try:
                os.close(read_end)
                status = chute.get("/child").status_code
                report = {"fresh": client._caller.pool.http is not parent_http, "status": status}
                os.write(write_end, json.dumps(report).encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            report = json.loads(pipe.read() or b"{}")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert report == {"fresh": True, "status": 200}
        child = [r for r in fault_server.requests if r.path == "/child"]
        assert len(child) == 1
        assert child[0].connection != parent_connection
        assert client._caller.pool.http is parent_http
        assert chute.get("/parent-again").status_code == 200


# --- event loops -------------------------------------------------------------------------


def test_async_client_refuses_a_second_loop_fake_transport(rel_key: str) -> None:
    """An AsyncClient first used in a loop that is still alive refuses another loop."""
    http = httpx.AsyncClient(transport=_transport())
    client = chutes.AsyncClient(api_key=rel_key, http_client=http)
    chute = client.chute(url="http://127.0.0.1:9")
    first_loop = asyncio.new_event_loop()
    try:
        assert first_loop.run_until_complete(chute.get("/first")).status_code == 200
        with pytest.raises(RuntimeError, match="another event loop"):
            asyncio.run(chute.get("/second"))
    finally:
        first_loop.run_until_complete(client.aclose())
        first_loop.run_until_complete(http.aclose())
        first_loop.close()


def test_async_client_moves_on_once_its_loop_is_gone(rel_key: str) -> None:
    """Once the loop it was bound to no longer exists, the client serves a new loop."""
    http = httpx.AsyncClient(transport=_transport())
    client = chutes.AsyncClient(api_key=rel_key, http_client=http)
    chute = client.chute(url="http://127.0.0.1:9")
    try:
        assert asyncio.run(chute.get("/first")).status_code == 200
        gc.collect()
        assert asyncio.run(chute.get("/second")).status_code == 200
    finally:
        asyncio.run(client.aclose())
        asyncio.run(http.aclose())


def test_async_client_refuses_a_second_loop_real_pool(fault_server: Any, rel_key: str) -> None:
    """An AsyncClient whose owned pool opened connections in one loop refuses another loop."""
    first_loop = asyncio.new_event_loop()
    client = chutes.AsyncClient(api_key=rel_key, timeout=5.0)
    chute = client.chute(url=fault_server.url)
    try:
        assert first_loop.run_until_complete(chute.get("/first")).status_code == 200
        with pytest.raises(RuntimeError, match="another event loop"):
            asyncio.run(chute.get("/second"))
        assert fault_server.count("/second") == 0
        assert first_loop.run_until_complete(chute.get("/third")).status_code == 200
    finally:
        first_loop.run_until_complete(client.aclose())
        first_loop.close()


# --- garbage collection ------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda key: chutes.Client(api_key=key), id="sync"),
        pytest.param(lambda key: chutes.AsyncClient(api_key=key), id="async"),
    ],
)
def test_unclosed_owned_client_warns_on_gc(make: Any, rel_key: str) -> None:
    """A client that owns its pool and is collected unclosed emits a ResourceWarning."""
    clients = [make(rel_key)]
    with pytest.warns(ResourceWarning, match="without being closed"):
        _drop(clients)


@pytest.mark.parametrize(
    ("make_http", "make"),
    [
        pytest.param(
            lambda: httpx.Client(transport=_transport()),
            lambda key, http: chutes.Client(api_key=key, http_client=http),
            id="sync",
        ),
        pytest.param(
            lambda: httpx.AsyncClient(transport=_transport()),
            lambda key, http: chutes.AsyncClient(api_key=key, http_client=http),
            id="async",
        ),
    ],
)
def test_unclosed_borrowing_client_does_not_warn(make_http: Any, make: Any, rel_key: str) -> None:
    """A client on a borrowed http_client is collected unclosed without any warning."""
    http = make_http()
    clients = [make(rel_key, http)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _drop(clients)
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert not http.is_closed
    if isinstance(http, httpx.Client):
        http.close()
    else:
        asyncio.run(http.aclose())


def test_closed_client_does_not_warn_on_gc(rel_key: str) -> None:
    """A closed client is collected without any warning."""
    clients = [chutes.Client(api_key=rel_key)]
    clients[0].close()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _drop(clients)
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


# --- cancellation ------------------------------------------------------------------------


def _one_connection_client(key: str, http: httpx.AsyncClient) -> chutes.AsyncClient:
    timeout = chutes.Timeout(connect=1.0, read=2.0, write=1.0, pool=1.0)
    return chutes.AsyncClient(api_key=key, http_client=http, timeout=timeout, retry_policy=NO_SLEEP)


def _in_use(http: httpx.AsyncClient) -> list[Any]:
    return [c for c in http._transport._pool.connections if not c.is_idle()]


async def test_cancel_mid_request_releases_the_connection(fault_server: Any, rel_key: str) -> None:
    """Cancelling a request in flight frees its connection and is not counted as a failure."""
    fault_server.queue(fault_server.respond(body={"slow": True}, delay=0.5))
    limits = httpx.Limits(max_connections=1)
    async with (
        httpx.AsyncClient(limits=limits) as http,
        _one_connection_client(rel_key, http) as client,
    ):
        chute = client.chute(url=fault_server.url)
        task = asyncio.create_task(chute.get("/slow"))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert _in_use(http) == []
        assert (await chute.get("/next")).json() == {"ok": True}  # no PoolTimeout
        usage = client.usage
        assert usage.failures == 0
        assert usage.requests in (1, 2)  # whether a cancelled call counts is not specified


async def test_cancel_mid_stream_releases_the_connection(fault_server: Any, rel_key: str) -> None:
    """Cancelling a task reading a stream frees its connection; it is not a failure."""
    fault_server.queue(fault_server.sse([b"data: first\n\n"], ending="stall"))
    limits = httpx.Limits(max_connections=1)
    async with (
        httpx.AsyncClient(limits=limits) as http,
        _one_connection_client(rel_key, http) as client,
    ):
        chute = client.chute(url=fault_server.url)
        first = asyncio.Event()

        async def read() -> None:
            async with chute.stream("/events") as events:
                async for _ in events:
                    first.set()

        task = asyncio.create_task(read())
        await asyncio.wait_for(first.wait(), timeout=2)
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert _in_use(http) == []
        assert (await chute.get("/next")).json() == {"ok": True}
        usage = client.usage
        assert (usage.requests, usage.failures) == (2, 0)


async def test_cancel_chat_stream_releases_the_connection(fault_server: Any, rel_key: str) -> None:
    """Cancelling a task iterating a chat stream frees its connection; not a failure."""
    fault_server.queue(fault_server.sse([fault_server.chat_frame("Hel")], ending="stall"))
    limits = httpx.Limits(max_connections=1)
    async with (
        httpx.AsyncClient(limits=limits) as http,
        _one_connection_client(rel_key, http) as client,
    ):
        chute = client.chute(url=fault_server.url)
        first = asyncio.Event()

        async def read() -> None:
            stream = await chute.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            async with stream:
                async for _ in stream.iter_text():
                    first.set()

        task = asyncio.create_task(read())
        await asyncio.wait_for(first.wait(), timeout=2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert _in_use(http) == []
        fault_server.queue(fault_server.ok(fault_server.chat_body("again")))
        completion = await chute.chat.completions.create(model="m", messages=MESSAGES)
        assert completion.choices[0].message.content == "again"
        usage = client.usage
        assert (usage.requests, usage.failures) == (2, 0)

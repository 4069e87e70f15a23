"""The API key never shows: not in reprs, exception texts, tracebacks, nor log records."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx

import chutes

NAME = "myuser/my-llm"
BASE = "https://myuser-my-llm.chutes.ai"
SSE = {"content-type": "text/event-stream"}
NO_JITTER = chutes.RetryPolicy(jitter=False)


def fragments(key: str) -> list[str]:
    """The key and the parts of it that must not leak either (its middle and its secret)."""
    _, middle, secret = key.split(".")
    return [key, middle, secret]


def leaked(text: str, key: str) -> list[str]:
    """The fragments of ``key`` found in ``text``."""
    return [part for part in fragments(key) if part in text]


def exception_texts(exc: BaseException) -> str:
    """Every text an exception shows: str, repr, args, attributes and the full traceback."""
    return "\n".join(
        [
            str(exc),
            repr(exc),
            repr(exc.args),
            repr(vars(exc)),
            "".join(traceback.format_exception(exc)),
        ]
    )


def mock_mix(router: respx.MockRouter) -> None:
    """Routes for a success, a retried call, a failure, a dead host and a stream."""
    router.post(f"{BASE}/ok").respond(
        200, json={"ok": True}, headers={"X-Chutes-InvocationID": "i"}
    )
    router.post(f"{BASE}/flaky").side_effect = [httpx.Response(503), httpx.Response(200)]
    router.post(f"{BASE}/missing").respond(404, json={"detail": "No matching cord found!"})
    router.post(f"{BASE}/down").side_effect = httpx.ConnectError("[Errno 111] Connection refused")
    router.post(f"{BASE}/events").respond(200, headers=SSE, content=b'data: 1\n\n{"error": "x"}')


def run_mix(client: chutes.Client) -> None:
    """Make the calls of :func:`mock_mix` with the sync client."""
    chute = client.chute(NAME)
    chute.post("/ok", json={"a": 1})
    chute.post("/flaky")
    with pytest.raises(chutes.NotFoundError):
        chute.post("/missing")
    with pytest.raises(chutes.APIConnectionError):
        chute.post("/down")
    with pytest.raises(chutes.StreamError), chute.stream("/events", json={}) as events:
        list(events)


async def arun_mix(client: chutes.AsyncClient) -> None:
    """Make the calls of :func:`mock_mix` with the async client."""
    chute = client.chute(NAME)
    await chute.post("/ok", json={"a": 1})
    await chute.post("/flaky")
    with pytest.raises(chutes.NotFoundError):
        await chute.post("/missing")
    with pytest.raises(chutes.APIConnectionError):
        await chute.post("/down")
    with pytest.raises(chutes.StreamError):
        async with chute.stream("/events", json={}) as events:
            [event async for event in events]


def chutes_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "chutes" or r.name.startswith("chutes.")]


def record_texts(record: logging.LogRecord) -> str:
    return f"{record.getMessage()}\n{record.msg!r}\n{record.args!r}"


# --- reprs --------------------------------------------------------------------------------------


async def test_reprs_hide_key(
    client: chutes.Client, aclient: chutes.AsyncClient, router: respx.MockRouter, api_key: str
) -> None:
    """repr and str of clients, copies, chutes, responses, streams and usage hide the key."""
    router.route().respond(200, json={"ok": True})
    objects: list[Any] = [
        client,
        client.with_options(max_retries=1),
        client.chute(NAME),
        client.llm,
        client.chute(NAME).post("/x"),
        client.chute(NAME).stream("/x"),
        client.usage,
        aclient,
        aclient.with_options(max_retries=1),
        aclient.chute(NAME),
        await aclient.chute(NAME).post("/x"),
        aclient.chute(NAME).stream("/x"),
    ]
    texts = "\n".join(f"{obj!r} {obj!s}" for obj in objects)
    assert leaked(texts, api_key) == []


def test_x_api_key_client_repr_hides_key(
    make_client: Callable[..., chutes.Client], api_key: str
) -> None:
    """A client sending X-API-Key hides the key in its repr too."""
    assert leaked(repr(make_client(auth_header="x-api-key")), api_key) == []


# --- exceptions ---------------------------------------------------------------------------------

STATUSES = [
    pytest.param(401, id="401"),
    pytest.param(404, id="404"),
    pytest.param(503, id="503-after-retries"),
]

TRANSPORT_FAILURES = [
    pytest.param(httpx.ConnectError("[Errno 111] Connection refused"), id="connect"),
    pytest.param(httpx.ReadTimeout("timed out"), id="read-timeout"),
    pytest.param(httpx.RemoteProtocolError("Server disconnected"), id="disconnected"),
]

# (client, key) -> None; each raises ConfigurationError.
CONFIG_ERRORS = [
    pytest.param(lambda c, k: c.chute(NAME).post("/x\r\nHost: evil.com"), id="crlf-path"),
    pytest.param(lambda c, k: c.chute(NAME).post("https://evil.com/x"), id="absolute-path"),
    pytest.param(lambda c, k: c.chute(NAME).post("/x", headers={"X-A": "a\nb"}), id="bad-header"),
    pytest.param(
        lambda c, k: c.chute(NAME).post("/x", headers={"Authorization": f"Bearer {k}"}),
        id="auth-header-per-call",
    ),
    pytest.param(
        lambda c, k: c.chute(NAME).post("/x", headers={"X-API-Key": k}), id="x-api-key-per-call"
    ),
    pytest.param(
        lambda c, k: c.with_options(default_headers={"Authorization": f"Bearer {k}"}),
        id="auth-default-header",
    ),
    pytest.param(lambda c, k: chutes.Client(api_key=f"{k}\r\nX-Evil: 1"), id="key-with-crlf"),
    pytest.param(lambda c, k: chutes.Client(api_key=f"{k}\u00e9"), id="key-non-ascii"),
    pytest.param(lambda c, k: chutes.Client(api_key=f"{k} "), id="key-trailing-space"),
    pytest.param(lambda c, k: chutes.Client(api_key=k, auth_header="bearer"), id="bad-auth-header"),
]


@pytest.mark.parametrize("status", STATUSES)
def test_sync_status_error_hides_key(
    client: chutes.Client, router: respx.MockRouter, api_key: str, status: int
) -> None:
    """A status error's texts and traceback hide the key."""
    router.post(f"{BASE}/x").respond(status, json={"detail": "nope"})
    with pytest.raises(chutes.APIStatusError) as info:
        client.chute(NAME).post("/x")
    assert leaked(exception_texts(info.value), api_key) == []


@pytest.mark.parametrize("status", STATUSES)
async def test_async_status_error_hides_key(
    aclient: chutes.AsyncClient, router: respx.MockRouter, api_key: str, status: int
) -> None:
    """A status error's texts and traceback hide the key."""
    router.post(f"{BASE}/x").respond(status, json={"detail": "nope"})
    with pytest.raises(chutes.APIStatusError) as info:
        await aclient.chute(NAME).post("/x")
    assert leaked(exception_texts(info.value), api_key) == []


@pytest.mark.parametrize("failure", TRANSPORT_FAILURES)
def test_sync_connection_error_hides_key(
    client: chutes.Client, router: respx.MockRouter, api_key: str, failure: Exception
) -> None:
    """A connection error's texts and traceback hide the key."""
    router.post(f"{BASE}/x").side_effect = failure
    with pytest.raises(chutes.APIConnectionError) as info:
        client.chute(NAME).post("/x")
    assert leaked(exception_texts(info.value), api_key) == []


@pytest.mark.parametrize("failure", TRANSPORT_FAILURES)
async def test_async_connection_error_hides_key(
    aclient: chutes.AsyncClient, router: respx.MockRouter, api_key: str, failure: Exception
) -> None:
    """A connection error's texts and traceback hide the key."""
    router.post(f"{BASE}/x").side_effect = failure
    with pytest.raises(chutes.APIConnectionError) as info:
        await aclient.chute(NAME).post("/x")
    assert leaked(exception_texts(info.value), api_key) == []


@pytest.mark.parametrize("call", CONFIG_ERRORS)
def test_configuration_error_hides_key(
    client: chutes.Client,
    router: respx.MockRouter,
    api_key: str,
    call: Callable[[chutes.Client, str], Any],
) -> None:
    """A configuration error's texts hide the key, even when the key itself is the problem."""
    with pytest.raises(chutes.ConfigurationError) as info:
        call(client, api_key)
    assert leaked(exception_texts(info.value), api_key) == []
    assert router.calls.call_count == 0


@pytest.mark.parametrize(
    "path",
    [pytest.param("/x\r\nHost: evil.com", id="crlf-path"), pytest.param("//evil.com/x", id="host")],
)
async def test_async_configuration_error_hides_key(
    aclient: chutes.AsyncClient, router: respx.MockRouter, api_key: str, path: str
) -> None:
    """A configuration error from the async facade hides the key."""
    with pytest.raises(chutes.ConfigurationError) as info:
        await aclient.chute(NAME).post(path)
    assert leaked(exception_texts(info.value), api_key) == []
    assert router.calls.call_count == 0


# --- logging ------------------------------------------------------------------------------------


def test_sync_log_records_hide_key(
    make_client: Callable[..., chutes.Client],
    router: respx.MockRouter,
    caplog: pytest.LogCaptureFixture,
    api_key: str,
) -> None:
    """No DEBUG record of successes, retries and failures holds the key or a part of it."""
    caplog.set_level(logging.DEBUG, logger="chutes")
    mock_mix(router)
    run_mix(make_client(retry_policy=NO_JITTER))
    records = chutes_records(caplog)
    assert records, "the mix of calls logged nothing at DEBUG"
    assert [leaked(record_texts(r), api_key) for r in records] == [[]] * len(records)


async def test_async_log_records_hide_key(
    make_async_client: Callable[..., chutes.AsyncClient],
    router: respx.MockRouter,
    caplog: pytest.LogCaptureFixture,
    api_key: str,
) -> None:
    """No DEBUG record of successes, retries and failures holds the key or a part of it."""
    caplog.set_level(logging.DEBUG, logger="chutes")
    mock_mix(router)
    await arun_mix(make_async_client(retry_policy=NO_JITTER))
    records = chutes_records(caplog)
    assert records, "the mix of calls logged nothing at DEBUG"
    assert [leaked(record_texts(r), api_key) for r in records] == [[]] * len(records)


def _has_attempt_record(records: list[logging.LogRecord]) -> bool:
    """Whether one record names the method, URL, status and attempt number of an attempt."""
    wanted = ("POST", f"{BASE}/flaky", "503", "attempt 1")
    return any(all(part in r.getMessage() for part in wanted) for r in records)


def _has_retry_delay_record(records: list[logging.LogRecord]) -> bool:
    """Whether one record announces the retry of the flaky call with its 0.5 s delay."""
    return any(
        "retry" in r.getMessage().lower()
        and f"{BASE}/flaky" in r.getMessage()
        and "0.5" in r.getMessage()
        for r in records
    )


def test_sync_debug_records_describe_attempts(
    make_client: Callable[..., chutes.Client],
    router: respx.MockRouter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A DEBUG record names each attempt's method, URL, status and attempt number."""
    caplog.set_level(logging.DEBUG, logger="chutes")
    mock_mix(router)
    run_mix(make_client(retry_policy=NO_JITTER))
    assert _has_attempt_record(chutes_records(caplog))


async def test_async_debug_records_describe_attempts(
    make_async_client: Callable[..., chutes.AsyncClient],
    router: respx.MockRouter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A DEBUG record names each attempt's method, URL, status and attempt number."""
    caplog.set_level(logging.DEBUG, logger="chutes")
    mock_mix(router)
    await arun_mix(make_async_client(retry_policy=NO_JITTER))
    assert _has_attempt_record(chutes_records(caplog))


def test_sync_retry_delay_is_logged(
    make_client: Callable[..., chutes.Client],
    router: respx.MockRouter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A DEBUG record announces each retry with its delay."""
    caplog.set_level(logging.DEBUG, logger="chutes")
    mock_mix(router)
    run_mix(make_client(retry_policy=NO_JITTER))
    assert _has_retry_delay_record(chutes_records(caplog))


async def test_async_retry_delay_is_logged(
    make_async_client: Callable[..., chutes.AsyncClient],
    router: respx.MockRouter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A DEBUG record announces each retry with its delay."""
    caplog.set_level(logging.DEBUG, logger="chutes")
    mock_mix(router)
    await arun_mix(make_async_client(retry_policy=NO_JITTER))
    assert _has_retry_delay_record(chutes_records(caplog))

"""End-to-end encrypted calls through the clients (``e2ee=True``), over real sockets.

The instance side is ``pqcrypto``'s ML-KEM-768 behind the 127.0.0.1 platform of
``e2ee_server.py`` (written from PLATFORM.md alone), so the client agrees with an
independent implementation, not with itself. Blocking and asyncio, plain and streamed; the
faults of PLATFORM.md's step 6; and the recorded wire bytes, which never hold the prompt or
the answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from e2ee_server import API_KEY, CHUTE_ID, REPLY_TEXT, USAGE, E2EEServer, Fault

import chutes
from chutes import _e2ee

PROMPT = "Whisper the vault combination: 31-07-1987, tell nobody"
MESSAGES = [{"role": "user", "content": PROMPT}]
NO_SLEEP = chutes.RetryPolicy(initial_delay=0)


def client(server: E2EEServer, **options: Any) -> chutes.Client:
    """A blocking client whose platform API is the local E2EE server."""
    options.setdefault("retry_policy", NO_SLEEP)
    return chutes.Client(api_key=API_KEY, api_url=server.url, **options)


def async_client(server: E2EEServer, **options: Any) -> chutes.AsyncClient:
    """The asyncio twin of :func:`client`."""
    options.setdefault("retry_policy", NO_SLEEP)
    return chutes.AsyncClient(api_key=API_KEY, api_url=server.url, **options)


def assert_secret_free(server: E2EEServer) -> None:
    """Neither the prompt nor any word of the answer crossed the wire in the clear."""
    wire = server.wire()
    assert PROMPT.encode() not in wire
    assert b"vault" not in wire
    for word in ("Zebras", "violet", "hexagons"):
        assert word.encode() not in wire


# --- plain and streamed, blocking and asyncio ---------------------------------------------------


def test_plain_chat_is_decrypted_before_decoding(e2ee_server: E2EEServer) -> None:
    """A plain chat completion comes back typed, with its usage, as without E2EE; the
    instance received the prompt, the wire never did."""
    with client(e2ee_server) as c:
        reply = c.chute(id=CHUTE_ID).chat.completions.create(
            model="e2e-model", messages=MESSAGES, e2ee=True
        )
        usage = c.usage
    assert reply.choices[0].message.content == REPLY_TEXT
    assert reply.usage is not None
    assert reply.usage.total_tokens == USAGE["total_tokens"]
    assert usage.total_tokens == USAGE["total_tokens"]
    (invocation,) = e2ee_server.invocations
    assert invocation.body["messages"] == MESSAGES
    assert invocation.path == "/v1/chat/completions"
    assert invocation.stream is False
    assert_secret_free(e2ee_server)


def test_streamed_chat_reads_like_a_stream_in_the_clear(e2ee_server: E2EEServer) -> None:
    """iter_text() gives the answer's pieces, and the encrypted usage (not the relay's
    plaintext copy) is the stream's usage."""
    with client(e2ee_server, e2ee=True) as c:
        stream = c.chute(id=CHUTE_ID).chat.completions.create(
            model="e2e-model", messages=MESSAGES, stream=True
        )
        with stream:
            pieces = list(stream.iter_text())
        assert stream.usage is not None
        assert stream.usage.completion_tokens == USAGE["completion_tokens"]
    assert "".join(pieces) == REPLY_TEXT
    assert len(pieces) == 3
    assert e2ee_server.invocations[0].stream is True
    assert_secret_free(e2ee_server)


async def test_plain_chat_async(e2ee_server: E2EEServer) -> None:
    """The asyncio client decrypts a plain reply the same way."""
    async with async_client(e2ee_server) as c:
        reply = await c.chute(id=CHUTE_ID).chat.completions.create(
            model="e2e-model", messages=MESSAGES, e2ee=True
        )
    assert reply.choices[0].message.content == REPLY_TEXT
    assert_secret_free(e2ee_server)


async def test_streamed_chat_async_collects(e2ee_server: E2EEServer) -> None:
    """The asyncio client's stream collects the whole answer and its usage."""
    async with async_client(e2ee_server, e2ee=True) as c:
        stream = await c.chute(id=CHUTE_ID).chat.completions.create(
            model="e2e-model", messages=MESSAGES, stream=True
        )
        async with stream:
            whole = await stream.collect()
    assert whole.choices[0].message.content == REPLY_TEXT
    assert whole.usage is not None
    assert whole.usage.total_tokens == USAGE["total_tokens"]
    assert_secret_free(e2ee_server)


def test_any_cord_post_and_stream(e2ee_server: E2EEServer) -> None:
    """``post(..., e2ee=True)`` returns the plaintext JSON; ``stream(..., e2ee=True)`` the
    decrypted events."""
    with client(e2ee_server) as c:
        chute = c.chute(id=CHUTE_ID)
        response = chute.post(
            "/v1/chat/completions", json={"model": "m", "messages": MESSAGES}, e2ee=True
        )
        body = {"model": "m", "messages": MESSAGES, "stream": True}
        with chute.stream("/v1/chat/completions", json=body, e2ee=True) as events:
            datas = [event.data for event in events]
    assert response.json()["choices"][0]["message"]["content"] == REPLY_TEXT
    assert response.headers["content-type"] == "application/json"
    assert response.url.endswith(f"/chutes/{CHUTE_ID}/v1/chat/completions")
    assert datas[-1] == "[DONE]"
    assert json.loads(datas[1])["choices"][0]["delta"]["content"] == "Zebras hum"
    assert_secret_free(e2ee_server)


async def test_any_cord_stream_async(e2ee_server: E2EEServer) -> None:
    """The asyncio ``stream(..., e2ee=True)`` yields the decrypted events."""
    body = {"model": "m", "messages": MESSAGES, "stream": True}
    async with async_client(e2ee_server) as c:
        async with c.chute(id=CHUTE_ID).stream(
            "/v1/chat/completions", json=body, e2ee=True
        ) as events:
            datas = [event.data async for event in events]
    assert datas[-1] == "[DONE]"
    assert len(datas) == 7  # role, three pieces, finish, usage, [DONE]


def test_save_to_writes_the_plaintext(e2ee_server: E2EEServer, tmp_path: Path) -> None:
    """``save_to=`` writes the decrypted reply, not the ciphertext."""
    target = tmp_path / "reply.json"
    with client(e2ee_server) as c:
        response = c.chute(id=CHUTE_ID).post(
            "/v1/chat/completions",
            json={"model": "m", "messages": MESSAGES},
            e2ee=True,
            save_to=target,
        )
    assert response.path == target
    assert json.loads(target.read_text())["choices"][0]["message"]["content"] == REPLY_TEXT


# --- nonces --------------------------------------------------------------------------------------


def test_eight_calls_share_one_nonce_fetch(start_server: Any) -> None:
    """Eight calls spend eight nonces of one instances answer (the route is rate limited)."""
    server = start_server(instances=2, nonces_per_instance=4)
    with client(server, e2ee=True) as c:
        chute = c.chute(id=CHUTE_ID)
        for _ in range(8):
            chute.chat.completions.create(model="m", messages=MESSAGES)
    assert server.fetches == 1
    assert server.statuses == [200] * 9  # the instances answer, then eight calls
    assert {i.instance_id for i in server.invocations} == {"inst-0", "inst-1"}


async def test_nonce_reuse_async(start_server: Any) -> None:
    """The asyncio client reuses the nonces the same way."""
    server = start_server(instances=2, nonces_per_instance=4)
    async with async_client(server, e2ee=True) as c:
        for _ in range(8):
            await c.chute(id=CHUTE_ID).chat.completions.create(model="m", messages=MESSAGES)
    assert server.fetches == 1


def test_threads_never_spend_a_nonce_twice(e2ee_server: E2EEServer) -> None:
    """Sixteen calls from four threads share one client's nonces: none is sent twice (the
    platform would answer 403), and one fetch served them all."""
    with client(e2ee_server, e2ee=True) as c:
        chute = c.chute(id=CHUTE_ID)
        chute.chat.completions.create(model="m", messages=MESSAGES)

        def four_calls() -> list[str | None]:
            return [
                chute.chat.completions.create(model="m", messages=MESSAGES)
                .choices[0]
                .message.content
                for _ in range(4)
            ]

        with ThreadPoolExecutor(max_workers=4) as pool:
            texts = [t for batch in pool.map(lambda _: four_calls(), range(4)) for t in batch]
    assert texts == [REPLY_TEXT] * 16
    assert 403 not in e2ee_server.statuses
    assert e2ee_server.fetches == 1


async def test_tasks_never_spend_a_nonce_twice(e2ee_server: E2EEServer) -> None:
    """Twelve concurrent tasks on one AsyncClient: no nonce sent twice."""
    async with async_client(e2ee_server, e2ee=True) as c:
        chute = c.chute(id=CHUTE_ID)
        await chute.chat.completions.create(model="m", messages=MESSAGES)
        replies = await asyncio.gather(
            *(chute.chat.completions.create(model="m", messages=MESSAGES) for _ in range(12))
        )
    assert {r.choices[0].message.content for r in replies} == {REPLY_TEXT}
    assert 403 not in e2ee_server.statuses
    assert e2ee_server.fetches == 1


def test_expired_nonces_are_refreshed_once(e2ee_server: E2EEServer) -> None:
    """After the platform's nonces expired, the refused call fetches fresh ones and
    succeeds."""
    with client(e2ee_server, e2ee=True) as c:
        chute = c.chute(id=CHUTE_ID)
        chute.chat.completions.create(model="m", messages=MESSAGES)
        e2ee_server.advance(61)
        reply = chute.chat.completions.create(model="m", messages=MESSAGES)
    assert reply.choices[0].message.content == REPLY_TEXT
    assert e2ee_server.fetches == 2
    assert e2ee_server.statuses == [200, 200, 403, 200, 200]


def test_a_second_nonce_refusal_is_an_error(e2ee_server: E2EEServer) -> None:
    """Fresh nonces are fetched once per call: a second refusal is the 403 it is."""
    e2ee_server.queue(Fault.NONCE_403, Fault.NONCE_403)
    with client(e2ee_server, e2ee=True) as c, pytest.raises(chutes.PermissionDeniedError):
        c.chute(id=CHUTE_ID).chat.completions.create(model="m", messages=MESSAGES)
    assert e2ee_server.fetches == 2


# --- the faults of PLATFORM.md step 6 ---------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        pytest.param(Fault.GONE_410, 410, id="410-gone"),
        pytest.param(Fault.BUSY_429, 429, id="429-busy"),
        pytest.param(Fault.KEY_EXCHANGE_502, 502, id="502-key-exchange"),
    ],
)
def test_another_instance_after(e2ee_server: E2EEServer, fault: Fault, status: int) -> None:
    """410, 429 and 502 re-encrypt for another instance, and the call succeeds."""
    e2ee_server.queue(fault)
    with client(e2ee_server, e2ee=True) as c:
        reply = c.chute(id=CHUTE_ID).chat.completions.create(model="m", messages=MESSAGES)
        usage = c.usage
    assert reply.choices[0].message.content == REPLY_TEXT
    assert e2ee_server.statuses == [200, status, 200]
    assert usage.requests == 1
    assert usage.failures == 0
    sent = [r for r in e2ee_server.received if r.startswith(b"POST")]
    instances = [
        line.split(b":", 1)[1].strip()
        for request in sent
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"x-instance-id:")
    ]
    assert len(instances) == 2
    assert instances[0] != instances[1]


async def test_another_instance_async(e2ee_server: E2EEServer) -> None:
    """The asyncio client switches instances the same way."""
    e2ee_server.queue(Fault.KEY_EXCHANGE_502)
    async with async_client(e2ee_server, e2ee=True) as c:
        reply = await c.chute(id=CHUTE_ID).chat.completions.create(model="m", messages=MESSAGES)
    assert reply.choices[0].message.content == REPLY_TEXT
    assert e2ee_server.statuses == [200, 502, 200]


def test_a_refused_nonce_then_success(e2ee_server: E2EEServer) -> None:
    """A 403 nonce refusal fetches fresh nonces and sends again."""
    e2ee_server.queue(Fault.NONCE_403)
    with client(e2ee_server, e2ee=True) as c:
        reply = c.chute(id=CHUTE_ID).chat.completions.create(model="m", messages=MESSAGES)
    assert reply.choices[0].message.content == REPLY_TEXT
    assert e2ee_server.fetches == 2


def test_an_old_instance_gets_a_stream_and_the_reply_is_assembled(
    start_server: Any,
) -> None:
    """An old LLM instance's 400 on a plain call: sent again streamed, assembled into the
    same ChatCompletion, usage included."""
    server = start_server(instances=1)
    server.legacy.add("inst-0")
    with client(server, e2ee=True) as c:
        reply = c.chute(id=CHUTE_ID).chat.completions.create(model="m", messages=MESSAGES)
    assert reply.choices[0].message.content == REPLY_TEXT
    assert reply.usage is not None
    assert reply.usage.total_tokens == USAGE["total_tokens"]
    first, second = server.invocations
    assert (first.stream, second.stream) == (False, True)
    assert second.body["stream"] is True
    assert second.body["stream_options"] == {"include_usage": True}
    assert server.statuses == [200, 400, 200]


async def test_an_old_instance_async(start_server: Any) -> None:
    """The asyncio client falls back to a stream the same way."""
    server = start_server(instances=1)
    server.legacy.add("inst-0")
    async with async_client(server, e2ee=True) as c:
        reply = await c.chute(id=CHUTE_ID).chat.completions.create(model="m", messages=MESSAGES)
    assert reply.choices[0].message.content == REPLY_TEXT


def test_a_400_on_another_cord_is_not_resent(start_server: Any) -> None:
    """Only an LLM cord's stream can stand for its plain reply: elsewhere a 400 is a 400."""
    server = start_server(instances=1)
    server.legacy.add("inst-0")
    with client(server) as c, pytest.raises(chutes.BadRequestError):
        c.chute(id=CHUTE_ID).post("/embed", json={"input": PROMPT}, e2ee=True)
    assert len(server.invocations) == 1


# --- replies that do not decrypt ------------------------------------------------------------


@pytest.mark.parametrize("fault", [Fault.TAMPER_REPLY, Fault.TRUNCATE_REPLY])
def test_a_tampered_reply_is_an_e2ee_error(e2ee_server: E2EEServer, fault: Fault) -> None:
    """A flipped bit or a cut reply raises E2EEError naming the chute and instance."""
    e2ee_server.queue(fault)
    with client(e2ee_server, e2ee=True) as c:
        with pytest.raises(chutes.E2EEError) as caught:
            c.chute(id=CHUTE_ID).chat.completions.create(model="m", messages=MESSAGES)
        assert c.usage.failures == 1
    assert caught.value.chute_id == CHUTE_ID
    assert caught.value.instance_id is not None
    assert caught.value.instance_id in str(caught.value)


def test_a_tampered_chunk_is_an_e2ee_error_not_garbage(e2ee_server: E2EEServer) -> None:
    """A stream yields the chunks before a tampered one, then raises E2EEError."""
    e2ee_server.queue(Fault.TAMPER_CHUNK)
    pieces: list[str] = []
    with client(e2ee_server, e2ee=True) as c:
        stream = c.chute(id=CHUTE_ID).chat.completions.create(
            model="m", messages=MESSAGES, stream=True
        )
        with pytest.raises(chutes.E2EEError, match="failed authentication"), stream:
            pieces.extend(stream.iter_text())
    assert "".join(pieces) == "Zebras hum"


async def test_an_e2e_error_event_raises_async(e2ee_server: E2EEServer) -> None:
    """An ``e2e_error`` event ends the stream with E2EEError carrying its detail."""
    e2ee_server.queue(Fault.STREAM_ERROR)
    async with async_client(e2ee_server, e2ee=True) as c:
        stream = await c.chute(id=CHUTE_ID).chat.completions.create(
            model="m", messages=MESSAGES, stream=True
        )
        with pytest.raises(chutes.E2EEError, match="upstream model crashed"):
            async with stream:
                await stream.collect()


# --- nothing in the clear: logs and errors ------------------------------------------------------


def test_no_plaintext_in_logs_or_errors(
    e2ee_server: E2EEServer, caplog: pytest.LogCaptureFixture
) -> None:
    """At DEBUG, through remedies and a failure, no log line and no error (its causes
    included) holds the prompt or the answer."""
    caplog.set_level(logging.DEBUG)
    e2ee_server.queue(Fault.NONCE_403, Fault.GONE_410, Fault.TAMPER_REPLY)
    with client(e2ee_server, e2ee=True) as c:
        with pytest.raises(chutes.E2EEError) as caught:
            c.chute(id=CHUTE_ID).chat.completions.create(model="m", messages=MESSAGES)
        c.chute(id=CHUTE_ID).chat.completions.create(model="m", messages=MESSAGES)
    texts = [record.getMessage() for record in caplog.records]
    assert any("answered 403" in text for text in texts)
    error: BaseException | None = caught.value
    while error is not None:
        texts += [str(error), repr(error)]
        error = error.__cause__ or error.__context__
    for text in texts:
        assert "vault" not in text
        assert "Zebras" not in text


# --- what cannot be encrypted, and without the extra -------------------------------------------


@pytest.mark.parametrize(
    ("call", "problem"),
    [
        pytest.param(lambda ch: ch.request("GET", "/v1/models", e2ee=True), "only POST", id="get"),
        pytest.param(lambda ch: ch.get("/v1/models", e2ee=True), "unknown option", id="get()"),
        pytest.param(
            lambda ch: ch.post("/run", content=b"raw", e2ee=True), "JSON object", id="content"
        ),
        pytest.param(
            lambda ch: ch.post("/run", json=[1, 2], e2ee=True), "JSON object", id="json-list"
        ),
        pytest.param(
            lambda ch: ch.post("/run", json={}, params={"a": "1"}, e2ee=True),
            "query parameters",
            id="params",
        ),
        pytest.param(
            lambda ch: ch.post("/run", json={"e2e_response_pk": "x"}, e2ee=True),
            "e2e_response_pk",
            id="reserved-field",
        ),
    ],
)
def test_calls_that_cannot_be_encrypted_are_refused(
    e2ee_server: E2EEServer, call: Any, problem: str
) -> None:
    """A call asked to be encrypted that cannot be raises ConfigurationError naming why,
    before any traffic."""
    with client(e2ee_server) as c, pytest.raises(chutes.ConfigurationError, match=problem):
        call(c.chute(id=CHUTE_ID))
    assert e2ee_server.received == []


def test_a_url_or_slug_chute_cannot_be_encrypted(e2ee_server: E2EEServer) -> None:
    """A chute known by URL or slug has no platform id to encrypt for; e2ee=False sends
    the call in the clear on purpose."""
    with client(e2ee_server, e2ee=True) as c:
        for chute in (c.chute(url="https://example.com"), c.chute(slug="my-llm")):
            with pytest.raises(chutes.ConfigurationError, match="name or id="):
                chute.chat.completions.create(model="m", messages=MESSAGES)
        spec = c.chute(url="https://example.com").chat.completions._spec(
            "POST", "/v1/chat/completions", {"messages": []}, None, 5, 0, False
        )
    assert spec.e2ee is None


def test_a_client_s_e2ee_leaves_bodyless_calls_in_the_clear(e2ee_server: E2EEServer) -> None:
    """``Client(e2ee=True)`` encrypts calls with a body; a GET without one goes as is."""
    with client(e2ee_server, e2ee=True, max_retries=0) as c:
        with pytest.raises(chutes.NotFoundError):
            c.chute(id=CHUTE_ID).models.list()
    (request,) = e2ee_server.received
    assert request.startswith(f"GET /chutes/{CHUTE_ID}/v1/models ".encode())


def test_the_gateway_needs_a_model(e2ee_server: E2EEServer) -> None:
    """The gateway's chute comes from the body's model: without one, nothing to encrypt
    for."""
    with (
        client(e2ee_server, e2ee=True) as c,
        pytest.raises(chutes.ConfigurationError, match="model="),
    ):
        c.llm.post("/v1/chat/completions", json={"messages": MESSAGES})


def test_e2ee_must_be_a_bool(e2ee_server: E2EEServer) -> None:
    """``e2ee="false"`` is refused rather than taken as true."""
    with pytest.raises(chutes.ConfigurationError, match="e2ee must be True or False"):
        client(e2ee_server, e2ee="false")
    with client(e2ee_server) as c, pytest.raises(chutes.ConfigurationError, match="e2ee"):
        c.chute(id=CHUTE_ID).post("/x", json={}, e2ee=1)  # type: ignore[typeddict-item]


@pytest.fixture
def without_cryptography(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As if the ``[e2ee]`` extra were not installed."""
    _e2ee._check_backend.cache_clear()
    for name in [n for n in sys.modules if n.startswith("cryptography")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "cryptography", None)
    yield
    _e2ee._check_backend.cache_clear()


@pytest.mark.usefixtures("without_cryptography")
def test_without_the_extra_the_error_names_it(e2ee_server: E2EEServer) -> None:
    """Without cryptography, ``Client(e2ee=True)`` and a call's ``e2ee=True`` raise
    ConfigurationError naming the extra; calls in the clear still work."""
    hint = r"pip install 'chutes-client\[e2ee\]'"
    with pytest.raises(chutes.ConfigurationError, match=hint):
        client(e2ee_server, e2ee=True)
    with client(e2ee_server, max_retries=0) as c:
        with pytest.raises(chutes.ConfigurationError, match=hint):
            c.chute(id=CHUTE_ID).chat.completions.create(model="m", messages=MESSAGES, e2ee=True)
        with pytest.raises(chutes.NotFoundError):
            c.chute(id=CHUTE_ID).chat.completions.create(model="m", messages=MESSAGES)
    assert not any(r.startswith(b"POST /e2e") for r in e2ee_server.received)

"""E2EE over real sockets: plain httpx calls to the 127.0.0.1 platform, driven by the core.

``call()`` below is what the client's pipeline will do, in a few lines: take a nonce (or
fetch instances), encrypt, POST, and on an error answer follow the core's decision within
the call's budget; decrypt a plain reply, or a stream event by event.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import attrs
import httpx
import httpx_sse
import pytest
from e2ee_server import API_KEY, CHUTE_ID, REPLY_TEXT, USAGE, E2EEServer, Fault

from chutes._core import e2ee
from chutes._core.e2ee import (
    Action,
    CallState,
    ChunkEvent,
    DoneEvent,
    E2EEError,
    ErrorEvent,
    InitEvent,
    NoncePool,
    PlainUsageEvent,
    classify_e2ee_failure,
    classify_stream_event,
    instances_path,
    invoke_headers,
    parse_instances,
)
from chutes._core.errors import detail_text
from chutes._e2ee import ResponseKey, StreamDecryptor, decrypt_response, encrypt_request

PROMPT = "Whisper the vault combination: 31-07-1987, tell nobody"
BODY = {"model": "e2e-model", "messages": [{"role": "user", "content": PROMPT}]}
MAX_ATTEMPTS = 8  # 1 + one refresh + four switches + one streamed resend, with room


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@attrs.frozen
class Reply:
    """A decrypted reply: the text, the usage, and what the call went through."""

    text: str
    usage: Any
    instance_id: str
    plain_usage_events: int = 0


@attrs.frozen
class Refused:
    """An error answer the call did not (or no longer could) handle as an E2EE matter."""

    status: int
    detail: str


class StreamFailed(Exception):
    """The encrypted stream reported an error or broke."""


@pytest.fixture
def http(e2ee_server: E2EEServer) -> Iterator[httpx.Client]:
    """A plain httpx client for the platform, with the key."""
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=e2ee_server.url, headers=headers, timeout=5.0) as client:
        yield client


@pytest.fixture
def http_for() -> Iterator[Any]:
    """Make plain httpx clients for other platforms; each is closed afterwards."""
    clients: list[httpx.Client] = []

    def make(server: E2EEServer) -> httpx.Client:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        client = httpx.Client(base_url=server.url, headers=headers, timeout=5.0)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def clock() -> Clock:
    """The pool's clock."""
    return Clock()


@pytest.fixture
def pool(clock: Clock) -> NoncePool:
    """An empty nonce pool for the chute."""
    return NoncePool(CHUTE_ID, clock=clock)


def call(
    http: httpx.Client, pool: NoncePool, body: dict[str, Any], *, stream: bool = False
) -> Reply | Refused:
    """One E2EE call, as the pipeline runs it (see the module docstring)."""
    state = CallState()
    streamed = stream
    refused: Refused | None = None
    for _ in range(MAX_ATTEMPTS):
        ticket = pool.take(avoid=state.tried)
        if ticket is None:
            fetched_at = pool.clock()
            answer = http.get(instances_path(CHUTE_ID))
            answer.raise_for_status()
            pool.add(parse_instances(answer.content, chute_id=CHUTE_ID), now=fetched_at)
            ticket = pool.take(avoid=state.tried)
            if ticket is None:
                # Every instance listed has failed this call: its last error stands.
                assert refused is not None, "a fresh answer had no usable nonce"
                return refused
        instance_id = ticket.instance.instance_id
        sent = {**body, "stream": True} if streamed else body
        wire, key = encrypt_request(
            ticket.instance.public_key, sent, chute_id=CHUTE_ID, instance_id=instance_id
        )
        headers = invoke_headers(
            CHUTE_ID, instance_id, ticket.nonce, stream=streamed, path="/v1/chat/completions"
        )
        with http.stream("POST", e2ee.INVOKE_PATH, content=wire, headers=headers) as response:
            if response.status_code < 400:
                if streamed:
                    return read_stream(response, key, instance_id)
                reply = json.loads(decrypt_response(key, response.read()))
                text = reply["choices"][0]["message"]["content"]
                return Reply(text, reply["usage"], instance_id)
            response.read()
        detail = detail_text(response.json().get("detail", ""))
        refused = Refused(response.status_code, detail)
        action = classify_e2ee_failure(response.status_code, detail, streamed)
        following = state.follow(action, instance_id)
        if following is None:
            return refused
        if action is Action.REFRESH_NONCES:
            pool.clear()
        elif action is Action.OTHER_INSTANCE:
            pool.discard_instance(instance_id)
        elif action is Action.RESEND_STREAMED:
            streamed = True
        state = following
    raise AssertionError("the call did not settle within its attempts")


def read_stream(response: httpx.Response, key: ResponseKey, instance_id: str) -> Reply:
    """Decrypt an encrypted stream and assemble the chat completion it carries."""
    decryptor = StreamDecryptor(key)
    inner = b""  # decrypted upstream SSE bytes not yet cut into events
    texts: list[str] = []
    usage: Any = None
    plain_usage = 0
    done = False
    for item in httpx_sse.EventSource(response).iter_sse():
        event = classify_stream_event(item.data)
        if isinstance(event, InitEvent):
            decryptor.init(event.ciphertext)
        elif isinstance(event, ChunkEvent):
            inner += decryptor.decrypt(event.payload)
            *blocks, inner = inner.split(b"\n\n")
            for block in blocks:
                data = block.decode().removeprefix("data: ")
                if data == "[DONE]":
                    done = True
                    continue
                chunk = json.loads(data)
                texts += [c["delta"].get("content", "") for c in chunk["choices"]]
                usage = chunk.get("usage") or usage
        elif isinstance(event, ErrorEvent):
            raise StreamFailed(event.message)
        elif isinstance(event, PlainUsageEvent):
            plain_usage += 1
        elif not isinstance(event, DoneEvent):
            raise StreamFailed(f"unexpected event {event!r}")
    if not done:
        raise StreamFailed("the stream ended before its [DONE]")
    return Reply("".join(texts), usage, instance_id, plain_usage)


def fetch(http: httpx.Client, pool: NoncePool) -> None:
    """Fill the pool from one instances call."""
    pool.add(parse_instances(http.get(instances_path(CHUTE_ID)).content, chute_id=CHUTE_ID))


# --- calls that work --------------------------------------------------------------------------


def test_plain_call(http: httpx.Client, pool: NoncePool, e2ee_server: E2EEServer) -> None:
    """A plain call decrypts to the chat completion; the instance saw exactly the body."""
    reply = call(http, pool, BODY)
    assert (reply, e2ee_server.invocations[-1].body, e2ee_server.fetches) == (
        Reply(REPLY_TEXT, USAGE, e2ee_server.invocations[-1].instance_id),
        BODY,
        1,
    )


def test_streamed_call(http: httpx.Client, pool: NoncePool, e2ee_server: E2EEServer) -> None:
    """A streamed call assembles the text; usage comes from inside the encryption, and the
    instance's plaintext usage copy is recognised and left aside."""
    reply = call(http, pool, BODY, stream=True)
    assert isinstance(reply, Reply)
    assert (reply.text, reply.usage, reply.plain_usage_events) == (REPLY_TEXT, USAGE, 1)
    assert e2ee_server.invocations[-1].body == {**BODY, "stream": True}


def test_prompt_and_answer_never_cross_the_wire_in_the_clear(
    http: httpx.Client, pool: NoncePool, e2ee_server: E2EEServer
) -> None:
    """Neither the prompt nor the answer appears in any byte received or sent."""
    replies = [call(http, pool, BODY), call(http, pool, BODY, stream=True)]
    wire = e2ee_server.wire()
    secrets = [PROMPT, "31-07-1987", REPLY_TEXT, "Zebras", "violet hexagons"]
    assert [r.text for r in replies if isinstance(r, Reply)] == [REPLY_TEXT, REPLY_TEXT]
    assert [s for s in secrets if s.encode() in wire] == []
    assert len(wire) > 10_000  # the check above read real traffic


def test_eight_calls_share_one_fetch(
    http: httpx.Client, pool: NoncePool, e2ee_server: E2EEServer
) -> None:
    """Eight calls spend eight nonces of one instances call, spread over the instances."""
    replies = [call(http, pool, BODY) for _ in range(8)]
    used = [r.instance_id for r in replies if isinstance(r, Reply)]
    assert (len(used), e2ee_server.fetches, set(used)) == (8, 1, set(e2ee_server.instances))


def test_pool_expiry_fetches_again(
    http: httpx.Client, pool: NoncePool, clock: Clock, e2ee_server: E2EEServer
) -> None:
    """Once the pool's nonces have expired, the next call fetches fresh ones."""
    call(http, pool, BODY)
    clock.now += 55
    e2ee_server.advance(55)
    reply = call(http, pool, BODY)
    assert (isinstance(reply, Reply), e2ee_server.fetches) == (True, 2)


# --- the platform's nonce checks --------------------------------------------------------------


def invoke(http: httpx.Client, instance_id: str, public_key: bytes, nonce: str) -> httpx.Response:
    """One raw invoke request, outside call()."""
    wire, _ = encrypt_request(public_key, BODY)
    headers = invoke_headers(CHUTE_ID, instance_id, nonce, stream=False, path="/v1/x")
    return http.post(e2ee.INVOKE_PATH, content=wire, headers=headers)


def test_spent_nonce_is_refused(http: httpx.Client, pool: NoncePool) -> None:
    """A nonce works once; used again it gets 403 and the core says: refresh."""
    fetch(http, pool)
    ticket = pool.take()
    assert ticket is not None
    first = invoke(http, ticket.instance.instance_id, ticket.instance.public_key, ticket.nonce)
    again = invoke(http, ticket.instance.instance_id, ticket.instance.public_key, ticket.nonce)
    detail = again.json()["detail"]
    assert (first.status_code, again.status_code, detail) == (200, 403, e2ee.NONCE_ERROR_DETAIL)
    assert classify_e2ee_failure(403, detail, False) is Action.REFRESH_NONCES


def test_expired_nonce_is_refused(
    http: httpx.Client, pool: NoncePool, e2ee_server: E2EEServer
) -> None:
    """A nonce older than nonce_expires_in gets 403."""
    fetch(http, pool)
    ticket = pool.take()
    assert ticket is not None
    e2ee_server.advance(60.5)
    answer = invoke(http, ticket.instance.instance_id, ticket.instance.public_key, ticket.nonce)
    assert (answer.status_code, answer.json()) == (403, {"detail": e2ee.NONCE_ERROR_DETAIL})


def test_nonce_of_another_instance_is_refused(http: httpx.Client, pool: NoncePool) -> None:
    """A nonce is bound to its instance."""
    fetch(http, pool)
    first, second = pool.take(), pool.take()
    assert first is not None
    assert second is not None
    assert first.instance.instance_id != second.instance.instance_id
    answer = invoke(http, second.instance.instance_id, second.instance.public_key, first.nonce)
    assert answer.status_code == 403


# --- error answers the call handles -----------------------------------------------------------


def test_nonce_403_fetches_fresh_nonces_once(
    http: httpx.Client, pool: NoncePool, e2ee_server: E2EEServer
) -> None:
    """After a 403 for its nonce, a call fetches fresh nonces once and succeeds."""
    e2ee_server.queue(Fault.NONCE_403)
    reply = call(http, pool, BODY)
    assert (isinstance(reply, Reply), e2ee_server.fetches) == (True, 2)
    assert e2ee_server.statuses == [200, 403, 200, 200]


def test_second_nonce_403_is_mapped_as_usual(
    http: httpx.Client, pool: NoncePool, e2ee_server: E2EEServer
) -> None:
    """A second 403 in the same call is not refreshed again: it goes to the error mapping."""
    e2ee_server.queue(Fault.NONCE_403, Fault.NONCE_403)
    reply = call(http, pool, BODY)
    assert (reply, e2ee_server.fetches) == (Refused(403, e2ee.NONCE_ERROR_DETAIL), 2)


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        pytest.param(Fault.GONE_410, 410, id="410-gone"),
        pytest.param(Fault.BUSY_429, 429, id="429-busy"),
        pytest.param(Fault.KEY_EXCHANGE_502, 502, id="502-key-exchange"),
    ],
)
def test_instance_failure_moves_to_another_instance(
    http: httpx.Client, pool: NoncePool, e2ee_server: E2EEServer, fault: Fault, status: int
) -> None:
    """After 410, 429 or 502 the body is encrypted again for another instance, whose nonce
    comes from the same fetch; the failed instance leaves the pool."""
    e2ee_server.queue(fault)
    reply = call(http, pool, BODY)
    assert isinstance(reply, Reply)
    failed = e2ee_server.statuses.index(status)
    assert e2ee_server.statuses[failed:] == [status, 200]
    assert e2ee_server.fetches == 1
    first_instance = next(iter(e2ee_server.instances))
    assert reply.instance_id != first_instance
    left = [pool.take() for _ in range(60)]  # 5 instances x 10 nonces, and then some
    assert first_instance not in {t.instance.instance_id for t in left if t is not None}
    assert left[-1] is None


def test_instance_switches_are_bounded(
    http: httpx.Client, pool: NoncePool, e2ee_server: E2EEServer
) -> None:
    """A call tries five instances at most, then maps the last error as usual."""
    e2ee_server.queue(*[Fault.KEY_EXCHANGE_502] * 10)
    reply = call(http, pool, BODY)
    assert isinstance(reply, Refused)
    assert (reply.status, e2ee_server.statuses.count(502)) == (502, 5)


def test_call_fails_when_every_listed_instance_failed(
    start_server: Any, http_for: Any, pool: NoncePool
) -> None:
    """With three instances that all answer 429, the call stops after the third: a fresh
    fetch lists only instances it already tried."""
    server = start_server(instances=3)
    server.queue(*[Fault.BUSY_429] * 10)
    reply = call(http_for(server), pool, BODY)
    assert isinstance(reply, Refused)
    assert (reply.status, server.statuses.count(429), server.fetches) == (429, 3, 2)


def test_old_instance_gets_the_request_streamed(
    http: httpx.Client, pool: NoncePool, e2ee_server: E2EEServer
) -> None:
    """An old instance's 400 to a plain request: the call resends it streamed and assembles."""
    e2ee_server.legacy.update(e2ee_server.instances)
    reply = call(http, pool, BODY)
    assert isinstance(reply, Reply)
    assert (reply.text, reply.usage) == (REPLY_TEXT, USAGE)
    assert [(i.stream, i.body.get("stream")) for i in e2ee_server.invocations] == [
        (False, None),
        (True, True),
    ]


# --- replies that must not be believed --------------------------------------------------------


def test_tampered_stream_chunk_raises(
    http: httpx.Client, pool: NoncePool, e2ee_server: E2EEServer
) -> None:
    """A chunk altered on the way raises E2EEError naming the chute and instance."""
    e2ee_server.queue(Fault.TAMPER_CHUNK)
    with pytest.raises(
        E2EEError, match=rf"failed authentication.*chute {CHUTE_ID}, instance inst-"
    ):
        call(http, pool, BODY, stream=True)


def test_stream_error_event_ends_the_stream(
    http: httpx.Client, pool: NoncePool, e2ee_server: E2EEServer
) -> None:
    """An e2e_error event ends the stream with the instance's message."""
    e2ee_server.queue(Fault.STREAM_ERROR)
    with pytest.raises(StreamFailed, match="upstream model crashed"):
        call(http, pool, BODY, stream=True)


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        pytest.param(Fault.TAMPER_REPLY, "failed authentication", id="tampered"),
        pytest.param(Fault.TRUNCATE_REPLY, "shorter than", id="truncated"),
    ],
)
def test_bad_plain_reply_raises(
    http: httpx.Client, pool: NoncePool, e2ee_server: E2EEServer, fault: Fault, message: str
) -> None:
    """A plain reply altered or cut on the way raises E2EEError."""
    e2ee_server.queue(fault)
    with pytest.raises(E2EEError, match=message):
        call(http, pool, BODY)

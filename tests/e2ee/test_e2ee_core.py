"""The pure E2EE protocol logic: routes, instances parsing, the nonce pool, decisions."""

from __future__ import annotations

import base64
import json
import pickle
import threading
from typing import Any

import pytest

from chutes._core import e2ee
from chutes._core.e2ee import (
    Action,
    CallState,
    ChunkEvent,
    DoneEvent,
    E2EEError,
    E2EEInstance,
    E2EEInstances,
    ErrorEvent,
    InitEvent,
    NoncePool,
    NonceTicket,
    PlainUsageEvent,
    UnexpectedEvent,
    classify_e2ee_failure,
    classify_stream_event,
    instances_path,
    invoke_headers,
    parse_instances,
)
from chutes._core.errors import ChutesError, ConfigurationError

CHUTE = "5f0a8a4e-3b1c-5d2e-8f9a-0b1c2d3e4f50"
KEY = bytes(range(256)) * 4 + bytes(160)  # 1184 bytes
KEY_B64 = base64.b64encode(KEY).decode()


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def answer(instances: int = 1, nonces: int = 10, expires_in: float = 60.0) -> dict[str, Any]:
    """An instances answer with ``instances`` instances of ``nonces`` nonces each."""
    return {
        "instances": [
            {
                "instance_id": f"i{n}",
                "e2e_pubkey": KEY_B64,
                "nonces": [f"i{n}-nonce-{k}" for k in range(nonces)],
            }
            for n in range(instances)
        ],
        "nonce_expires_in": expires_in,
        "nonce_expires_at": 1_800_000_060,
    }


def drain(pool: NoncePool, limit: int = 1000) -> list[NonceTicket]:
    """Take until the pool is empty (at most ``limit`` times)."""
    taken: list[NonceTicket] = []
    for _ in range(limit):
        ticket = pool.take()
        if ticket is None:
            return taken
        taken.append(ticket)
    raise AssertionError(f"the pool gave more than {limit} nonces")


def pool_with(clock: Clock, **kwargs: Any) -> NoncePool:
    """A pool of CHUTE filled from one answer at the clock's time."""
    pool = NoncePool(CHUTE, clock=clock)
    pool.add(parse_instances(answer(**kwargs), chute_id=CHUTE))
    return pool


# --- constants, routes, headers -------------------------------------------------------------


def test_sizes_match_ml_kem_768_and_chacha20_poly1305() -> None:
    """The wire sizes are those of ML-KEM-768 and ChaCha20-Poly1305."""
    sizes = (e2ee.KEM_CIPHERTEXT_SIZE, e2ee.PUBLIC_KEY_SIZE, e2ee.AEAD_NONCE_SIZE)
    assert (sizes, e2ee.AEAD_TAG_SIZE, e2ee.MIN_REPLY_SIZE) == ((1088, 1184, 12), 16, 1116)


def test_hkdf_info_strings() -> None:
    """The HKDF info strings are the protocol's three, versioned."""
    infos = (e2ee.REQUEST_INFO, e2ee.RESPONSE_INFO, e2ee.STREAM_INFO)
    assert infos == (b"e2e-req-v1", b"e2e-resp-v1", b"e2e-stream-v1")


def test_instances_path_takes_a_uuid() -> None:
    """The instances path holds the chute's UUID in canonical form."""
    assert instances_path(CHUTE.upper()) == f"/e2e/instances/{CHUTE}"


@pytest.mark.parametrize(
    "chute_id",
    [
        pytest.param("me/my-llm", id="name"),
        pytest.param("../admin", id="traversal"),
        pytest.param("", id="empty"),
    ],
)
def test_instances_path_refuses_a_name(chute_id: str) -> None:
    """A chute name (or anything but a UUID) is refused before any traffic."""
    with pytest.raises(ConfigurationError, match="UUID"):
        instances_path(chute_id)


def test_invoke_headers() -> None:
    """The invoke request carries the chute, instance, nonce, stream flag, path and type."""
    headers = invoke_headers(CHUTE, "i0", "n0", stream=True, path="/v1/chat/completions")
    assert headers == {
        "X-Chute-Id": CHUTE,
        "X-Instance-Id": "i0",
        "X-E2E-Nonce": "n0",
        "X-E2E-Stream": "true",
        "X-E2E-Path": "/v1/chat/completions",
        "Content-Type": "application/octet-stream",
    }


def test_invoke_headers_plain_request() -> None:
    """A request not streamed says X-E2E-Stream: false."""
    headers = invoke_headers(CHUTE, "i0", "n0", stream=False, path="/")
    assert headers["X-E2E-Stream"] == "false"


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("v1/chat", id="relative"),
        pytest.param("/v1/chat\r\nX-Evil: 1", id="header-injection"),
        pytest.param("/v1 chat", id="space"),
    ],
)
def test_invoke_headers_refuse_a_bad_path(path: str) -> None:
    """The E2EE path must be an absolute path of visible ASCII."""
    with pytest.raises(ConfigurationError, match="path"):
        invoke_headers(CHUTE, "i0", "n0", stream=False, path=path)


# --- errors -----------------------------------------------------------------------------------


def test_e2ee_error_names_chute_and_instance() -> None:
    """E2EEError is a ChutesError whose message names the chute and the instance."""
    error = E2EEError("the reply failed", chute_id=CHUTE, instance_id="i3")
    assert isinstance(error, ChutesError)
    assert (str(error), error.chute_id, error.instance_id, error.message) == (
        f"the reply failed (chute {CHUTE}, instance i3)",
        CHUTE,
        "i3",
        "the reply failed",
    )


def test_e2ee_error_pickles() -> None:
    """E2EEError survives pickling with its attributes (for worker processes)."""
    original = E2EEError("boom", chute_id=CHUTE, instance_id="i1")
    error = pickle.loads(pickle.dumps(original))  # noqa: S301 - bytes we just made
    assert (type(error), str(error), error.instance_id) == (
        E2EEError,
        f"boom (chute {CHUTE}, instance i1)",
        "i1",
    )


# --- parsing the instances answer -------------------------------------------------------------


@pytest.mark.parametrize(
    "convert",
    [
        pytest.param(lambda d: json.dumps(d).encode(), id="bytes"),
        pytest.param(json.dumps, id="str"),
        pytest.param(lambda d: d, id="mapping"),
    ],
)
def test_parse_instances(convert: Any) -> None:
    """The answer becomes frozen values: ids, decoded keys, nonces, lifetime."""
    parsed = parse_instances(convert(answer(instances=2, nonces=3)), chute_id=CHUTE)
    assert parsed == E2EEInstances(
        CHUTE,
        (
            E2EEInstance("i0", KEY, ("i0-nonce-0", "i0-nonce-1", "i0-nonce-2")),
            E2EEInstance("i1", KEY, ("i1-nonce-0", "i1-nonce-1", "i1-nonce-2")),
        ),
        60.0,
        1_800_000_060,
    )


def test_instance_repr_leaves_out_the_key() -> None:
    """An instance's repr does not spell out its 1184-byte key."""
    assert repr(E2EEInstance("i0", KEY, ("n",))) == "E2EEInstance(instance_id='i0', nonces=('n',))"


def mutate(change: Any) -> dict[str, Any]:
    """A one-instance answer with ``change`` applied."""
    data = answer()
    change(data)
    return data


BAD_ANSWERS = [
    pytest.param(b"<html>busy</html>", "not JSON", None, id="html"),
    pytest.param([1, 2], "not a JSON object", None, id="list"),
    pytest.param({"nonce_expires_in": 60}, "no 'instances'", None, id="no-instances"),
    pytest.param(mutate(lambda d: d.update(instances=[])), "no E2E-capable", None, id="empty"),
    pytest.param(mutate(lambda d: d.pop("nonce_expires_in")), "nonce_expires_in", None, id="ttl"),
    pytest.param(
        mutate(lambda d: d.update(nonce_expires_in=True)), "nonce_expires_in", None, id="ttl-bool"
    ),
    pytest.param(mutate(lambda d: d.update(nonce_expires_in=0)), "positive", None, id="ttl-zero"),
    pytest.param(
        mutate(lambda d: d.update(instances=["i0"])), "not a JSON object", None, id="entry-str"
    ),
    pytest.param(
        mutate(lambda d: d["instances"][0].pop("instance_id")), "instance_id", None, id="no-id"
    ),
    pytest.param(
        mutate(lambda d: d["instances"][0].update(instance_id="i0\r\nX: y")),
        "instance_id",
        None,
        id="id-injection",
    ),
    pytest.param(
        mutate(lambda d: d["instances"][0].update(e2e_pubkey="!!not base64!!")),
        "not base64",
        "i0",
        id="key-not-base64",
    ),
    pytest.param(
        mutate(lambda d: d["instances"][0].update(e2e_pubkey=None)),
        "not base64",
        "i0",
        id="key-missing",
    ),
    pytest.param(
        mutate(lambda d: d["instances"][0].update(e2e_pubkey=base64.b64encode(KEY[:800]).decode())),
        "800 bytes",
        "i0",
        id="key-short",
    ),
    pytest.param(
        mutate(lambda d: d["instances"][0].update(nonces="n1")), "nonces", "i0", id="nonces-str"
    ),
    pytest.param(
        mutate(lambda d: d["instances"][0].update(nonces=["ok", "bad nonce"])),
        "nonces",
        "i0",
        id="nonce-space",
    ),
]


@pytest.mark.parametrize(("body", "message", "instance_id"), BAD_ANSWERS)
def test_parse_instances_refuses(body: Any, message: str, instance_id: str | None) -> None:
    """A malformed answer raises E2EEError naming the chute (and the instance when known)."""
    with pytest.raises(E2EEError, match=message) as caught:
        parse_instances(body, chute_id=CHUTE)
    assert (caught.value.chute_id, caught.value.instance_id) == (CHUTE, instance_id)


def test_parse_instances_ignores_a_strange_expires_at() -> None:
    """nonce_expires_at is informational: an odd value is dropped, not an error."""
    parsed = parse_instances(mutate(lambda d: d.update(nonce_expires_at=[1])), chute_id=CHUTE)
    assert parsed.expires_at is None


# --- the nonce pool ---------------------------------------------------------------------------


def test_pool_serves_eight_calls_from_one_fetch_of_ten() -> None:
    """Eight takes from one fetch of ten nonces give eight different nonces; two stay."""
    clock = Clock()
    pool = pool_with(clock, instances=1, nonces=10)
    tickets = [pool.take() for _ in range(8)]
    nonces = {ticket.nonce for ticket in tickets if ticket is not None}
    assert (len(nonces), pool.count()) == (8, 2)


def test_pool_hands_out_each_nonce_once() -> None:
    """Every nonce comes out exactly once, then the pool is empty."""
    pool = pool_with(Clock(), instances=2, nonces=3)
    taken = [pool.take() for _ in range(7)]
    assert taken[6] is None
    assert sorted(t.nonce for t in taken[:6] if t is not None) == sorted(
        f"i{n}-nonce-{k}" for n in range(2) for k in range(3)
    )


def test_pool_spreads_over_instances() -> None:
    """Consecutive takes turn from instance to instance."""
    pool = pool_with(Clock(), instances=3, nonces=2)
    order = [ticket.instance.instance_id for ticket in drain(pool)]
    assert order == ["i0", "i1", "i2", "i0", "i1", "i2"]


def test_pool_ticket_carries_the_instance_key() -> None:
    """A ticket names the instance whose key the body is encrypted for (the pool alone
    tracks nonces, so the instance in the ticket lists none)."""
    ticket = pool_with(Clock()).take()
    assert ticket is not None
    assert (ticket.instance.instance_id, ticket.instance.public_key, ticket.instance.nonces) == (
        "i0",
        KEY,
        (),
    )


def test_pool_expiry_keeps_a_safety_margin() -> None:
    """A nonce of a 60 s lifetime is used up to 55 s after the fetch, not after."""
    clock = Clock()
    pool = pool_with(clock, nonces=2)
    clock.now += 60 - e2ee.NONCE_SAFETY_MARGIN - 0.001
    assert pool.take() is not None
    clock.now += 0.001
    assert (pool.take(), pool.count()) == (None, 0)


def test_pool_margin_is_capped_for_short_lifetimes() -> None:
    """With a 4 s lifetime the margin is a quarter of it: nonces last 3 s."""
    clock = Clock()
    pool = pool_with(clock, expires_in=4.0)
    assert pool.take(clock.now + 2.999) is not None
    assert pool.take(clock.now + 3.0) is None


def test_pool_expiry_counts_from_the_time_given_to_add() -> None:
    """The deadline counts from the ``now`` given to add (the time the fetch was sent)."""
    clock = Clock()
    pool = NoncePool(CHUTE, clock=clock)
    pool.add(parse_instances(answer(), chute_id=CHUTE), now=clock.now - 50)
    assert pool.take(clock.now + 4.9) is not None
    assert pool.take(clock.now + 5.0) is None


def test_pool_skips_expired_nonces_for_fresh_ones() -> None:
    """Expired nonces of an old fetch are skipped; a later fetch's nonces are served."""
    clock = Clock()
    pool = pool_with(clock, nonces=3)
    clock.now += 30
    fresh = answer(nonces=1)
    fresh["instances"][0]["nonces"] = ["fresh"]
    pool.add(parse_instances(fresh, chute_id=CHUTE))
    clock.now += 30
    ticket = pool.take()
    assert (ticket.nonce if ticket else None, pool.take(), pool.count()) == ("fresh", None, 0)


def test_pool_discard_instance() -> None:
    """A discarded instance's nonces are never handed out."""
    pool = pool_with(Clock(), instances=2, nonces=3)
    pool.discard_instance("i0")
    pool.discard_instance("unknown")
    assert {t.instance.instance_id for t in drain(pool)} == {"i1"}


def test_pool_avoid() -> None:
    """take(avoid=...) skips the instances a call already failed on, keeping their nonces."""
    pool = pool_with(Clock(), instances=2, nonces=1)
    ticket = pool.take(avoid={"i0"})
    assert ticket is not None
    assert (ticket.instance.instance_id, pool.take(avoid={"i0"}), pool.count()) == ("i1", None, 1)


def test_pool_clear() -> None:
    """clear() drops every nonce."""
    pool = pool_with(Clock(), instances=3)
    pool.clear()
    assert (pool.take(), pool.count()) == (None, 0)


def test_pool_drops_old_nonces_when_the_key_changes() -> None:
    """An instance listed with a new key keeps only the nonces issued with the new key."""
    pool = pool_with(Clock(), nonces=3)
    new_key = base64.b64encode(bytes(1184)).decode()
    fresh = answer(nonces=1)
    fresh["instances"][0].update(e2e_pubkey=new_key, nonces=["fresh"])
    pool.add(parse_instances(fresh, chute_id=CHUTE))
    ticket = pool.take()
    assert ticket is not None
    assert (ticket.nonce, ticket.instance.public_key, pool.take()) == ("fresh", bytes(1184), None)


def test_pool_refuses_another_chutes_nonces() -> None:
    """Nonces are per chute: adding another chute's answer is a programming error."""
    pool = NoncePool(CHUTE, clock=Clock())
    other = parse_instances(answer(), chute_id="another")
    with pytest.raises(ValueError, match="another"):
        pool.add(other)


def test_pool_repr_holds_no_nonce() -> None:
    """The pool's repr names the chute and counts instances; no nonce or key in it."""
    text = repr(pool_with(Clock(), instances=2))
    assert (text, "nonce" in text.replace("NoncePool", "")) == (
        f"NoncePool(chute_id='{CHUTE}', instances=2)",
        False,
    )


def test_pool_is_thread_safe() -> None:
    """Eight threads taking at once get every nonce exactly once between them."""
    pool = pool_with(Clock(), instances=5, nonces=40)
    barrier = threading.Barrier(8)
    taken: list[list[str]] = [[] for _ in range(8)]

    def worker(mine: list[str]) -> None:
        barrier.wait(timeout=5)
        for _ in range(200):  # bounded: 200 nonces in all
            ticket = pool.take()
            if ticket is None:
                return
            mine.append(ticket.nonce)

    threads = [threading.Thread(target=worker, args=(mine,)) for mine in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    everything = [nonce for mine in taken for nonce in mine]
    assert (len(everything), len(set(everything)), pool.count()) == (200, 200, 0)
    assert not any(thread.is_alive() for thread in threads)


def test_pool_survives_concurrent_adds_and_discards() -> None:
    """Adds, discards and takes from several threads leave a consistent pool."""
    clock = Clock()
    pool = NoncePool(CHUTE, clock=clock)
    fetched = parse_instances(answer(instances=5, nonces=10), chute_id=CHUTE)
    barrier = threading.Barrier(8)
    taken: list[str] = []
    lock = threading.Lock()

    def adder() -> None:
        barrier.wait(timeout=5)
        for _ in range(20):
            pool.add(fetched)
            pool.discard_instance("i4")

    def taker() -> None:
        barrier.wait(timeout=5)
        for _ in range(100):
            ticket = pool.take()
            if ticket is not None:
                with lock:
                    taken.append(ticket.instance.instance_id)

    threads = [threading.Thread(target=adder) for _ in range(2)]
    threads += [threading.Thread(target=taker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads)
    remaining = pool.count()
    drained = [ticket.instance.instance_id for ticket in drain(pool, limit=2 * 20 * 50)]
    # Each adder ends with a discard of i4, so whatever add came last, i4 is gone.
    assert (len(drained), pool.count(), "i4" in drained) == (remaining, 0, False)
    assert 0 < len(taken) + remaining <= 2 * 20 * 50


# --- what follows an error answer -------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "detail", "streamed", "action"),
    [
        pytest.param(403, e2ee.NONCE_ERROR_DETAIL, False, Action.REFRESH_NONCES, id="403-nonce"),
        pytest.param(403, e2ee.NONCE_ERROR_DETAIL, True, Action.REFRESH_NONCES, id="403-stream"),
        pytest.param(403, "Forbidden", False, Action.NOT_E2EE, id="403-other"),
        pytest.param(410, "Instance is no longer active", False, Action.OTHER_INSTANCE, id="410"),
        pytest.param(429, "Instance is at maximum capacity", True, Action.OTHER_INSTANCE, id="429"),
        pytest.param(429, "", False, Action.NOT_E2EE, id="429-edge"),
        pytest.param(
            429, "Free models limit reached for today", False, Action.NOT_E2EE, id="429-daily"
        ),
        pytest.param(429, "Invalid free model", False, Action.NOT_E2EE, id="429-free-model"),
        pytest.param(429, "Rate limit exceeded", False, Action.NOT_E2EE, id="429-rate-limit"),
        pytest.param(502, "Instance requires key exchange", False, Action.OTHER_INSTANCE, id="502"),
        pytest.param(502, "Bad gateway", True, Action.OTHER_INSTANCE, id="502-other"),
        pytest.param(404, "Instance not found", False, Action.OTHER_INSTANCE, id="404-instance"),
        pytest.param(404, "Chute not found", False, Action.NOT_E2EE, id="404-chute"),
        pytest.param(400, "E2E decryption failed", False, Action.RESEND_STREAMED, id="400-plain"),
        pytest.param(400, "Bad request", True, Action.NOT_E2EE, id="400-streamed"),
        pytest.param(401, "Invalid token", False, Action.NOT_E2EE, id="401"),
        pytest.param(402, "Quota exceeded", False, Action.NOT_E2EE, id="402"),
        pytest.param(500, "Internal error", False, Action.NOT_E2EE, id="500"),
        pytest.param(503, "This chute is currently disabled.", False, Action.NOT_E2EE, id="503"),
    ],
)
def test_classify_e2ee_failure(status: int, detail: str, streamed: bool, action: Action) -> None:
    """Each error answer of /e2e/invoke leads to its action (PLATFORM.md, E2EE step 6)."""
    assert classify_e2ee_failure(status, detail, streamed) is action


def test_call_refreshes_nonces_once() -> None:
    """A call fetches fresh nonces after one 403, and maps a second 403 as usual."""
    first = CallState().follow(Action.REFRESH_NONCES, "i0")
    assert first == CallState(refreshed=True)
    assert first.follow(Action.REFRESH_NONCES, "i1") is None


def test_call_switches_instances_a_bounded_number_of_times() -> None:
    """A call tries at most five instances, remembering each that failed."""
    state: CallState | None = CallState()
    followed = 0
    for n in range(10):
        assert state is not None
        following = state.follow(Action.OTHER_INSTANCE, f"i{n}")
        if following is None:
            break
        state, followed = following, followed + 1
    assert state is not None
    assert (followed, state.tried) == (4, frozenset({"i0", "i1", "i2", "i3"}))


def test_call_resends_streamed_once() -> None:
    """A call falls back to a stream once."""
    state = CallState().follow(Action.RESEND_STREAMED, "i0")
    assert state == CallState(streamed=True)
    assert state.follow(Action.RESEND_STREAMED, "i0") is None


def test_call_state_maps_other_answers_as_usual() -> None:
    """NOT_E2EE is never followed."""
    assert CallState().follow(Action.NOT_E2EE, "i0") is None


# --- the events of an encrypted stream --------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "event"),
    [
        pytest.param('{"e2e_init": "QUJD"}', InitEvent("QUJD"), id="init"),
        pytest.param('{"e2e": "QUJD"}', ChunkEvent("QUJD"), id="chunk"),
        pytest.param('{"e2e_error": "boom"}', ErrorEvent("boom"), id="error-str"),
        pytest.param(
            '{"e2e_error": {"message": "m"}}', ErrorEvent({"message": "m"}), id="error-obj"
        ),
        pytest.param(
            '{"usage": {"total_tokens": 3}}', PlainUsageEvent({"total_tokens": 3}), id="u"
        ),
        pytest.param("[DONE]", DoneEvent(), id="done"),
        pytest.param(" [DONE] ", DoneEvent(), id="done-spaces"),
        pytest.param('{"choices": []}', UnexpectedEvent('{"choices": []}'), id="plain-chunk"),
        pytest.param('{"error": "x"}', UnexpectedEvent('{"error": "x"}'), id="plain-error"),
        pytest.param('{"e2e": 5}', UnexpectedEvent('{"e2e": 5}'), id="chunk-not-str"),
        pytest.param('{"e2e_init": null}', UnexpectedEvent('{"e2e_init": null}'), id="init-null"),
        pytest.param(
            '{"usage": {}, "id": "x"}', UnexpectedEvent('{"usage": {}, "id": "x"}'), id="usage+"
        ),
        pytest.param("not json", UnexpectedEvent("not json"), id="text"),
        pytest.param('["e2e"]', UnexpectedEvent('["e2e"]'), id="list"),
        pytest.param("", UnexpectedEvent(""), id="empty"),
    ],
)
def test_classify_stream_event(data: str, event: Any) -> None:
    """Each data payload of an encrypted stream is classified."""
    assert classify_stream_event(data) == event


@pytest.mark.parametrize(
    ("detail", "message"),
    [
        pytest.param("upstream crashed", "upstream crashed", id="str"),
        pytest.param({"message": "out of memory"}, "out of memory", id="object"),
        pytest.param(None, "the instance reported an E2EE stream error", id="none"),
        pytest.param("", "the instance reported an E2EE stream error", id="empty"),
    ],
)
def test_error_event_message(detail: Any, message: str) -> None:
    """An e2e_error event's message is the error's text, or a default."""
    assert ErrorEvent(detail).message == message


def test_encrypted_events_repr_hides_payloads() -> None:
    """Init and chunk events do not spell out their (long) base64 payloads."""
    assert (repr(InitEvent("SECRETB64")), repr(ChunkEvent("SECRETB64"))) == (
        "InitEvent()",
        "ChunkEvent()",
    )

"""The fake platform's E2EE instance side (cryptography only) against the client's ciphers."""

from __future__ import annotations

import base64
import gzip
import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from pq_instance import INFO_REQUEST, INFO_RESPONSE, PQInstance, derive_key, encapsulate, seal
from pqcrypto.kem import ml_kem_768

from chutes import _e2ee
from chutes._core import e2ee
from chutes._core.e2ee import (
    ChunkEvent,
    E2EEInstances,
    ErrorEvent,
    InitEvent,
    NonceTicket,
    classify_stream_event,
    invoke_headers,
    parse_instances,
)
from chutes._core.errors import ConfigurationError
from chutes._e2ee import ResponseKey, StreamDecryptor, decrypt_response, encrypt_request
from chutes.testing._e2ee_instance import E2EEInvocation, E2EERejection, FakeE2EE

CHUTE = "5f0a8a4e-3b1c-5d2e-8f9a-0b1c2d3e4f50"
BODY = {"model": "m", "messages": [{"role": "user", "content": "a private question"}]}
REPLY = b'{"choices":[{"message":{"content":"a private answer"}}]}'
FRAMES = [b'data: {"choices":[{"delta":{"content":"a"}}]}\n\n', b"data: [DONE]\n\n"]


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    """The fake's clock."""
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> FakeE2EE:
    """A fake with three instances of four nonces each."""
    return FakeE2EE(CHUTE, instances=3, nonces_per_instance=4, clock=clock)


def listed(fake: FakeE2EE) -> E2EEInstances:
    """The fake's instances answer, through the client's parser."""
    answer = fake.instances_answer()
    assert isinstance(answer, dict)
    return parse_instances(json.dumps(answer), chute_id=CHUTE)


def ticket(fake: FakeE2EE, index: int = 0) -> NonceTicket:
    """A fresh nonce of the ``index``-th listed instance."""
    instance = listed(fake).instances[index]
    return NonceTicket(instance, instance.nonces[0])


def send(
    fake: FakeE2EE,
    chosen: NonceTicket,
    body: dict[str, Any] = BODY,
    *,
    stream: bool = False,
    chute_id: str = CHUTE,
) -> tuple[E2EEInvocation | E2EERejection, ResponseKey]:
    """Encrypt ``body`` for the ticket's instance and hand it to the fake."""
    wire, key = encrypt_request(chosen.instance.public_key, body, chute_id=chute_id)
    headers = invoke_headers(
        chute_id, chosen.instance.instance_id, chosen.nonce, stream=stream, path="/v1/chat"
    )
    return fake.open(wire, headers), key


# --- the instances route ----------------------------------------------------------------------


def test_instances_answer_parses(fake: FakeE2EE) -> None:
    """The answer parses with the client's parser: three instances, four nonces each, 60 s."""
    parsed = listed(fake)
    assert [len(i.nonces) for i in parsed.instances] == [4, 4, 4]
    assert [i.instance_id for i in parsed.instances] == list(fake.instance_ids)
    assert (parsed.expires_in, fake.fetches, fake.live_nonces()) == (60.0, 1, 12)


def test_instances_answer_lists_at_most_five(clock: Clock) -> None:
    """The route lists five instances at most, as the platform does."""
    fake = FakeE2EE(CHUTE, instances=7, nonces_per_instance=1, clock=clock)
    assert len(listed(fake).instances) == 5


def test_public_key_is_the_listed_key(fake: FakeE2EE) -> None:
    """public_key() gives the key the route lists for that instance."""
    first = listed(fake).instances[0]
    assert fake.public_key(first.instance_id) == first.public_key


def test_no_live_instance_is_a_404(fake: FakeE2EE) -> None:
    """With every instance retired, the route answers 404 as the platform does."""
    for instance_id in fake.instance_ids:
        fake.retire(instance_id)
    assert fake.instances_answer() == E2EERejection(404, "No E2E-capable instances available")


# --- requests and replies ---------------------------------------------------------------------


def test_request_opens_on_the_fake(fake: FakeE2EE) -> None:
    """The fake decrypts the client's request: body, path, stream flag, instance."""
    chosen = ticket(fake, 1)
    invocation, _ = send(fake, chosen)
    assert isinstance(invocation, E2EEInvocation)
    assert (invocation.body, invocation.path, invocation.stream, invocation.instance_id) == (
        BODY,
        "/v1/chat",
        False,
        chosen.instance.instance_id,
    )
    assert len(invocation.response_public_key) == 1184


def test_plain_reply_decrypts_on_the_client(fake: FakeE2EE) -> None:
    """A reply the fake seals decrypts with the client's response key."""
    invocation, key = send(fake, ticket(fake))
    assert isinstance(invocation, E2EEInvocation)
    assert decrypt_response(key, fake.seal_reply(invocation, REPLY)) == REPLY


def test_stream_decrypts_on_the_client(fake: FakeE2EE) -> None:
    """A stream the fake seals decrypts, event by event, to the upstream frames."""
    invocation, key = send(fake, ticket(fake), {**BODY, "stream": True}, stream=True)
    assert isinstance(invocation, E2EEInvocation)
    frames = fake.seal_stream(invocation, FRAMES)
    events = [classify_stream_event(f.decode().removeprefix("data: ")) for f in frames]
    decryptor = StreamDecryptor(key)
    out = []
    for event in events:
        if isinstance(event, InitEvent):
            decryptor.init(event.ciphertext)
        else:
            assert isinstance(event, ChunkEvent)
            out.append(decryptor.decrypt(event.payload))
    assert (out, all(f.endswith(b"\n\n") for f in frames)) == (FRAMES, True)


def test_error_frame(fake: FakeE2EE) -> None:
    """The fake's e2e_error frame is classified as an error event."""
    frame = fake.error_frame("model crashed").decode()
    assert classify_stream_event(frame.removeprefix("data: ").strip()) == ErrorEvent(
        "model crashed"
    )


def test_reply_interoperates_with_pqcrypto(fake: FakeE2EE) -> None:
    """A reply the fake seals to a pqcrypto key pair opens there too (the fake speaks the
    standard, not just the client's dialect)."""
    pk, sk = ml_kem_768.keygen()
    wire = fake.seal_reply(E2EEInvocation(CHUTE, "i", "/", False, {}, pk), REPLY)
    key = derive_key(ml_kem_768.decaps(sk, wire[:1088]), wire[:1088], INFO_RESPONSE)
    assert gzip.decompress(ChaCha20Poly1305(key).decrypt(wire[1088:1100], wire[1100:], None)) == (
        REPLY
    )


def test_request_encrypted_by_pqcrypto_side_opens(fake: FakeE2EE) -> None:
    """A request encrypted with pqcrypto's encapsulation opens on the fake."""
    chosen = ticket(fake)
    response_pk = PQInstance("client").public_key
    payload = {**BODY, "e2e_response_pk": base64.b64encode(response_pk).decode()}
    kem_ct, key = encapsulate(chosen.instance.public_key, INFO_REQUEST)
    wire = kem_ct + seal(key, gzip.compress(json.dumps(payload).encode()))
    headers = invoke_headers(
        CHUTE, chosen.instance.instance_id, chosen.nonce, stream=False, path="/"
    )
    invocation = fake.open(wire, headers)
    assert isinstance(invocation, E2EEInvocation)
    assert (invocation.body, invocation.response_public_key) == (BODY, response_pk)


# --- refusals ---------------------------------------------------------------------------------

NONCE_403 = E2EERejection(403, e2ee.NONCE_ERROR_DETAIL)


def test_nonce_is_single_use(fake: FakeE2EE) -> None:
    """A nonce opens one request; the second gets 403."""
    chosen = ticket(fake)
    first, _ = send(fake, chosen)
    second, _ = send(fake, chosen)
    assert (isinstance(first, E2EEInvocation), second) == (True, NONCE_403)


def test_expired_nonce_is_refused(fake: FakeE2EE, clock: Clock) -> None:
    """A nonce past its lifetime gets 403."""
    chosen = ticket(fake)
    clock.now += 60
    assert send(fake, chosen)[0] == NONCE_403


def test_nonce_of_another_instance_is_refused(fake: FakeE2EE) -> None:
    """A nonce is bound to its instance, and stays unspent when misused."""
    parsed = listed(fake)
    wrong = NonceTicket(parsed.instances[1], parsed.instances[0].nonces[0])
    right = NonceTicket(parsed.instances[0], parsed.instances[0].nonces[0])
    assert send(fake, wrong)[0] == NONCE_403
    assert isinstance(send(fake, right)[0], E2EEInvocation)


def test_nonce_for_another_chute_is_refused(fake: FakeE2EE) -> None:
    """Nonces are kept per chute."""
    other = "0b7c3a1e-0000-4000-8000-000000000000"
    assert send(fake, ticket(fake), chute_id=other)[0] == NONCE_403


def test_unknown_nonce_is_refused(fake: FakeE2EE) -> None:
    """A nonce the fake never issued gets 403."""
    instance = listed(fake).instances[0]
    assert send(fake, NonceTicket(instance, "made-up"))[0] == NONCE_403


def test_retired_instance_is_gone(fake: FakeE2EE) -> None:
    """A request for a retired instance gets 410, and the route stops listing it."""
    chosen = ticket(fake)
    fake.retire(chosen.instance.instance_id)
    rejection, _ = send(fake, chosen)
    ids = [i.instance_id for i in listed(fake).instances]
    assert (rejection, chosen.instance.instance_id in ids) == (
        E2EERejection(410, "Instance is no longer active"),
        False,
    )


def test_legacy_instance_refuses_a_plain_request(fake: FakeE2EE) -> None:
    """An old instance answers 400 to a plain request and serves a streamed one."""
    parsed = listed(fake)
    instance = parsed.instances[0]
    fake.make_legacy(instance.instance_id)
    plain, _ = send(fake, NonceTicket(instance, instance.nonces[0]))
    streamed, _ = send(fake, NonceTicket(instance, instance.nonces[1]), stream=True)
    assert (isinstance(plain, E2EERejection) and plain.status, type(streamed)) == (
        400,
        E2EEInvocation,
    )


def test_stream_flags_must_agree(fake: FakeE2EE) -> None:
    """A body saying stream while the header does not is refused (the relay would break)."""
    rejection, _ = send(fake, ticket(fake), {**BODY, "stream": True}, stream=False)
    assert isinstance(rejection, E2EERejection)
    assert (rejection.status, "disagree" in rejection.detail) == (400, True)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(bytes(1200), id="zeros"),
        pytest.param(b"not encrypted at all", id="short"),
    ],
)
def test_undecryptable_body_is_a_400(fake: FakeE2EE, body: bytes) -> None:
    """A body that does not decrypt gets 400, as the instance answers it."""
    chosen = ticket(fake)
    headers = invoke_headers(
        CHUTE, chosen.instance.instance_id, chosen.nonce, stream=False, path="/"
    )
    assert fake.open(body, headers) == E2EERejection(400, "E2E decryption failed")


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(BODY, id="no-response-key"),
        pytest.param({**BODY, "e2e_response_pk": 42}, id="response-key-not-str"),
        pytest.param(
            {**BODY, "e2e_response_pk": base64.b64encode(bytes(100)).decode()},
            id="response-key-short",
        ),
        pytest.param(["not", "an", "object"], id="list"),
    ],
)
def test_decrypted_body_without_a_usable_response_key_is_a_400(
    fake: FakeE2EE, payload: Any
) -> None:
    """A request that decrypts but cannot be answered (no ML-KEM-768 response key, or not
    a JSON object) gets 400."""
    chosen = ticket(fake)
    kem_ct, key = encapsulate(chosen.instance.public_key, INFO_REQUEST)
    wire = kem_ct + seal(key, gzip.compress(json.dumps(payload).encode()))
    headers = invoke_headers(
        CHUTE, chosen.instance.instance_id, chosen.nonce, stream=False, path="/"
    )
    assert fake.open(wire, headers) == E2EERejection(400, "E2E decryption failed")


def test_missing_headers_are_a_422(fake: FakeE2EE) -> None:
    """Missing required headers get FastAPI's 422 listing them."""
    rejection = fake.open(b"x", {"X-Chute-Id": CHUTE})
    assert rejection == E2EERejection(
        422,
        [
            {"type": "missing", "loc": ["header", "x-instance-id"], "msg": "Field required"},
            {"type": "missing", "loc": ["header", "x-e2e-nonce"], "msg": "Field required"},
        ],
    )
    assert json.loads(rejection.body())["detail"][0]["loc"] == ["header", "x-instance-id"]


def test_headers_are_case_insensitive(fake: FakeE2EE) -> None:
    """Header names are matched in any case."""
    chosen = ticket(fake)
    wire, _ = encrypt_request(chosen.instance.public_key, BODY)
    headers = invoke_headers(
        CHUTE, chosen.instance.instance_id, chosen.nonce, stream=False, path="/"
    )
    upper = {name.upper(): value for name, value in headers.items()}
    assert isinstance(fake.open(wire, upper), E2EEInvocation)


def test_reprs_hold_no_plaintext(fake: FakeE2EE) -> None:
    """The fake's values do not print the decrypted body or keys."""
    invocation, _ = send(fake, ticket(fake))
    text = repr(invocation) + repr(fake)
    assert "private question" not in text
    assert "FakeE2EE(chute_id=" in text


# --- without cryptography ---------------------------------------------------------------------


@pytest.fixture
def fresh_check() -> Iterator[None]:
    """Forget the cached backend check before and after the test."""
    _e2ee._check_backend.cache_clear()
    yield
    _e2ee._check_backend.cache_clear()


@pytest.mark.usefixtures("fresh_check")
def test_fake_needs_cryptography(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without cryptography the fake says which extra to install."""
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.asymmetric.mlkem", None)
    with pytest.raises(ConfigurationError, match=r"chutes-client\[e2ee\]"):
        FakeE2EE(CHUTE)

"""The client's E2EE ciphers against the independent pqcrypto instance side."""

from __future__ import annotations

import base64
import json
import pickle
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from pq_instance import INFO_RESPONSE, INFO_STREAM, PQInstance, encapsulate, seal

from chutes import _e2ee
from chutes._core.e2ee import E2EEError
from chutes._core.errors import ConfigurationError
from chutes._e2ee import StreamDecryptor, decrypt_response, encrypt_request, require_e2ee

CHUTE = "5f0a8a4e-3b1c-5d2e-8f9a-0b1c2d3e4f50"
PROMPT = "Describe the secret garden behind the lighthouse"
ANSWER = b'{"choices":[{"message":{"content":"Lavender grows under the stairs"}}]}'
BODY = {"model": "m", "messages": [{"role": "user", "content": PROMPT}], "stream": False}


@pytest.fixture(scope="module")
def instance() -> PQInstance:
    """One pqcrypto instance (key generation is the slow part)."""
    return PQInstance("inst-7")


def request(instance: PQInstance) -> tuple[bytes, _e2ee.ResponseKey, bytes]:
    """Encrypt BODY for ``instance``; return the wire, the response key and the response
    public key the instance found inside."""
    wire, key = encrypt_request(instance.public_key, BODY, chute_id=CHUTE, instance_id="inst-7")
    _, response_pk = instance.decrypt_request(wire)
    return wire, key, response_pk


def stream_events(frames: list[bytes]) -> list[dict[str, str]]:
    """The JSON payloads of SSE frames."""
    return [json.loads(frame.removeprefix(b"data: ")) for frame in frames]


def flip(data: bytes, index: int) -> bytes:
    """``data`` with one bit flipped at ``index``."""
    return data[:index] + bytes([data[index] ^ 1]) + data[index + 1 :]


# --- requests ---------------------------------------------------------------------------------


def test_request_decrypts_on_the_instance(instance: PQInstance) -> None:
    """The pqcrypto instance decrypts the body and finds a fresh ML-KEM-768 response key."""
    wire, _ = encrypt_request(instance.public_key, BODY)
    body, response_pk = instance.decrypt_request(wire)
    assert (body, len(response_pk)) == (BODY, 1184)


def test_request_layout(instance: PQInstance) -> None:
    """The wire is ct(1088) || nonce(12) || ciphertext of the gzip body || tag(16)."""
    wire, _ = encrypt_request(instance.public_key, BODY)
    compressed = instance.open_request(wire)
    assert len(wire) == 1088 + 12 + len(compressed) + 16


def test_request_gzip_has_no_timestamp(instance: PQInstance) -> None:
    """The gzip header inside carries no clock reading (MTIME is zero, RFC 1952)."""
    wire, _ = encrypt_request(instance.public_key, BODY)
    compressed = instance.open_request(wire)
    assert (compressed[:2], compressed[4:8]) == (b"\x1f\x8b", bytes(4))


def test_each_request_has_its_own_keys(instance: PQInstance) -> None:
    """Two requests of the same body differ on the wire and carry different response keys."""
    wire_a, _, pk_a = request(instance)
    wire_b, _, pk_b = request(instance)
    assert (wire_a[:1100] != wire_b[:1100], pk_a != pk_b) == (True, True)


def test_request_leaves_the_callers_body_alone(instance: PQInstance) -> None:
    """The response key is added to a copy, not to the caller's dict."""
    body = dict(BODY)
    encrypt_request(instance.public_key, body)
    assert body == BODY


def test_request_keeps_unicode(instance: PQInstance) -> None:
    """Non-ASCII text round-trips exactly."""
    body = {"messages": [{"role": "user", "content": "Grüße, 世界 🌍"}]}
    wire, _ = encrypt_request(instance.public_key, body)
    assert instance.decrypt_request(wire)[0] == body


@pytest.mark.parametrize(
    "key",
    [pytest.param(b"", id="empty"), pytest.param(bytes(1183), id="short")],
)
def test_request_refuses_a_bad_instance_key(key: bytes) -> None:
    """A public key that is not ML-KEM-768 raises E2EEError naming chute and instance."""
    with pytest.raises(E2EEError, match=r"not an ML-KEM-768 key \(chute c1, instance i9\)"):
        encrypt_request(key, BODY, chute_id="c1", instance_id="i9")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(["not", "an", "object"], id="list"),
        pytest.param({"value": float("nan")}, id="nan"),
        pytest.param({"value": object()}, id="not-json"),
    ],
)
def test_request_refuses_a_body_that_is_not_a_json_object(instance: PQInstance, body: Any) -> None:
    """The body must be a JSON-serialisable object."""
    with pytest.raises(ConfigurationError):
        encrypt_request(instance.public_key, body)


# --- plain replies ----------------------------------------------------------------------------


def test_reply_decrypts_on_the_client(instance: PQInstance) -> None:
    """A reply the pqcrypto instance encrypts decrypts to the same bytes."""
    _, key, response_pk = request(instance)
    assert decrypt_response(key, instance.encrypt_reply(response_pk, ANSWER)) == ANSWER


def test_reply_accepts_memoryview(instance: PQInstance) -> None:
    """The reply may be any bytes-like object."""
    _, key, response_pk = request(instance)
    wire = instance.encrypt_reply(response_pk, ANSWER)
    assert decrypt_response(key, memoryview(wire)) == ANSWER  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "index",
    [
        pytest.param(0, id="kem-ciphertext-start"),
        pytest.param(20, id="kem-ciphertext-past-salt"),
        pytest.param(1087, id="kem-ciphertext-end"),
        pytest.param(1090, id="aead-nonce"),
        pytest.param(1105, id="ciphertext"),
        pytest.param(-1, id="tag"),
    ],
)
def test_tampered_reply_raises(instance: PQInstance, index: int) -> None:
    """A bit flipped anywhere in the reply raises E2EEError, never garbage."""
    _, key, response_pk = request(instance)
    wire = flip(instance.encrypt_reply(response_pk, ANSWER), index)
    with pytest.raises(E2EEError, match=r"failed authentication: .* \(chute .*, instance inst-7\)"):
        decrypt_response(key, wire)


@pytest.mark.parametrize(
    "length",
    [
        pytest.param(0, id="empty"),
        pytest.param(1000, id="inside-kem-ciphertext"),
        pytest.param(1100, id="no-tag"),
        pytest.param(1115, id="one-short-of-minimum"),
        pytest.param(-1, id="last-byte-cut"),
    ],
)
def test_truncated_reply_raises(instance: PQInstance, length: int) -> None:
    """A reply cut short raises E2EEError."""
    _, key, response_pk = request(instance)
    wire = instance.encrypt_reply(response_pk, ANSWER)[:length]
    with pytest.raises(E2EEError):
        decrypt_response(key, wire)


def test_reply_for_another_request_raises(instance: PQInstance) -> None:
    """A reply encrypted to another request's key does not decrypt."""
    _, key, _ = request(instance)
    _, _, other_pk = request(instance)
    with pytest.raises(E2EEError, match="failed authentication"):
        decrypt_response(key, instance.encrypt_reply(other_pk, ANSWER))


def test_reply_without_gzip_raises(instance: PQInstance) -> None:
    """An authentic reply whose plaintext is not gzip raises E2EEError."""
    _, key, response_pk = request(instance)
    kem_ct, aead_key = encapsulate(response_pk, INFO_RESPONSE)
    with pytest.raises(E2EEError, match="not gzip"):
        decrypt_response(key, kem_ct + seal(aead_key, ANSWER))


def test_reply_error_holds_no_plaintext(instance: PQInstance) -> None:
    """No E2EEError message holds the reply's plaintext."""
    _, key, response_pk = request(instance)
    kem_ct, aead_key = encapsulate(response_pk, INFO_RESPONSE)
    with pytest.raises(E2EEError) as caught:
        decrypt_response(key, kem_ct + seal(aead_key, ANSWER))
    assert b"Lavender" not in str(caught.value).encode()


# --- streamed replies -------------------------------------------------------------------------

FRAMES = [
    b'data: {"choices":[{"delta":{"content":"Lavender"}}]}\n\n',
    b'data: {"choices":[{"delta":{"content":" grows"}}]}\n\n',
    b'data: {"choices":[],"usage":{"total_tokens":9}}\n\n',
    b"data: [DONE]\n\n",
]


@pytest.fixture
def streamed(instance: PQInstance) -> tuple[StreamDecryptor, list[dict[str, str]]]:
    """A decryptor and the events of a stream the instance encrypted to its key."""
    _, key, response_pk = request(instance)
    return StreamDecryptor(key), stream_events(instance.encrypt_stream(response_pk, FRAMES))


def test_stream_decrypts_to_the_upstream_bytes(
    streamed: tuple[StreamDecryptor, list[dict[str, str]]],
) -> None:
    """e2e_init then each e2e chunk decrypt to the upstream SSE frames, in order."""
    decryptor, events = streamed
    decryptor.init(events[0]["e2e_init"])
    assert [decryptor.decrypt(event["e2e"]) for event in events[1:]] == FRAMES


def test_stream_started(streamed: tuple[StreamDecryptor, list[dict[str, str]]]) -> None:
    """started turns true at e2e_init."""
    decryptor, events = streamed
    before = decryptor.started
    decryptor.init(events[0]["e2e_init"])
    assert (before, decryptor.started) == (False, True)


def test_stream_chunk_before_init_raises(
    streamed: tuple[StreamDecryptor, list[dict[str, str]]],
) -> None:
    """A chunk before e2e_init raises E2EEError."""
    decryptor, events = streamed
    with pytest.raises(E2EEError, match="before its e2e_init"):
        decryptor.decrypt(events[1]["e2e"])


def test_stream_second_init_raises(streamed: tuple[StreamDecryptor, list[dict[str, str]]]) -> None:
    """A second e2e_init raises E2EEError (it would switch keys mid-stream)."""
    decryptor, events = streamed
    decryptor.init(events[0]["e2e_init"])
    with pytest.raises(E2EEError, match="second e2e_init"):
        decryptor.init(events[0]["e2e_init"])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("!!!", "not base64", id="not-base64"),
        pytest.param("QUJD", "3 bytes", id="short"),
        pytest.param("é", "not base64", id="non-ascii"),
    ],
)
def test_stream_bad_init_raises(
    streamed: tuple[StreamDecryptor, list[dict[str, str]]], value: str, message: str
) -> None:
    """An e2e_init that is not base64 of a 1088-byte ciphertext raises E2EEError."""
    decryptor, _ = streamed
    with pytest.raises(E2EEError, match=message):
        decryptor.init(value)


def test_stream_tampered_chunk_raises(
    streamed: tuple[StreamDecryptor, list[dict[str, str]]],
) -> None:
    """A chunk with a flipped bit raises E2EEError."""
    decryptor, events = streamed
    decryptor.init(events[0]["e2e_init"])
    raw = base64.b64decode(events[2]["e2e"])
    with pytest.raises(E2EEError, match="failed authentication"):
        decryptor.decrypt(base64.b64encode(flip(raw, 15)).decode())


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("%%%", "not base64", id="not-base64"),
        pytest.param(base64.b64encode(bytes(27)).decode(), "27 bytes", id="short"),
    ],
)
def test_stream_bad_chunk_raises(
    streamed: tuple[StreamDecryptor, list[dict[str, str]]], value: str, message: str
) -> None:
    """A chunk that is not base64, or shorter than nonce and tag, raises E2EEError."""
    decryptor, events = streamed
    decryptor.init(events[0]["e2e_init"])
    with pytest.raises(E2EEError, match=message):
        decryptor.decrypt(value)


def test_stream_truncated_chunk_raises(
    streamed: tuple[StreamDecryptor, list[dict[str, str]]],
) -> None:
    """A chunk missing its last byte raises E2EEError."""
    decryptor, events = streamed
    decryptor.init(events[0]["e2e_init"])
    raw = base64.b64decode(events[1]["e2e"])
    with pytest.raises(E2EEError, match="failed authentication"):
        decryptor.decrypt(base64.b64encode(raw[:-1]).decode())


def test_stream_repeated_chunk_raises(
    streamed: tuple[StreamDecryptor, list[dict[str, str]]],
) -> None:
    """A chunk delivered twice (a replay by the relay) raises E2EEError the second time."""
    decryptor, events = streamed
    decryptor.init(events[0]["e2e_init"])
    decryptor.decrypt(events[1]["e2e"])
    with pytest.raises(E2EEError, match="repeated"):
        decryptor.decrypt(events[1]["e2e"])


def test_stream_of_another_request_raises(instance: PQInstance) -> None:
    """A stream encrypted to another request's key does not decrypt."""
    _, key, _ = request(instance)
    _, _, other_pk = request(instance)
    events = stream_events(instance.encrypt_stream(other_pk, FRAMES))
    decryptor = StreamDecryptor(key)
    decryptor.init(events[0]["e2e_init"])
    with pytest.raises(E2EEError, match="failed authentication"):
        decryptor.decrypt(events[1]["e2e"])


def test_stream_key_is_not_the_reply_key(instance: PQInstance) -> None:
    """A chunk sealed under the plain-reply key (wrong HKDF info) does not decrypt."""
    _, key, response_pk = request(instance)
    kem_ct, reply_key = encapsulate(response_pk, INFO_RESPONSE)
    decryptor = StreamDecryptor(key)
    decryptor.init(base64.b64encode(kem_ct).decode())
    with pytest.raises(E2EEError, match="failed authentication"):
        decryptor.decrypt(base64.b64encode(seal(reply_key, FRAMES[0])).decode())


def test_stream_chunk_under_the_stream_key_decrypts(instance: PQInstance) -> None:
    """The same construction under the stream key (HKDF info e2e-stream-v1) decrypts."""
    _, key, response_pk = request(instance)
    kem_ct, stream_key = encapsulate(response_pk, INFO_STREAM)
    decryptor = StreamDecryptor(key)
    decryptor.init(base64.b64encode(kem_ct).decode())
    assert decryptor.decrypt(base64.b64encode(seal(stream_key, FRAMES[0])).decode()) == FRAMES[0]


# --- no key material anywhere -----------------------------------------------------------------


def test_response_key_repr_names_only_chute_and_instance(instance: PQInstance) -> None:
    """A response key's repr and str name the chute and instance, nothing else."""
    _, key, _ = request(instance)
    expected = f"ResponseKey(chute_id='{CHUTE}', instance_id='inst-7')"
    assert (repr(key), str(key)) == (expected, expected)


def test_stream_decryptor_repr(streamed: tuple[StreamDecryptor, list[dict[str, str]]]) -> None:
    """A stream decryptor's repr shows its progress, no key."""
    decryptor, events = streamed
    decryptor.init(events[0]["e2e_init"])
    decryptor.decrypt(events[1]["e2e"])
    assert repr(decryptor) == (
        f"StreamDecryptor(chute_id='{CHUTE}', instance_id='inst-7', started=True, chunks=1)"
    )


@pytest.mark.parametrize("make", [lambda key: key, StreamDecryptor], ids=["key", "decryptor"])
def test_key_material_cannot_be_pickled(instance: PQInstance, make: Any) -> None:
    """Response keys and stream decryptors refuse to be pickled."""
    _, key, _ = request(instance)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(make(key))


# --- without cryptography ---------------------------------------------------------------------


@pytest.fixture
def fresh_check() -> Iterator[None]:
    """Forget the cached backend check before and after the test."""
    _e2ee._check_backend.cache_clear()
    yield
    _e2ee._check_backend.cache_clear()


@pytest.mark.usefixtures("fresh_check")
def test_require_e2ee_passes_with_cryptography() -> None:
    """With cryptography >= 47 installed, require_e2ee() returns quietly, and remembers."""
    require_e2ee()
    assert _e2ee._check_backend.cache_info().currsize == 1


@pytest.mark.usefixtures("fresh_check")
@pytest.mark.parametrize(
    "module",
    [
        pytest.param("cryptography", id="no-cryptography"),
        pytest.param("cryptography.hazmat.primitives.asymmetric.mlkem", id="cryptography-46"),
    ],
)
def test_require_e2ee_names_the_extra(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    """Without cryptography (or one without ML-KEM) the error names the extra to install."""
    for name in [n for n in sys.modules if n == module or n.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ConfigurationError, match=r"pip install 'chutes-client\[e2ee\]'"):
        require_e2ee()


@pytest.mark.usefixtures("fresh_check")
def test_require_e2ee_without_ml_kem_in_openssl(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cryptography built on an OpenSSL without ML-KEM is refused the same way."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey

    def unsupported() -> None:
        raise UnsupportedAlgorithm("ML-KEM-768 is not supported by this backend.")

    monkeypatch.setattr(MLKEM768PrivateKey, "generate", unsupported)
    with pytest.raises(ConfigurationError, match=r"OpenSSL .*chutes-client\[e2ee\]"):
        require_e2ee()


@pytest.mark.usefixtures("fresh_check")
def test_encrypt_request_checks_for_cryptography(monkeypatch: pytest.MonkeyPatch) -> None:
    """encrypt_request raises the ConfigurationError, not an ImportError."""
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.asymmetric.mlkem", None)
    with pytest.raises(ConfigurationError, match="chutes-client"):
        encrypt_request(bytes(1184), BODY)

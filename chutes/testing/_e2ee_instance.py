"""The instance side of end-to-end encryption, for the fake platform, with real ML-KEM keys.

:class:`FakeE2EE` plays the E2E-capable instances of one chute together with the platform's
nonce bookkeeping (PLATFORM.md, "End-to-end encryption"): it answers the instances route
with fresh single-use nonces, checks an ``/e2e/invoke`` request's headers and nonce as the
platform does, decrypts the body, and encrypts the reply to the response key the body
carried, whole or as the SSE frames of a stream. It needs only ``cryptography`` (the
``[e2ee]`` extra) and does no I/O: the fake platform routes requests to it.

Refusals are values (:class:`E2EERejection`), with the platform's statuses and details.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import secrets
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

import attrs

from .._core.e2ee import (
    AEAD_NONCE_SIZE,
    CHUTE_ID_HEADER,
    HKDF_SALT_SIZE,
    INSTANCE_ID_HEADER,
    KEM_CIPHERTEXT_SIZE,
    KEY_SIZE,
    MIN_REPLY_SIZE,
    NONCE_ERROR_DETAIL,
    NONCE_HEADER,
    PATH_HEADER,
    PUBLIC_KEY_SIZE,
    REQUEST_INFO,
    RESPONSE_INFO,
    RESPONSE_KEY_FIELD,
    STREAM_HEADER,
    STREAM_INFO,
)
from .._e2ee import require_e2ee

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey

__all__ = ["E2EEInvocation", "E2EERejection", "FakeE2EE"]

MAX_LISTED: Final = 5  # the instances route lists at most five instances
NO_INSTANCES: Final = "No E2E-capable instances available"
GONE: Final = "Instance is no longer active"
DECRYPTION_FAILED: Final = "E2E decryption failed"
PLAIN_UNSUPPORTED: Final = "This instance serves E2EE requests only as streams"
STREAM_MISMATCH: Final = "X-E2E-Stream and the body's stream flag disagree"


@attrs.frozen
class E2EERejection:
    """A refusal, as the platform answers it.

    Attributes:
        status: the HTTP status.
        detail: the ``detail`` of the JSON body (a string, or FastAPI's list for 422).
    """

    status: int
    detail: Any

    def body(self) -> bytes:
        """The JSON body ``{"detail": ...}``."""
        return json.dumps({"detail": self.detail}).encode()


@attrs.frozen
class E2EEInvocation:
    """A request the instance decrypted: what the chute should run.

    Attributes:
        chute_id: the chute (``X-Chute-Id``).
        instance_id: the instance it was encrypted for (``X-Instance-Id``).
        path: the chute path to run (``X-E2E-Path``).
        stream: whether the reply is streamed (``X-E2E-Stream``).
        body: the decrypted JSON body, without ``e2e_response_pk``.
        response_public_key: the client's fresh ML-KEM-768 public key for the reply.
    """

    chute_id: str
    instance_id: str
    path: str
    stream: bool
    body: dict[str, Any] = attrs.field(repr=False)
    response_public_key: bytes = attrs.field(repr=False)


@attrs.define
class _Instance:
    instance_id: str
    private_key: MLKEM768PrivateKey = attrs.field(repr=False)
    public_key: bytes = attrs.field(repr=False)
    retired: bool = False
    legacy: bool = False


class FakeE2EE:
    """The E2E-capable instances of one chute, with real ML-KEM-768 keys and nonces.

    Thread-safe: the nonce bookkeeping is guarded by a lock.

    Args:
        chute_id: the chute's id (UUID).
        instances: how many instances to make.
        nonces_per_instance: nonces issued per instance by each instances answer.
        nonce_lifetime: seconds a nonce stays valid (``nonce_expires_in``).
        clock: monotonic seconds, for nonce expiry.

    Raises:
        ConfigurationError: without ``cryptography`` 47 or later.
    """

    def __init__(
        self,
        chute_id: str,
        *,
        instances: int = 2,
        nonces_per_instance: int = 10,
        nonce_lifetime: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        require_e2ee()
        from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey

        self.chute_id = chute_id
        self.nonces_per_instance = nonces_per_instance
        self.nonce_lifetime = nonce_lifetime
        self._clock = clock
        self._lock = threading.Lock()
        self._instances: dict[str, _Instance] = {}
        for number in range(instances):
            key = MLKEM768PrivateKey.generate()
            instance_id = f"fake-e2e-instance-{number}"
            self._instances[instance_id] = _Instance(
                instance_id, key, key.public_key().public_bytes_raw()
            )
        self._nonces: dict[str, tuple[str, float]] = {}  # nonce -> (instance id, deadline)
        self.fetches = 0

    def __repr__(self) -> str:
        return f"FakeE2EE(chute_id={self.chute_id!r}, instances={len(self._instances)})"

    @property
    def instance_ids(self) -> tuple[str, ...]:
        """The ids of every instance, retired ones included."""
        return tuple(self._instances)

    def public_key(self, instance_id: str) -> bytes:
        """An instance's ML-KEM-768 public key (1184 bytes)."""
        return self._instances[instance_id].public_key

    def retire(self, instance_id: str) -> None:
        """Take an instance out: requests for it get 410, the instances route omits it."""
        self._instances[instance_id].retired = True

    def make_legacy(self, instance_id: str) -> None:
        """Make an instance an old LLM instance: 400 for a request not streamed."""
        self._instances[instance_id].legacy = True

    def live_nonces(self) -> int:
        """How many issued nonces are unspent and unexpired."""
        now = self._clock()
        with self._lock:
            return sum(1 for _, deadline in self._nonces.values() if deadline > now)

    # --- the instances route ---------------------------------------------------------------

    def instances_answer(self) -> dict[str, Any] | E2EERejection:
        """Answer ``GET /e2e/instances/{chute_id}``: up to five live instances with fresh
        nonces, or a 404 when none is live.

        Returns:
            The JSON object, or the :class:`E2EERejection` to send.
        """
        live = [instance for instance in self._instances.values() if not instance.retired]
        if not live:
            return E2EERejection(404, NO_INSTANCES)
        now = self._clock()
        listed = []
        with self._lock:
            self.fetches += 1
            for instance in live[:MAX_LISTED]:
                nonces = [secrets.token_urlsafe(24) for _ in range(self.nonces_per_instance)]
                for nonce in nonces:
                    self._nonces[nonce] = (instance.instance_id, now + self.nonce_lifetime)
                listed.append(
                    {
                        "instance_id": instance.instance_id,
                        "e2e_pubkey": base64.b64encode(instance.public_key).decode("ascii"),
                        "nonces": nonces,
                    }
                )
        return {
            "instances": listed,
            "nonce_expires_in": self.nonce_lifetime,
            "nonce_expires_at": int(time.time() + self.nonce_lifetime),
        }

    # --- the invoke route ------------------------------------------------------------------

    def open(self, body: bytes, headers: Mapping[str, str]) -> E2EEInvocation | E2EERejection:
        """Check and decrypt a ``POST /e2e/invoke`` request, spending its nonce.

        The checks follow the platform's order: required headers (422), the nonce (403,
        unknown, spent, expired, or issued for another instance or chute), the instance
        (410 retired), the body (400 empty or not decryptable), an old
        instance's refusal of a plain request (400), and the stream flags (400).

        Args:
            body: the request body (``ct || nonce || ciphertext+tag``).
            headers: the request headers (any case).

        Returns:
            The decrypted :class:`E2EEInvocation`, or the :class:`E2EERejection` to send.
        """
        refused = self.missing_headers(headers)
        if refused is not None:
            return refused
        lower = {name.lower(): value for name, value in headers.items()}
        chute_id = lower[CHUTE_ID_HEADER.lower()]
        instance_id = lower[INSTANCE_ID_HEADER.lower()]
        if not self._spend(chute_id, instance_id, lower[NONCE_HEADER.lower()]):
            return E2EERejection(403, NONCE_ERROR_DETAIL)
        # Nonces are issued for known instances only, so a spent nonce names one of them.
        instance = self._instances[instance_id]
        if instance.retired:
            return E2EERejection(410, GONE)
        stream = lower.get(STREAM_HEADER.lower(), "false").lower() == "true"
        path = lower.get(PATH_HEADER.lower(), "/") or "/"
        decrypted = _open_request(instance.private_key, body)
        if decrypted is None:
            return E2EERejection(400, DECRYPTION_FAILED)
        payload, response_public_key = decrypted
        if instance.legacy and not stream:
            return E2EERejection(400, PLAIN_UNSUPPORTED)
        # The instance decides streaming from the body's own flag, the relay from the
        # header: a request whose two disagree would be relayed wrongly.
        if "stream" in payload and bool(payload["stream"]) != stream:
            return E2EERejection(400, STREAM_MISMATCH)
        return E2EEInvocation(chute_id, instance_id, path, stream, payload, response_public_key)

    @staticmethod
    def missing_headers(headers: Mapping[str, str]) -> E2EERejection | None:
        """FastAPI's 422 for an invoke request without its required headers, if so."""
        lower = {name.lower() for name in headers}
        missing = [
            name.lower()
            for name in (CHUTE_ID_HEADER, INSTANCE_ID_HEADER, NONCE_HEADER)
            if name.lower() not in lower
        ]
        if not missing:
            return None
        return E2EERejection(
            422,
            [
                {"type": "missing", "loc": ["header", name], "msg": "Field required"}
                for name in missing
            ],
        )

    def _spend(self, chute_id: str, instance_id: str, nonce: str) -> bool:
        now = self._clock()
        with self._lock:
            issued = self._nonces.get(nonce)
            # Nonces are kept per chute; one issued for another instance stays unspent.
            if chute_id != self.chute_id or issued is None or issued[0] != instance_id:
                return False
            del self._nonces[nonce]
            return issued[1] > now

    # --- replies ---------------------------------------------------------------------------

    @staticmethod
    def seal_reply(invocation: E2EEInvocation, reply: bytes) -> bytes:
        """Encrypt a plain reply: ``ct || nonce || ChaCha20-Poly1305(gzip(reply))``.

        Args:
            invocation: the request being answered (its response key is used).
            reply: the plaintext body, e.g. a chat completion's JSON.
        """
        kem_ciphertext, key = _encapsulate(invocation.response_public_key, RESPONSE_INFO)
        return kem_ciphertext + _seal(key, gzip.compress(reply))

    @staticmethod
    def seal_stream(invocation: E2EEInvocation, chunks: Iterable[bytes]) -> list[bytes]:
        """Encrypt a streamed reply into its SSE frames.

        Args:
            invocation: the request being answered (its response key is used).
            chunks: the upstream SSE bytes, one encrypted event per item (``data: {...}\\n\\n``
                frames, or any split of them).

        Returns:
            ``data: {"e2e_init": ...}`` then one ``data: {"e2e": ...}`` frame per chunk.
        """
        kem_ciphertext, key = _encapsulate(invocation.response_public_key, STREAM_INFO)
        frames = [_frame({"e2e_init": base64.b64encode(kem_ciphertext).decode("ascii")})]
        frames.extend(
            _frame({"e2e": base64.b64encode(_seal(key, chunk)).decode("ascii")}) for chunk in chunks
        )
        return frames

    @staticmethod
    def error_frame(detail: Any) -> bytes:
        """The ``data: {"e2e_error": ...}`` frame of an instance failing mid-stream."""
        return _frame({"e2e_error": detail})


def _frame(payload: Mapping[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def _derive(shared_secret: bytes, kem_ciphertext: bytes, info: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    salt = kem_ciphertext[:HKDF_SALT_SIZE]
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=salt, info=info)
    return hkdf.derive(shared_secret)


def _encapsulate(public_key: bytes, info: bytes) -> tuple[bytes, bytes]:
    from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PublicKey

    shared_secret, kem_ciphertext = MLKEM768PublicKey.from_public_bytes(public_key).encapsulate()
    return kem_ciphertext, _derive(shared_secret, kem_ciphertext, info)


def _seal(key: bytes, plaintext: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    aead_nonce = os.urandom(AEAD_NONCE_SIZE)
    return aead_nonce + ChaCha20Poly1305(key).encrypt(aead_nonce, plaintext, None)


def _open_request(
    private_key: MLKEM768PrivateKey, body: bytes
) -> tuple[dict[str, Any], bytes] | None:
    """The decrypted JSON body and the response public key it carries, or ``None`` when the
    body does not decrypt to a gzip JSON object with a valid ``e2e_response_pk``."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    if len(body) < MIN_REPLY_SIZE:
        return None
    kem_ciphertext = body[:KEM_CIPHERTEXT_SIZE]
    aead_nonce = body[KEM_CIPHERTEXT_SIZE : KEM_CIPHERTEXT_SIZE + AEAD_NONCE_SIZE]
    key = _derive(private_key.decapsulate(kem_ciphertext), kem_ciphertext, REQUEST_INFO)
    try:
        sealed = body[KEM_CIPHERTEXT_SIZE + AEAD_NONCE_SIZE :]
        payload = json.loads(
            gzip.decompress(ChaCha20Poly1305(key).decrypt(aead_nonce, sealed, None))
        )
        if not isinstance(payload, dict):
            return None
        response_public_key = base64.b64decode(payload.pop(RESPONSE_KEY_FIELD), validate=True)
    except (InvalidTag, OSError, EOFError, zlib.error, ValueError, KeyError, TypeError):
        return None
    if len(response_public_key) != PUBLIC_KEY_SIZE:
        return None
    return payload, response_public_key

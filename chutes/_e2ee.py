"""The ciphers of end-to-end encryption: ML-KEM-768, HKDF-SHA256 and ChaCha20-Poly1305.

Rule: this module does the arithmetic of the protocol that ``chutes/_core/e2ee.py``
describes, on ``cryptography`` (47 or later), and nothing else: no I/O and no decisions.
It is imported only when E2EE is used, and it imports ``cryptography`` only when called;
without it (or with one that has no ML-KEM), :func:`require_e2ee` says what to install.

A failure to decrypt is always an :class:`~chutes._core.e2ee.E2EEError`: never garbage,
never a ``cryptography`` exception. No message, repr or log line holds plaintext or key
material.

Each request makes a fresh ML-KEM-768 key pair for its reply, so a reply can be read only
with the :class:`ResponseKey` its own request returned. Every message carries its own random
12-byte ChaCha20-Poly1305 nonce (the AEAD nonce), unrelated to the platform's single-use
``X-E2E-Nonce`` string.
"""

from __future__ import annotations

import base64
import functools
import gzip
import os
import zlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, NoReturn

from ._core.e2ee import (
    AEAD_NONCE_SIZE,
    HKDF_SALT_SIZE,
    KEM_CIPHERTEXT_SIZE,
    KEY_SIZE,
    MIN_REPLY_SIZE,
    MIN_STREAM_CHUNK_SIZE,
    REQUEST_INFO,
    RESPONSE_INFO,
    RESPONSE_KEY_FIELD,
    STREAM_INFO,
    E2EEError,
)
from ._core.errors import ConfigurationError, ResponseTooLargeError
from ._core.requests import encode_json

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

__all__ = [
    "INSTALL_HINT",
    "ResponseKey",
    "StreamDecryptor",
    "decrypt_response",
    "encrypt_request",
    "require_e2ee",
]

INSTALL_HINT: Final = "pip install 'chutes-client[e2ee]'"


def require_e2ee() -> None:
    """Check that end-to-end encryption can run here.

    Raises:
        ConfigurationError: when ``cryptography`` is missing, older than 47 (no ML-KEM),
            or built on an OpenSSL without ML-KEM-768; the message names
            ``pip install 'chutes-client[e2ee]'``.
    """
    _check_backend()


@functools.cache
def _check_backend() -> None:
    # Cached once it succeeds (a raising call is not cached, so a later install is seen).
    try:
        from cryptography.exceptions import UnsupportedAlgorithm
        from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey
        from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305  # noqa: F401
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "end-to-end encryption needs the 'cryptography' package, version 47 or later "
            f"(for ML-KEM-768): {INSTALL_HINT}"
        ) from None
    try:
        MLKEM768PrivateKey.generate()
    except UnsupportedAlgorithm:
        raise ConfigurationError(
            "end-to-end encryption needs ML-KEM-768, which the installed 'cryptography' "
            f"build lacks (its OpenSSL is too old): {INSTALL_HINT}"
        ) from None


class ResponseKey:
    """The private half of one request's fresh response key pair.

    It decrypts the reply to that request (plain or streamed) and nothing else. It is
    opaque: its repr names the chute and instance only, and it cannot be pickled.

    Attributes:
        chute_id: the chute the request went to, for error messages.
        instance_id: the instance the request was encrypted for, for error messages.
    """

    __slots__ = ("_private_key", "chute_id", "instance_id")

    def __init__(
        self,
        private_key: MLKEM768PrivateKey,
        *,
        chute_id: str | None = None,
        instance_id: str | None = None,
    ) -> None:
        self._private_key = private_key
        self.chute_id = chute_id
        self.instance_id = instance_id

    def __repr__(self) -> str:
        return f"ResponseKey(chute_id={self.chute_id!r}, instance_id={self.instance_id!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("an E2EE response key cannot be pickled")

    def error(self, message: str) -> E2EEError:
        """An E2EEError naming this key's chute and instance."""
        return E2EEError(message, chute_id=self.chute_id, instance_id=self.instance_id)

    def derive(self, kem_ciphertext: bytes, info: bytes) -> bytes:
        """Decapsulate ``kem_ciphertext`` and derive the ChaCha20 key for ``info``."""
        # ML-KEM decapsulation never fails on a well-sized ciphertext: a forged one yields
        # a pseudo-random secret (implicit rejection, FIPS 203 section 6.3), and the wrong
        # key then fails the Poly1305 tag.
        return _derive_key(self._private_key.decapsulate(kem_ciphertext), kem_ciphertext, info)


def _derive_key(shared_secret: bytes, kem_ciphertext: bytes, info: bytes) -> bytes:
    """HKDF-SHA256 (RFC 5869) over the ML-KEM shared secret, salted with the ciphertext's
    first 16 bytes, as the protocol fixes it."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    kdf = HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_SIZE,
        salt=kem_ciphertext[:HKDF_SALT_SIZE],
        info=info,
    )
    return kdf.derive(shared_secret)


def _aead(key: bytes) -> ChaCha20Poly1305:
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    return ChaCha20Poly1305(key)


def encrypt_request(
    instance_public_key: bytes,
    body: Mapping[str, Any],
    *,
    chute_id: str | None = None,
    instance_id: str | None = None,
) -> tuple[bytes, ResponseKey]:
    """Encrypt a JSON request body for one instance.

    A fresh ML-KEM-768 key pair is made for the reply; its public key travels inside the
    encrypted body as ``e2e_response_pk``. The shared secret encapsulated to the instance's
    key gives the request key (HKDF info ``e2e-req-v1``), and the body goes out as
    ``ct(1088) || aead_nonce(12) || ChaCha20-Poly1305(gzip(JSON))``.

    Args:
        instance_public_key: the instance's ML-KEM-768 public key (1184 bytes).
        body: the JSON object to send (the ``json=`` of the call).
        chute_id: the chute, named in errors about the reply.
        instance_id: the instance, named in errors about the reply.

    Returns:
        ``(wire_bytes, response_key)``: the body to POST to ``/e2e/invoke`` and the key
        that decrypts its reply.

    Raises:
        ConfigurationError: without a usable ``cryptography`` (see :func:`require_e2ee`),
            or when ``body`` is not a JSON object.
        E2EEError: when the instance's public key is not an ML-KEM-768 key.
    """
    require_e2ee()
    from cryptography.hazmat.primitives.asymmetric.mlkem import (
        MLKEM768PrivateKey,
        MLKEM768PublicKey,
    )

    if not isinstance(body, Mapping):
        raise ConfigurationError(
            f"an E2EE request body must be a JSON object, not {type(body).__name__}"
        )
    try:
        instance_key = MLKEM768PublicKey.from_public_bytes(instance_public_key)
    except ValueError:
        raise E2EEError(
            "the instance's public key is not an ML-KEM-768 key",
            chute_id=chute_id,
            instance_id=instance_id,
        ) from None
    private_key = MLKEM768PrivateKey.generate()
    response_public_key = private_key.public_key().public_bytes_raw()
    payload = dict(body)
    payload[RESPONSE_KEY_FIELD] = base64.b64encode(response_public_key).decode("ascii")
    # mtime=0: no clock reading in the gzip header, so nothing but the body is encrypted.
    compressed = gzip.compress(encode_json(payload), mtime=0)
    shared_secret, kem_ciphertext = instance_key.encapsulate()
    key = _derive_key(shared_secret, kem_ciphertext, REQUEST_INFO)
    aead_nonce = os.urandom(AEAD_NONCE_SIZE)
    sealed = _aead(key).encrypt(aead_nonce, compressed, None)
    response_key = ResponseKey(private_key, chute_id=chute_id, instance_id=instance_id)
    return kem_ciphertext + aead_nonce + sealed, response_key


def decrypt_response(
    response_key: ResponseKey, wire_bytes: bytes, *, limit: int | None = None
) -> bytes:
    """Decrypt a plain (not streamed) reply: ``ct(1088) || aead_nonce(12) || ciphertext+tag``.

    Args:
        response_key: the key :func:`encrypt_request` returned for the request.
        wire_bytes: the reply's body as received.
        limit: the most bytes the plaintext may hold once the gzip inside is undone
            (``None``: no limit).

    Returns:
        The reply's plaintext body (the gzip inside removed), e.g. a chat completion's JSON.

    Raises:
        E2EEError: when the reply is too short, fails authentication (tampered, truncated,
            or meant for another key) or does not hold gzip data.
        ResponseTooLargeError: when the plaintext would exceed ``limit``.
    """
    from cryptography.exceptions import InvalidTag

    if len(wire_bytes) < MIN_REPLY_SIZE:
        raise response_key.error(
            f"the encrypted reply is {len(wire_bytes)} bytes, shorter than the "
            f"{MIN_REPLY_SIZE} of its key exchange, nonce and tag"
        )
    data = bytes(wire_bytes)
    kem_ciphertext = data[:KEM_CIPHERTEXT_SIZE]
    aead_nonce = data[KEM_CIPHERTEXT_SIZE : KEM_CIPHERTEXT_SIZE + AEAD_NONCE_SIZE]
    key = response_key.derive(kem_ciphertext, RESPONSE_INFO)
    try:
        compressed = _aead(key).decrypt(
            aead_nonce, data[KEM_CIPHERTEXT_SIZE + AEAD_NONCE_SIZE :], None
        )
    except InvalidTag:
        raise response_key.error(
            "the encrypted reply failed authentication: it was altered, cut short, or "
            "not encrypted for this request"
        ) from None
    return _gunzip(response_key, compressed, limit)


def _gunzip(response_key: ResponseKey, compressed: bytes, limit: int | None) -> bytes:
    """Undo the gzip inside a reply, stopping past ``limit`` (a few authentic bytes can
    inflate to gigabytes)."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip framing
    try:
        plaintext = inflater.decompress(compressed, 0 if limit is None else limit + 1)
    except zlib.error:
        raise response_key.error("the decrypted reply is not gzip data") from None
    if limit is not None and len(plaintext) > limit:
        raise ResponseTooLargeError(
            f"the decrypted reply is larger than the body limit of {limit} bytes "
            "(ResponseLimits.body)",
            limit=limit,
        )
    if not inflater.eof:
        raise response_key.error("the decrypted reply is not gzip data") from None
    return plaintext


class StreamDecryptor:
    """Decrypt the events of one streamed reply, in order.

    The stream opens with ``{"e2e_init": b64(ct)}`` (:meth:`init` derives the stream key,
    HKDF info ``e2e-stream-v1``), then sends ``{"e2e": b64(aead_nonce || ciphertext+tag)}``
    per upstream chunk (:meth:`decrypt`). The decrypted pieces, concatenated, are the
    upstream's SSE bytes (``data: {...}\\n\\n``); a piece need not end on an event boundary,
    so they go through the SSE parser like network chunks.

    A piece the stream already delivered (the same AEAD nonce) is refused: the relay could
    otherwise repeat an authentic chunk.

    Args:
        response_key: the key :func:`encrypt_request` returned for the request.
    """

    __slots__ = ("_aead", "_key", "_seen")

    def __init__(self, response_key: ResponseKey) -> None:
        self._key = response_key
        self._aead: ChaCha20Poly1305 | None = None
        self._seen: set[bytes] = set()

    def __repr__(self) -> str:
        return (
            f"StreamDecryptor(chute_id={self._key.chute_id!r}, "
            f"instance_id={self._key.instance_id!r}, started={self.started}, "
            f"chunks={len(self._seen)})"
        )

    def __reduce__(self) -> NoReturn:
        raise TypeError("an E2EE stream decryptor cannot be pickled")

    def error(self, message: str) -> E2EEError:
        """An E2EEError naming the stream's chute and instance."""
        return self._key.error(message)

    @property
    def started(self) -> bool:
        """Whether :meth:`init` has derived the stream key."""
        return self._aead is not None

    def init(self, b64_ciphertext: str) -> None:
        """Derive the stream key from the ``e2e_init`` event's ML-KEM ciphertext.

        Args:
            b64_ciphertext: the event's value (base64 of the 1088-byte ciphertext).

        Raises:
            E2EEError: when the stream was already started, or the value is not base64
                of a 1088-byte ciphertext.
        """
        if self._aead is not None:
            raise self._key.error("the encrypted stream sent a second e2e_init")
        kem_ciphertext = self._b64(b64_ciphertext, "e2e_init")
        if len(kem_ciphertext) != KEM_CIPHERTEXT_SIZE:
            raise self._key.error(
                f"the stream's e2e_init holds {len(kem_ciphertext)} bytes, not the "
                f"{KEM_CIPHERTEXT_SIZE} of an ML-KEM-768 ciphertext"
            )
        self._aead = _aead(self._key.derive(kem_ciphertext, STREAM_INFO))

    def decrypt(self, b64_payload: str) -> bytes:
        """Decrypt one ``e2e`` event.

        Args:
            b64_payload: the event's value (base64 of ``aead_nonce || ciphertext+tag``).

        Returns:
            The upstream SSE bytes it carries (not gzipped).

        Raises:
            E2EEError: before :meth:`init`, on bad base64, a short piece, a piece that fails
                authentication, or a repeated piece.
        """
        from cryptography.exceptions import InvalidTag

        if self._aead is None:
            raise self._key.error("the encrypted stream sent a chunk before its e2e_init")
        piece = self._b64(b64_payload, "e2e")
        if len(piece) < MIN_STREAM_CHUNK_SIZE:
            raise self._key.error(
                f"an encrypted stream chunk is {len(piece)} bytes, shorter than the "
                f"{MIN_STREAM_CHUNK_SIZE} of its nonce and tag"
            )
        aead_nonce = piece[:AEAD_NONCE_SIZE]
        if aead_nonce in self._seen:
            raise self._key.error("the encrypted stream repeated a chunk")
        try:
            plaintext = self._aead.decrypt(aead_nonce, piece[AEAD_NONCE_SIZE:], None)
        except InvalidTag:
            raise self._key.error(
                "an encrypted stream chunk failed authentication: it was altered or cut short"
            ) from None
        self._seen.add(aead_nonce)
        return plaintext

    def _b64(self, value: str, field: str) -> bytes:
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:  # binascii.Error, or non-ASCII text
            raise self._key.error(f"the stream's {field} value is not base64") from None

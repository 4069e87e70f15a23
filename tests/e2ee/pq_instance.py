"""The instance side of E2EE, written from PLATFORM.md alone, on an independent ML-KEM.

The key exchange is ``pqcrypto``'s ML-KEM-768 (a Rust implementation, not the OpenSSL one
the client uses), so a client that agrees with this module agrees with the standard, not
with itself. HKDF and ChaCha20-Poly1305 come from ``cryptography``. Nothing here imports
``chutes``.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pqcrypto.kem import ml_kem_768

CT_SIZE = 1088
NONCE_SIZE = 12
INFO_REQUEST = b"e2e-req-v1"
INFO_RESPONSE = b"e2e-resp-v1"
INFO_STREAM = b"e2e-stream-v1"


def derive_key(shared_secret: bytes, kem_ct: bytes, info: bytes) -> bytes:
    """HKDF-SHA256(ikm=shared secret, salt=ct[:16], info, length=32)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=kem_ct[:16], info=info)
    return hkdf.derive(shared_secret)


def seal(key: bytes, plaintext: bytes) -> bytes:
    """``nonce(12) || ChaCha20-Poly1305(key).encrypt(nonce, plaintext)``."""
    nonce = os.urandom(NONCE_SIZE)
    return nonce + ChaCha20Poly1305(key).encrypt(nonce, plaintext, None)


def encapsulate(public_key: bytes, info: bytes) -> tuple[bytes, bytes]:
    """Encapsulate to ``public_key`` with pqcrypto; return ``(kem_ct, derived key)``."""
    kem_ct, shared_secret = ml_kem_768.encaps(public_key)
    return kem_ct, derive_key(shared_secret, kem_ct, info)


class PQInstance:
    """One chute instance: an ML-KEM-768 key pair (pqcrypto) and the ciphers around it."""

    def __init__(self, instance_id: str) -> None:
        self.instance_id = instance_id
        self.public_key, self._secret_key = ml_kem_768.keygen()

    def __repr__(self) -> str:
        return f"PQInstance({self.instance_id!r})"

    @property
    def public_key_b64(self) -> str:
        """The public key as the instances route lists it."""
        return base64.b64encode(self.public_key).decode()

    def open_request(self, wire: bytes) -> bytes:
        """Decrypt ``ct(1088) || nonce(12) || ciphertext+tag``; return the plaintext, still
        gzipped. Raises on any failure."""
        kem_ct = wire[:CT_SIZE]
        nonce = wire[CT_SIZE : CT_SIZE + NONCE_SIZE]
        shared_secret = ml_kem_768.decaps(self._secret_key, kem_ct)
        key = derive_key(shared_secret, kem_ct, INFO_REQUEST)
        return ChaCha20Poly1305(key).decrypt(nonce, wire[CT_SIZE + NONCE_SIZE :], None)

    def decrypt_request(self, wire: bytes) -> tuple[dict[str, Any], bytes]:
        """Decrypt a request; return its JSON body (without ``e2e_response_pk``) and the
        client's response public key. Raises on any failure."""
        body = json.loads(gzip.decompress(self.open_request(wire)))
        response_pk = base64.b64decode(body.pop("e2e_response_pk"), validate=True)
        return body, response_pk

    @staticmethod
    def encrypt_reply(response_pk: bytes, plaintext: bytes) -> bytes:
        """A plain reply: ``ct || nonce || ChaCha20-Poly1305(gzip(plaintext))``."""
        kem_ct, key = encapsulate(response_pk, INFO_RESPONSE)
        return kem_ct + seal(key, gzip.compress(plaintext))

    @staticmethod
    def encrypt_stream(response_pk: bytes, chunks: list[bytes]) -> list[bytes]:
        """A streamed reply's SSE frames: ``e2e_init`` then one ``e2e`` per chunk."""
        kem_ct, key = encapsulate(response_pk, INFO_STREAM)
        frames = [sse({"e2e_init": base64.b64encode(kem_ct).decode()})]
        frames += [sse({"e2e": base64.b64encode(seal(key, chunk)).decode()}) for chunk in chunks]
        return frames


def sse(payload: Any) -> bytes:
    """One ``data: <json>`` SSE frame."""
    return b"data: " + json.dumps(payload).encode() + b"\n\n"

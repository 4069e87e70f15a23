"""End-to-end encryption (E2EE): the protocol's rules, without I/O and without cryptography.

Rule: everything about E2EE that is not arithmetic on keys is decided here, as data: the
routes and headers, the instances answer parsed into frozen values, the pool of single-use
nonces (with the clock passed in), what follows an error answer from ``/e2e/invoke``, and
what each event of an encrypted stream is. The key exchange and the ciphers live in
``chutes/_e2ee.py``, which is imported only when E2EE is used.

The protocol (PLATFORM.md, "End-to-end encryption")::

    GET  /e2e/instances/{chute_id}  -> {instances: [{instance_id, e2e_pubkey, nonces}],
                                        nonce_expires_in, nonce_expires_at}
    POST /e2e/invoke                 X-Chute-Id, X-Instance-Id, X-E2E-Nonce, X-E2E-Stream,
                                     X-E2E-Path; body ct(1088) || nonce(12) || ciphertext+tag
    plain reply                      ct(1088) || nonce(12) || ciphertext+tag (gzip inside)
    streamed reply                   data: {"e2e_init": b64(ct)}, then data: {"e2e": b64(...)}

Two different things are called a nonce: the platform's single-use ``X-E2E-Nonce`` string
(handed out by the instances route, managed by :class:`NoncePool`) and the 12 random bytes
that ChaCha20-Poly1305 needs for each message (made in ``chutes/_e2ee.py``). They are never
derived from one another.
"""

from __future__ import annotations

import base64
import collections
import enum
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from typing import Any, Final

import attrs

from .errors import ConfigurationError, E2EEError, detail_text
from .platform import chute_id as platform_chute_id
from .targets import Target

__all__ = [
    "AEAD_NONCE_SIZE",
    "AEAD_TAG_SIZE",
    "CHUTE_ID_HEADER",
    "CONTENT_TYPE",
    "DONE_EVENT",
    "HKDF_SALT_SIZE",
    "INSTANCES_PATH",
    "INSTANCE_ID_HEADER",
    "INVOKE_PATH",
    "KEM_CIPHERTEXT_SIZE",
    "KEY_SIZE",
    "MAX_INSTANCE_SWITCHES",
    "MIN_REPLY_SIZE",
    "MIN_STREAM_CHUNK_SIZE",
    "NONCE_ERROR_DETAIL",
    "NONCE_HEADER",
    "NONCE_SAFETY_MARGIN",
    "PATH_HEADER",
    "PUBLIC_KEY_SIZE",
    "REQUEST_INFO",
    "RESPONSE_INFO",
    "RESPONSE_KEY_FIELD",
    "STREAM_HEADER",
    "STREAM_INFO",
    "Action",
    "CallState",
    "ChunkEvent",
    "DoneEvent",
    "E2EEError",
    "E2EEInstance",
    "E2EEInstances",
    "E2EEPlan",
    "ErrorEvent",
    "InitEvent",
    "NoncePool",
    "NonceTicket",
    "PlainUsageEvent",
    "StreamEvent",
    "UnexpectedEvent",
    "classify_e2ee_failure",
    "classify_stream_event",
    "instances_path",
    "invoke_headers",
    "parse_instances",
    "plain_content_type",
    "plan_e2ee",
    "streamed_body",
]

# --- the wire ---------------------------------------------------------------------------------

CHUTE_ID_HEADER: Final = "X-Chute-Id"
INSTANCE_ID_HEADER: Final = "X-Instance-Id"
NONCE_HEADER: Final = "X-E2E-Nonce"
STREAM_HEADER: Final = "X-E2E-Stream"
PATH_HEADER: Final = "X-E2E-Path"
CONTENT_TYPE: Final = "application/octet-stream"

INVOKE_PATH: Final = "/e2e/invoke"
INSTANCES_PATH: Final = "/e2e/instances/{chute_id}"

# HKDF-SHA256 "info" strings: one key per direction and kind of reply, so a request key can
# never decrypt a reply and a plain reply's key never a stream (RFC 5869, section 3.2).
REQUEST_INFO: Final = b"e2e-req-v1"
RESPONSE_INFO: Final = b"e2e-resp-v1"
STREAM_INFO: Final = b"e2e-stream-v1"

KEM_CIPHERTEXT_SIZE: Final = 1088  # ML-KEM-768 ciphertext (FIPS 203, table 3)
PUBLIC_KEY_SIZE: Final = 1184  # ML-KEM-768 encapsulation key
AEAD_NONCE_SIZE: Final = 12  # ChaCha20-Poly1305 nonce (RFC 8439)
AEAD_TAG_SIZE: Final = 16  # Poly1305 tag
KEY_SIZE: Final = 32  # ChaCha20 key, the HKDF output length
HKDF_SALT_SIZE: Final = 16  # the salt is the first 16 bytes of the ML-KEM ciphertext
# The shortest well-formed bodies: a plain reply (or request) is ct || nonce || tag at least,
# a stream chunk nonce || tag at least.
MIN_REPLY_SIZE: Final = KEM_CIPHERTEXT_SIZE + AEAD_NONCE_SIZE + AEAD_TAG_SIZE
MIN_STREAM_CHUNK_SIZE: Final = AEAD_NONCE_SIZE + AEAD_TAG_SIZE

# The request body's field that carries the fresh response public key (base64).
RESPONSE_KEY_FIELD: Final = "e2e_response_pk"

NONCE_ERROR_DETAIL: Final = "Invalid, expired, or already-used nonce"

# A nonce is used at most this long before the platform's stated lifetime ends: the
# platform starts its countdown when it answers the instances call, and the nonce must
# still be alive when the invoke request reaches it (after the request is encrypted,
# waits for a pooled connection and is uploaded). Capped at a quarter of the lifetime, so a
# short lifetime still leaves nonces to use.
NONCE_SAFETY_MARGIN: Final = 5.0

# After 410/429/502 a call encrypts again for another instance at most this many times: the
# instances route lists at most five instances, so five attempts in all have seen them all.
MAX_INSTANCE_SWITCHES: Final = 4

# Instance ids and nonces go into headers: visible ASCII only, so a malformed answer cannot
# smuggle a line break (or anything httpx would refuse) into a request.
_HEADER_TOKEN = re.compile(r"[!-~]+")


# --- routes and headers -----------------------------------------------------------------------


def instances_path(chute_id: str) -> str:
    """The path of the instances route for ``chute_id``.

    Args:
        chute_id: the chute's UUID (the route takes no names).

    Returns:
        ``/e2e/instances/<uuid>``, the UUID in its canonical form.

    Raises:
        ConfigurationError: when ``chute_id`` is not a UUID.
    """
    try:
        canonical = str(uuid.UUID(chute_id))
    except (ValueError, TypeError, AttributeError):
        raise ConfigurationError(f"E2EE needs the chute's id (a UUID), not {chute_id!r}") from None
    return INSTANCES_PATH.format(chute_id=canonical)


def invoke_headers(
    chute_id: str, instance_id: str, nonce: str, *, stream: bool, path: str
) -> dict[str, str]:
    """The E2EE headers of one ``POST /e2e/invoke`` (authorization is added by the caller).

    Args:
        chute_id: the chute's UUID.
        instance_id: the instance the body was encrypted for; the request is bound to it.
        nonce: the platform's single-use nonce for that instance (``X-E2E-Nonce``).
        stream: whether the reply should be streamed (``X-E2E-Stream``).
        path: the chute path the instance should run, e.g. ``/v1/chat/completions``.

    Returns:
        The headers, by their canonical names.

    Raises:
        ConfigurationError: when ``path`` is not an absolute path of visible ASCII.
    """
    if not path.startswith("/") or not _HEADER_TOKEN.fullmatch(path):
        raise ConfigurationError(f"the E2EE path must be an absolute path, got {path!r}")
    return {
        CHUTE_ID_HEADER: chute_id,
        INSTANCE_ID_HEADER: instance_id,
        NONCE_HEADER: nonce,
        STREAM_HEADER: "true" if stream else "false",
        PATH_HEADER: path,
        "Content-Type": CONTENT_TYPE,
    }


# --- which calls go encrypted -----------------------------------------------------------------

# The cords whose streamed answer can be assembled into the plain one: old LLM instances
# serve E2EE only as streams (PLATFORM.md, E2EE step 6).
LLM_PATHS: Final = frozenset({"/v1/chat/completions", "/v1/completions"})
_TURN_OFF: Final = "pass e2ee=False to send this call in the clear"


@attrs.frozen(repr=False)
class E2EEPlan:
    """How one call goes end-to-end encrypted, decided when the call is built.

    Attributes:
        path: the chute path the instance runs (``X-E2E-Path``).
        body: the JSON object to encrypt; never shown in a repr.
        chute_id: the chute's UUID; ``None`` for the gateway, where the body's model names
            the chute (looked up in the gateway's ``/v1/models`` when the call is sent).
        model: the body's ``model``, for the gateway.
    """

    path: str
    body: Mapping[str, Any]
    chute_id: str | None
    model: str | None = None

    def __repr__(self) -> str:
        return f"E2EEPlan(path={self.path!r}, chute_id={self.chute_id!r}, model={self.model!r})"

    @property
    def assemblable(self) -> bool:
        """Whether a plain call may fall back to a stream and assemble it (an LLM cord)."""
        return self.path in LLM_PATHS


def plan_e2ee(
    *,
    asked: bool | None,
    default: bool,
    method: str,
    target: Target,
    url: str,
    gateway_url: str,
    body: Any,
    has_body: bool,
    has_params: bool,
) -> E2EEPlan | None:
    """Whether a call goes end-to-end encrypted, and how.

    A call asked for E2EE (``e2ee=True``), or with a body on a client made with
    ``e2ee=True``, is encrypted; a client's setting leaves calls without a body (``GET
    /v1/models``, downloads) in the clear, as there is nothing of the caller's to hide.
    ``e2ee=False`` on a call sends it in the clear.

    Args:
        asked: the call's ``e2ee=`` (``None``: not given).
        default: the client's ``e2ee=``.
        method: the call's HTTP method.
        target: the chute (or gateway) the call is for.
        url: the call's URL on ``target`` (no query string).
        gateway_url: the client's LLM gateway base URL.
        body: the ``json=`` value, or anything else when ``has_body`` is false.
        has_body: whether the call has a body (``json=`` or ``content=``).
        has_params: whether the call has query parameters.

    Returns:
        The plan, or ``None`` for a call sent in the clear.

    Raises:
        ConfigurationError: for a call that should be encrypted but cannot be: not a
            ``POST`` of a JSON object, with query parameters, or to a chute addressed by
            slug or URL (whose platform id is unknown).
    """
    if not (default if asked is None else asked):
        return None
    if asked is None and not has_body:
        return None
    if method != "POST":
        raise ConfigurationError(f"E2EE sends only POST requests, not {method}; {_TURN_OFF}")
    if not isinstance(body, Mapping):
        raise ConfigurationError(
            f"E2EE sends only a JSON object body (json={{...}}), not raw content or "
            f"{type(body).__name__ if has_body else 'no body'}; {_TURN_OFF}"
        )
    if has_params:
        raise ConfigurationError(
            f"E2EE sends the body only: query parameters would travel in the clear; {_TURN_OFF}"
        )
    if RESPONSE_KEY_FIELD in body:
        raise ConfigurationError(
            f"the body's {RESPONSE_KEY_FIELD!r} field is E2EE's own (the key the reply is "
            "encrypted to): leave it out"
        )
    path = url[len(target.base_url) :] or "/"
    if target.base_url == gateway_url:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise ConfigurationError(
                "an E2EE call to the gateway needs model= (it names the chute to encrypt for)"
            )
        return E2EEPlan(path, body, None, model)
    if target.chute is None:
        raise ConfigurationError(
            f"E2EE needs the chute's platform id: address it by name or id=, not by slug "
            f"or URL ({target.base_url}); {_TURN_OFF}"
        )
    chute = target.chute if "/" not in target.chute else platform_chute_id(target.chute)
    return E2EEPlan(path, body, chute)


def streamed_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """A plain LLM call's body asking for a stream (with usage), for an old instance that
    serves E2EE only as streams."""
    streamed = dict(body)
    streamed["stream"] = True
    streamed.setdefault("stream_options", {"include_usage": True})
    return streamed


_MAGIC: Final = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"RIFF", "audio/wav"),
    (b"ID3", "audio/mpeg"),
)


def plain_content_type(plaintext: bytes) -> str:
    """The content type of a decrypted plain reply, which travels without one: JSON when it
    is a JSON object or array, else an image or audio type known by its first bytes, else
    ``application/octet-stream``."""
    head = plaintext.lstrip()[:1]
    if head in (b"{", b"["):
        return "application/json"
    if plaintext[:4] == b"RIFF" and plaintext[8:12] == b"WEBP":
        return "image/webp"
    for magic, content_type in _MAGIC:
        if plaintext.startswith(magic):
            return content_type
    return "application/octet-stream"


# --- the instances answer ---------------------------------------------------------------------


@attrs.frozen
class E2EEInstance:
    """One E2E-capable instance of a chute, as the instances route lists it.

    Attributes:
        instance_id: the instance's id (``X-Instance-Id``).
        public_key: its ML-KEM-768 public key (1184 bytes); public, but long, so left out
            of the repr.
        nonces: the single-use nonces issued for it with this answer.
    """

    instance_id: str
    public_key: bytes = attrs.field(repr=False)
    nonces: tuple[str, ...] = ()


@attrs.frozen
class E2EEInstances:
    """The instances route's answer for one chute.

    Attributes:
        chute_id: the chute the answer is for.
        instances: the instances, in the platform's order (at most five).
        expires_in: seconds each nonce stays valid after the answer (``nonce_expires_in``).
        expires_at: the platform's ``nonce_expires_at`` as sent (epoch seconds); kept for
            logs, as the pool times nonces on the local monotonic clock instead.
    """

    chute_id: str
    instances: tuple[E2EEInstance, ...]
    expires_in: float
    expires_at: float | str | None = None


def parse_instances(body: bytes | str | Mapping[str, Any], *, chute_id: str) -> E2EEInstances:
    """Parse the instances route's answer into frozen values, checking every field.

    Args:
        body: the answer's JSON (bytes or text), or the parsed object.
        chute_id: the chute the answer is for (for errors, and kept in the result).

    Returns:
        The instances, their keys and nonces, and the nonces' lifetime.

    Raises:
        E2EEError: when the answer is not JSON, lacks a field, or holds a key that is not a
            base64 ML-KEM-768 public key or a nonce unfit for a header. An answer that lists
            no instance is an error too (the platform says 404 for that).
    """
    data: Any = body
    if isinstance(body, (bytes, str)):
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            raise E2EEError("the E2EE instances answer is not JSON", chute_id=chute_id) from None
    if not isinstance(data, Mapping):
        raise E2EEError("the E2EE instances answer is not a JSON object", chute_id=chute_id)
    raw_instances = data.get("instances")
    if not isinstance(raw_instances, list):
        raise E2EEError("the E2EE instances answer has no 'instances' list", chute_id=chute_id)
    if not raw_instances:
        raise E2EEError("no E2E-capable instances available", chute_id=chute_id)
    expires_in = data.get("nonce_expires_in")
    if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)):
        raise E2EEError(
            "the E2EE instances answer has no numeric 'nonce_expires_in'", chute_id=chute_id
        )
    if not 0 < expires_in < float("inf"):
        raise E2EEError(
            f"the E2EE nonces' lifetime is not a positive number of seconds: {expires_in!r}",
            chute_id=chute_id,
        )
    expires_at = data.get("nonce_expires_at")
    if isinstance(expires_at, bool) or not isinstance(expires_at, (int, float, str)):
        expires_at = None
    instances = tuple(_parse_instance(item, chute_id) for item in raw_instances)
    return E2EEInstances(chute_id, instances, float(expires_in), expires_at)


def _parse_instance(item: Any, chute_id: str) -> E2EEInstance:
    if not isinstance(item, Mapping):
        raise E2EEError("an E2EE instance entry is not a JSON object", chute_id=chute_id)
    instance_id = item.get("instance_id")
    if not isinstance(instance_id, str) or not _HEADER_TOKEN.fullmatch(instance_id):
        raise E2EEError("an E2EE instance entry has no valid 'instance_id'", chute_id=chute_id)
    raw_key = item.get("e2e_pubkey")
    try:
        if not isinstance(raw_key, str):
            raise ValueError
        public_key = base64.b64decode(raw_key, validate=True)
    except ValueError:  # binascii.Error included
        raise E2EEError(
            "the instance's 'e2e_pubkey' is not base64", chute_id=chute_id, instance_id=instance_id
        ) from None
    if len(public_key) != PUBLIC_KEY_SIZE:
        raise E2EEError(
            f"the instance's public key is {len(public_key)} bytes, not the "
            f"{PUBLIC_KEY_SIZE} of ML-KEM-768",
            chute_id=chute_id,
            instance_id=instance_id,
        )
    nonces = item.get("nonces")
    if not isinstance(nonces, list) or not all(
        isinstance(nonce, str) and _HEADER_TOKEN.fullmatch(nonce) for nonce in nonces
    ):
        raise E2EEError(
            "the instance's 'nonces' is not a list of header-safe strings",
            chute_id=chute_id,
            instance_id=instance_id,
        )
    return E2EEInstance(instance_id, public_key, tuple(nonces))


# --- the nonce pool ---------------------------------------------------------------------------


@attrs.frozen
class NonceTicket:
    """A nonce taken from the pool, with the instance it was issued for.

    Attributes:
        instance: the instance to encrypt for (its id goes in ``X-Instance-Id``).
        nonce: the single-use nonce (``X-E2E-Nonce``); it is spent whatever the answer.
    """

    instance: E2EEInstance
    nonce: str


@attrs.define
class _Slot:
    instance: E2EEInstance
    nonces: collections.deque[tuple[str, float]]  # (nonce, deadline on the pool's clock)


class NoncePool:
    """The unspent nonces of one chute, shared by every call to it, safe across threads.

    The instances route is rate limited (about ten calls a minute), so nonces are fetched in
    batches (up to five instances, ten nonces each) and spent one per request until they
    run out or expire. :meth:`take` hands out each nonce once, skips expired ones and turns
    from instance to instance, so concurrent calls spread over the instances.

    The lock guards only in-memory state and is never held while anything waits.

    Args:
        chute_id: the chute whose nonces the pool keeps.
        clock: monotonic seconds (``time.monotonic``); read when a method gets no ``now``.
        margin: seconds cut from each nonce's lifetime (see :data:`NONCE_SAFETY_MARGIN`).
    """

    def __init__(
        self,
        chute_id: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        margin: float = NONCE_SAFETY_MARGIN,
    ) -> None:
        self.chute_id = chute_id
        self._clock = clock
        self._margin = margin
        self._lock = threading.Lock()
        self._slots: dict[str, _Slot] = {}
        # Instance ids in the order the next take() visits them.
        self._turn: collections.deque[str] = collections.deque()

    def __repr__(self) -> str:
        return f"NoncePool(chute_id={self.chute_id!r}, instances={len(self._slots)})"

    @property
    def clock(self) -> Callable[[], float]:
        """The pool's clock: read it just before sending the instances request, for
        :meth:`add`."""
        return self._clock

    def add(self, instances: E2EEInstances, now: float | None = None) -> None:
        """Add the nonces of an instances answer.

        Args:
            instances: the parsed answer (for this pool's chute).
            now: the pool clock's reading taken *before* the instances request was sent, so
                the local deadline is never later than the platform's; the clock's current
                reading when omitted.

        Raises:
            ValueError: when the answer is for another chute.
        """
        if instances.chute_id != self.chute_id:
            raise ValueError(
                f"nonces for chute {instances.chute_id} added to the pool of {self.chute_id}"
            )
        fetched_at = self._clock() if now is None else now
        margin = min(self._margin, instances.expires_in / 4)
        deadline = fetched_at + instances.expires_in - margin
        with self._lock:
            for instance in instances.instances:
                slot = self._slots.get(instance.instance_id)
                if slot is None or slot.instance.public_key != instance.public_key:
                    # A new instance, or one whose key changed: nonces issued with the old
                    # key would encrypt for a key the instance no longer holds.
                    if slot is None:
                        self._turn.append(instance.instance_id)
                    # The pool is the one place that tracks nonces: the instance it keeps
                    # (and hands out in tickets) lists none.
                    slot = _Slot(attrs.evolve(instance, nonces=()), collections.deque())
                    self._slots[instance.instance_id] = slot
                slot.nonces.extend((nonce, deadline) for nonce in instance.nonces)

    def take(self, now: float | None = None, *, avoid: Collection[str] = ()) -> NonceTicket | None:
        """Take one unexpired nonce, from the instance whose turn it is.

        Args:
            now: the pool clock's reading; the clock's current reading when omitted.
            avoid: instance ids not to use (those a call has already failed on).

        Returns:
            The nonce and its instance, removed from the pool; ``None`` when no unexpired
            nonce is left (outside ``avoid``): fetch the instances again.
        """
        now = self._clock() if now is None else now
        with self._lock:
            for _ in range(len(self._turn)):
                instance_id = self._turn[0]
                self._turn.rotate(-1)
                slot = self._slots[instance_id]
                while slot.nonces and slot.nonces[0][1] <= now:
                    slot.nonces.popleft()
                if not slot.nonces:
                    del self._slots[instance_id]
                    self._turn.remove(instance_id)
                    continue
                if instance_id in avoid:
                    continue
                nonce, _ = slot.nonces.popleft()
                return NonceTicket(slot.instance, nonce)
        return None

    def discard_instance(self, instance_id: str) -> None:
        """Drop an instance and its nonces (it answered 410, 429 or 502).

        A later instances answer may list it again; its nonces are then taken as usual.
        """
        with self._lock:
            if self._slots.pop(instance_id, None) is not None:
                self._turn.remove(instance_id)

    def clear(self) -> None:
        """Drop every nonce (the platform refused one as invalid or already used)."""
        with self._lock:
            self._slots.clear()
            self._turn.clear()

    def count(self, now: float | None = None) -> int:
        """How many unexpired nonces the pool holds.

        Args:
            now: the pool clock's reading; the clock's current reading when omitted.
        """
        now = self._clock() if now is None else now
        with self._lock:
            return sum(
                1 for slot in self._slots.values() for _, deadline in slot.nonces if deadline > now
            )


# --- what follows an error answer -------------------------------------------------------------


class Action(enum.Enum):
    """What follows an error answer from ``/e2e/invoke``."""

    REFRESH_NONCES = "fetch fresh nonces, then encrypt and send again"
    OTHER_INSTANCE = "drop the instance, then encrypt and send again for another one"
    RESEND_STREAMED = "send again as a stream and assemble the reply"
    NOT_E2EE = "not an E2EE matter: the usual error mapping applies"


def classify_e2ee_failure(status: int, detail_text: str, streamed: bool) -> Action:
    """Decide what follows an error answer from ``/e2e/invoke``.

    The platform's answers (PLATFORM.md, E2EE step 6):

    - 403 "Invalid, expired, or already-used nonce": the nonce was refused; fresh nonces
      help. Any other 403 (a key without access) is not an E2EE matter.
    - 410 (the instance is gone), 429 (the instance is at capacity), 502 ("Instance
      requires key exchange"), and 404 "Instance not found" (the instance vanished between
      the nonce and the call): encrypt again for another instance. A 429 without a detail
      is the edge's rate limit and a 429 about a daily limit is the account's; another
      instance helps neither, so they are not E2EE matters.
    - 400 on a plain (not streamed) request: old LLM instances serve E2EE only as streams,
      so the request is sent again streamed and the reply assembled.

    Args:
        status: the answer's HTTP status (an error status).
        detail_text: the answer's ``detail`` as text (``""`` when it had none).
        streamed: whether the request asked for a streamed reply.

    Returns:
        The :class:`Action`; :attr:`Action.NOT_E2EE` for every other answer.
    """
    detail = detail_text.strip().lower()
    if status == 403:
        return Action.REFRESH_NONCES if "nonce" in detail else Action.NOT_E2EE
    if status in (410, 502):
        return Action.OTHER_INSTANCE
    if status == 429:
        if not detail or "limit" in detail or "free model" in detail:
            return Action.NOT_E2EE
        return Action.OTHER_INSTANCE
    if status == 404:
        return Action.OTHER_INSTANCE if detail == "instance not found" else Action.NOT_E2EE
    if status == 400 and not streamed:
        return Action.RESEND_STREAMED
    return Action.NOT_E2EE


@attrs.frozen
class CallState:
    """What one call has already tried, which bounds its E2EE attempts.

    A call refreshes its nonces once, switches instances at most
    :data:`MAX_INSTANCE_SWITCHES` times and falls back to a stream once; past that, the
    error answer goes through the usual error mapping.

    Attributes:
        refreshed: fresh nonces were fetched after a 403.
        tried: the instances that failed this call (to pass as ``avoid`` to the pool).
        streamed: the request was sent again streamed after a 400.
    """

    refreshed: bool = False
    tried: frozenset[str] = frozenset()
    streamed: bool = False

    def follow(self, action: Action, instance_id: str) -> CallState | None:
        """The state after following ``action`` for an answer from ``instance_id``.

        Args:
            action: what :func:`classify_e2ee_failure` decided.
            instance_id: the instance that gave the error answer.

        Returns:
            The next state, or ``None`` when the call may not follow ``action`` (its budget
            is spent, or the action is :attr:`Action.NOT_E2EE`): map the error as usual.
        """
        if action is Action.REFRESH_NONCES and not self.refreshed:
            return attrs.evolve(self, refreshed=True)
        if action is Action.OTHER_INSTANCE and len(self.tried) < MAX_INSTANCE_SWITCHES:
            return attrs.evolve(self, tried=self.tried | {instance_id})
        if action is Action.RESEND_STREAMED and not self.streamed:
            return attrs.evolve(self, streamed=True)
        return None


# --- the events of an encrypted stream --------------------------------------------------------


@attrs.frozen
class InitEvent:
    """``{"e2e_init": ...}``: the stream's ML-KEM ciphertext (base64), sent first."""

    ciphertext: str = attrs.field(repr=False)


@attrs.frozen
class ChunkEvent:
    """``{"e2e": ...}``: one encrypted piece of the upstream SSE bytes (base64)."""

    payload: str = attrs.field(repr=False)


@attrs.frozen
class ErrorEvent:
    """``{"e2e_error": ...}``: the instance failed; the stream ends in an error.

    Attributes:
        detail: the error value as sent (a string or an object).
    """

    detail: Any

    @property
    def message(self) -> str:
        """The error's text, for the exception's message."""
        text = "" if self.detail is None else detail_text(self.detail)
        return text or "the instance reported an E2EE stream error"


@attrs.frozen
class PlainUsageEvent:
    """``{"usage": ...}``: a plaintext copy of the usage that instances add for the
    platform's billing. It is not authenticated, so it is ignored: the usage the caller
    sees comes from inside the encrypted chunks."""

    usage: Any


@attrs.frozen
class DoneEvent:
    """``[DONE]`` outside the encryption. Whether the upstream stream finished is judged
    from the decrypted bytes (their own ``[DONE]``), which the relay cannot forge."""


@attrs.frozen
class UnexpectedEvent:
    """Anything else: the stream is broken.

    Attributes:
        data: the event's data as received (never plaintext of the call: the call's
            content only travels encrypted).
    """

    data: str


StreamEvent = InitEvent | ChunkEvent | ErrorEvent | PlainUsageEvent | DoneEvent | UnexpectedEvent
DONE_EVENT: Final = DoneEvent()


def classify_stream_event(data: str) -> StreamEvent:
    """Classify the ``data`` of one event of an encrypted stream.

    Args:
        data: the event's data (the text after ``data:``).

    Returns:
        :class:`InitEvent`, :class:`ChunkEvent`, :class:`ErrorEvent`,
        :class:`PlainUsageEvent`, :class:`DoneEvent`, or :class:`UnexpectedEvent`.
    """
    text = data.strip()
    if text == "[DONE]":
        return DONE_EVENT
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return UnexpectedEvent(data)
    if not isinstance(parsed, dict):
        return UnexpectedEvent(data)
    chunk = parsed.get("e2e")
    if isinstance(chunk, str):
        return ChunkEvent(chunk)
    init = parsed.get("e2e_init")
    if isinstance(init, str):
        return InitEvent(init)
    if "e2e_error" in parsed:
        return ErrorEvent(parsed["e2e_error"])
    if "usage" in parsed and len(parsed) == 1:
        return PlainUsageEvent(parsed["usage"])
    return UnexpectedEvent(data)

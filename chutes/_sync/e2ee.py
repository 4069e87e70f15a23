# Generated from chutes/_async/e2ee.py by scripts/unasync.py: do not edit.
"""End-to-end encrypted calls, inside the client's attempt loop.

A call the core planned as E2EE (:class:`~chutes._core.e2ee.E2EEPlan`) gets an
:class:`Sealer`. Before each attempt it takes an unspent nonce of one of the chute's
instances (fetching a batch when none is left), encrypts the body for that instance with a
fresh response key, and turns the call into ``POST {api_url}/e2e/invoke``. After an error
answer it says whether the protocol's own remedy applies (fresh nonces after a refused
nonce, another instance after 410/429/502, a stream for an old LLM instance's 400), so the
loop sends again at once; every other answer goes through the usual retry decision, which
seals a new attempt too (a nonce is never sent twice). A success is decrypted before
anything decodes it, so responses, streams, usage and errors look as they do in the clear.

The protocol's rules live in ``chutes/_core/e2ee.py``; the ciphers in ``chutes/_e2ee.py``
(imported only here, when a call is encrypted).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final, Protocol

import attrs
import httpx

from .._core.assembly import ChatReader, ChunkReader, CompletionReader
from .._core.e2ee import (
    INVOKE_PATH,
    Action,
    CallState,
    E2EEError,
    NoncePool,
    classify_e2ee_failure,
    instances_path,
    invoke_headers,
    parse_instances,
    plain_content_type,
    streamed_body,
)
from .._core.errors import NotFoundError, describe_body
from .._core.events import is_event_stream
from .._core.openai import CHAT_PATH
from .._core.requests import RequestSpec
from .._files import saving
from .._httpx import assembled_reply, decrypted_reply, decrypted_stream
from .._response import Response

if TYPE_CHECKING:
    from .._core.config import ClientConfig
    from .._core.platform import GatewayModel
    from .._core.targets import Target
    from .._e2ee import ResponseKey

__all__: list[str] = []

LOGGER: Final = logging.getLogger("chutes")


class PlatformCalls(Protocol):
    """What a sealer needs of the client's caller (``Caller``)."""

    @property
    def config(self) -> ClientConfig:
        """The client's settings."""

    def api(self) -> Target:
        """The platform API's target."""

    def look(self, target: Target, path: str) -> Any:
        """``GET path`` on ``target`` and its JSON, not counted as a call."""

    def models(self, target: Target) -> list[GatewayModel]:
        """The models a gateway serves."""

    def nonce_pool(self, chute_id: str) -> NoncePool:
        """The unspent E2EE nonces of a chute, shared by the client's calls."""


class Sealer:
    """One end-to-end encrypted call: what it has tried, and the key of its last attempt.

    Args:
        caller: the client's caller (its pool keeps the chute's nonces).
        spec: the call, planned as E2EE by the core.
        stream: whether the caller reads the reply as a stream.

    Raises:
        ConfigurationError: without the ``[e2ee]`` extra, naming what to install.
    """

    def __init__(self, caller: PlatformCalls, spec: RequestSpec, *, stream: bool) -> None:
        from .._e2ee import require_e2ee

        require_e2ee()
        assert spec.e2ee is not None
        self._caller = caller
        self._spec = spec
        self._plan = spec.e2ee
        self._chute = spec.e2ee.chute_id
        self._stream = stream
        self._state = CallState()
        self._instance: str | None = None
        self._key: ResponseKey | None = None

    @property
    def streamed(self) -> bool:
        """Whether the next attempt asks for a streamed reply: the caller reads a stream, or
        an old instance refused the plain call and it goes again as a stream."""
        return self._stream or self._state.streamed

    def seal(self) -> RequestSpec:
        """The next attempt: the body encrypted for one instance, with an unspent nonce.

        Raises:
            E2EEError: when the chute has no E2E-capable instance (left) to try, or the
                instances answer is malformed.
        """
        from .._e2ee import encrypt_request

        chute = self._chute or self._gateway_chute()
        pool = self._caller.nonce_pool(chute)
        ticket = pool.take(avoid=self._state.tried)
        if ticket is None:
            self._fetch(pool)
            ticket = pool.take(avoid=self._state.tried)
            if ticket is None:
                raise E2EEError("no E2E-capable instance is left to try", chute_id=chute)
        plan, instance = self._plan, ticket.instance
        body = streamed_body(plan.body) if self._state.streamed and not self._stream else plan.body
        wire, self._key = encrypt_request(
            instance.public_key, body, chute_id=chute, instance_id=instance.instance_id
        )
        self._instance = instance.instance_id
        headers = {k: v for k, v in self._spec.headers.items() if k.lower() != "content-type"}
        headers.update(
            invoke_headers(
                chute, instance.instance_id, ticket.nonce, stream=self.streamed, path=plan.path
            )
        )
        return attrs.evolve(
            self._spec,
            method="POST",
            url=self._caller.api().join(INVOKE_PATH),
            headers=headers,
            content=wire,
            save_to=None,
            e2ee=None,
        )

    def _gateway_chute(self) -> str:
        """The chute of the body's model, as the gateway's ``/v1/models`` lists it."""
        model = self._plan.model
        listed = {m.id: m.chute_id for m in self._caller.models(self._spec.target)}
        chute = listed.get(model) if model is not None else None
        if not chute:
            raise E2EEError(
                f"the gateway lists no chute for model {model!r}, so there is no instance "
                "to encrypt for"
            )
        self._chute = chute
        return chute

    def _fetch(self, pool: NoncePool) -> None:
        """Add a batch of nonces (up to five instances, ten each) to the chute's pool."""
        caller = self._caller
        # Read before the request: the nonces' lifetime starts when the platform answers.
        now = pool.clock()
        try:
            answer = caller.look(caller.api(), instances_path(pool.chute_id))
        except NotFoundError as exc:
            raise E2EEError(
                f"the platform lists no E2E-capable instance ({exc.message})",
                chute_id=pool.chute_id,
            ) from None
        pool.add(parse_instances(answer, chute_id=pool.chute_id), now)
        LOGGER.debug("fetched E2EE nonces for chute %s", pool.chute_id)

    def follow(self, response: Response) -> bool:
        """After an error answer: whether the protocol's own remedy applies, and is taken
        (the pool updated); the call is then sealed and sent again at once."""
        instance, chute = self._instance, self._chute
        if response.status_code < 300 or instance is None or chute is None:
            return False
        reason = describe_body(response.content, response.content_type)[2]
        action = classify_e2ee_failure(response.status_code, reason, self.streamed)
        if action is Action.RESEND_STREAMED and not self._plan.assemblable:
            return False  # only an LLM cord's stream can be assembled into its plain reply
        state = self._state.follow(action, instance)
        if state is None:
            return False
        pool = self._caller.nonce_pool(chute)
        if action is Action.REFRESH_NONCES:
            pool.clear()
        elif action is Action.OTHER_INSTANCE:
            pool.discard_instance(instance)
        self._state = state
        LOGGER.info(
            "E2EE call to chute %s: instance %s answered %d; %s",
            chute,
            instance,
            response.status_code,
            action.value,
        )
        return True

    def opened(
        self, raw: httpx.Response, content: bytes | None, deadline: float | None
    ) -> tuple[httpx.Response, bytes | None]:
        """A success, decrypted: for a stream, a response whose body is the plaintext event
        stream (unread); else the read plaintext reply (assembled from the stream an old
        instance sent instead), written to ``save_to`` when the call has one.

        Raises:
            E2EEError: when the reply does not decrypt, or is not the kind asked for.
            ResponseTooLargeError: when the plaintext is past the body limit.
        """
        from .._e2ee import StreamDecryptor, decrypt_response

        key = self._key
        assert key is not None
        content_type = raw.headers.get("content-type")
        limits, url = self._caller.config.response_limits, self._spec.url
        if self.streamed != is_event_stream(content_type):
            kind = "an event stream" if self.streamed else "an encrypted body"
            raise key.error(f"the reply is {content_type or 'untyped'}, not {kind}")
        if self._stream:
            return decrypted_stream(raw, StreamDecryptor(key), limits.event, url, deadline), None
        assert content is not None
        if self._state.streamed:
            reader: ChunkReader[Any, Any] = (
                ChatReader() if self._plan.path == CHAT_PATH else CompletionReader()
            )
            decryptor = StreamDecryptor(key)
            reply = assembled_reply(raw, content, decryptor, reader, limits.event, url)
        else:
            plaintext = decrypt_response(key, content, limit=limits.body)
            reply = decrypted_reply(raw, plaintext, plain_content_type(plaintext))
        save_to = self._spec.save_to
        if save_to is None:
            return reply, reply.content
        with saving(save_to) as file:
            assert file is not None
            file.write(reply.content)
        return reply, b""

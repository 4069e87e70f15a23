"""``chutes.AsyncClient``: the asyncio facade, one per app, shared by all its requests.
It mirrors ``chutes._client`` line for line; only the I/O verbs are awaited.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar

import attrs
import httpx

from ._async_resources import AsyncChat, AsyncCompletions, AsyncEmbeddings, AsyncImages, AsyncModels
from ._async_streams import AsyncEventStream
from ._base import BaseChute, BaseClient, CallRecord, PoolState, llm_target, make_limiter
from ._core import retry
from ._core.config import (
    DEFAULT_DOMAIN,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    NOT_GIVEN,
    ClientConfig,
    NotGiven,
    RetryPolicy,
    TimeoutTypes,
)
from ._core.errors import APIConnectionError, ChutesError, ConfigurationError
from ._core.ratelimit import RateLimit
from ._core.requests import ParamsTypes, RequestSpec, build_download
from ._core.streaming import EventDecoder
from ._core.targets import Target
from ._core.usage import UsageTracker
from ._httpx import aread, asend, build_request, wrap_response
from ._response import Response

__all__ = ["AsyncChute", "AsyncClient"]

T = TypeVar("T")

# Module-level so tests can replace it and assert the delays without sleeping.
_sleep = asyncio.sleep


@attrs.define(slots=True, eq=False, kw_only=True)
class _Pool(PoolState):
    """The connection pool shared by a client and its ``with_options`` copies."""

    http: httpx.AsyncClient
    loop: weakref.ref[asyncio.AbstractEventLoop] | None = None

    def check_open(self) -> httpx.AsyncClient:
        if self.closed:
            raise RuntimeError("this chutes.AsyncClient is closed; create a new one")
        if self.forked() and self.owned:
            # The parent's sockets were copied into this child: never write to them.
            self.http = _new_http()
            self.pid = os.getpid()
            self.loop = None
        running = asyncio.get_running_loop()
        bound = self.loop() if self.loop is not None else None
        if bound is None:
            self.loop = weakref.ref(running)
        elif bound is not running:
            # An httpx pool's connections belong to the loop that opened them.
            raise RuntimeError(
                "this chutes.AsyncClient was first used in another event loop; its "
                "connections cannot be shared across loops. Create one AsyncClient per loop "
                "(for example in your app's lifespan)."
            )
        return self.http


def _new_http(transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport, follow_redirects=False)


class AsyncClient(BaseClient):
    """An asyncio client for chutes; create one per app and share it.

    Args:
        api_key: the API key; falls back to ``CHUTES_API_KEY``.
        auth_header: ``"authorization"`` (``Bearer`` key, the default) or ``"x-api-key"``.
        api_url: the platform API (``CHUTES_API_URL``, else ``https://api.chutes.ai``).
        domain: the domain chute subdomains live under.
        timeout: seconds for every phase, or a :class:`chutes.Timeout`.
        max_retries: retries per call (see :class:`chutes.RetryPolicy` for what is retried).
        retry_policy: what is retried and the backoff.
        default_headers: extra headers sent on every request.
        http_client: an ``httpx.AsyncClient`` to use; it is never closed by this client.
        transport: an httpx transport for the ``httpx.AsyncClient`` this client makes and owns
            (e.g. ``chutes.testing.FakeChutes``); not with ``http_client``.
        rate_limit: requests per minute (or a :class:`chutes.RateLimit`) for every task
            using this client and its ``with_options`` copies; off by default.

    A client can be pickled (its configuration, the key included) to send it to worker
    processes; the copy opens a fresh pool. A client is bound to the event loop it is first
    used in; using it from another loop raises ``RuntimeError`` while that loop still exists.

    Raises:
        ConfigurationError: when no key is found or an argument is invalid.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        auth_header: str = "authorization",
        api_url: str | None = None,
        domain: str = DEFAULT_DOMAIN,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_policy: RetryPolicy | None = None,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        rate_limit: float | RateLimit | None = None,
    ) -> None:
        self._setup(
            api_key,
            auth_header=auth_header,
            api_url=api_url,
            domain=domain,
            timeout=timeout,
            max_retries=max_retries,
            retry_policy=retry_policy,
            default_headers=default_headers,
            rate_limit=rate_limit,
        )
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            raise ConfigurationError(
                "http_client must be an httpx.AsyncClient (Client takes httpx.Client)"
            )
        if http_client is not None and transport is not None:
            raise ConfigurationError("give http_client or transport, not both")
        self._pool = _Pool(
            http=http_client or _new_http(transport),
            owned=http_client is None,
            limiter=make_limiter(self._config),
        )

    @classmethod
    def _restore(cls, config: ClientConfig) -> AsyncClient:
        """Rebuild a pickled client: the same configuration, a fresh pool of its own."""
        client = object.__new__(cls)
        client._derive(config)
        client._usage = UsageTracker()
        client._pool = _Pool(http=_new_http(), owned=True, limiter=make_limiter(config))
        return client

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self)._restore, (self._config,))

    def with_options(
        self,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        retry_policy: RetryPolicy | NotGiven = NOT_GIVEN,
        default_headers: Mapping[str, str] | NotGiven | None = NOT_GIVEN,
    ) -> AsyncClient:
        """A client with some options changed that shares this one's pool and usage.

        Raises:
            ConfigurationError: for an invalid option.
        """
        clone = object.__new__(type(self))
        clone._derive(
            self._config.evolve(
                timeout=timeout,
                max_retries=max_retries,
                retry_policy=retry_policy,
                default_headers=default_headers,
            )
        )
        clone._usage = self._usage
        clone._pool = self._pool
        return clone

    def chute(
        self,
        name: str | None = None,
        *,
        slug: str | None = None,
        id: str | None = None,
        url: str | None = None,
    ) -> AsyncChute:
        """A handle on one chute, addressed by exactly one of the four forms.

        Args:
            name: ``"username/chute-name"``, reached at its slug's subdomain.
            slug: the subdomain slug itself (one DNS label).
            id: the chute's UUID, reached at ``{api_url}/chutes/{id}``.
            url: any absolute http(s) base URL.

        Raises:
            ConfigurationError: for zero or several forms, or an invalid one.
        """
        return AsyncChute(self, self._target(name, slug=slug, id=id, url=url))

    @property
    def llm(self) -> AsyncChute:
        """The OpenAI-compatible ``llm`` gateway, whose ``model`` field picks the chute."""
        return AsyncChute(self, llm_target(self))

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`aclose` was called (on this client or the one it was copied from)."""
        return self._pool.closed

    async def aclose(self) -> None:
        """Close the connection pool (a borrowed ``http_client`` is left open)."""
        if not self._pool.closed:
            self._pool.closed = True
            if self._pool.owned:
                await self._pool.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _send(
        self, spec: RequestSpec, record: CallRecord, *, stream: bool = False
    ) -> tuple[httpx.Response, Response]:
        """Run the attempt loop: send, let the core decide, then return, sleep or raise."""
        pool = self._pool
        http = pool.check_open()
        request = build_request(http, spec, pool.urls)
        while True:
            if pool.limiter is not None:
                wait = pool.limiter.reserve()
                if wait > 0:
                    try:
                        await _sleep(wait)
                    except BaseException:
                        pool.limiter.refund()
                        raise
            started = time.monotonic()
            raw: httpx.Response | None = None
            try:
                raw = await asend(http, request, spec.url)
                streamed = retry.streams_body(stream, raw.status_code)
                if not streamed:
                    await aread(raw, spec.url)
            except APIConnectionError as exc:
                if raw is not None:
                    await raw.aclose()
                decision = self._decide(spec, record, started, error=exc)
                if not isinstance(decision, retry.Retry):
                    raise
            except BaseException:
                if raw is not None:
                    await raw.aclose()
                raise
            else:
                response = wrap_response(raw, spec, time.monotonic() - started, streamed=streamed)
                decision = self._decide(spec, record, started, response=response)
                if isinstance(decision, retry.Accept):
                    return raw, response
                await raw.aclose()
                if isinstance(decision, retry.Fail):
                    raise self._status_error(response, decision)
            if decision.delay > 0:  # initial_delay=0 means never sleeping at all
                await _sleep(decision.delay)

    async def _download(self, target: Target, url: str) -> bytes:
        """GET an absolute URL a chute returned, with this pool (and the key only if same host)."""
        spec = build_download(self._config, self._headers, target, url)
        return (await self._send(spec, CallRecord()))[1].content


class AsyncChute(BaseChute):
    """One chute, reached through an :class:`AsyncClient`: call any cord, stream events, or use
    the OpenAI-compatible helpers (``chat``, ``completions``, ``embeddings``, ``images``,
    ``models``).
    """

    _client: AsyncClient

    @property
    def chat(self) -> AsyncChat:
        """``chat.completions.create(...)`` against ``/v1/chat/completions``."""
        return AsyncChat(self)

    @property
    def completions(self) -> AsyncCompletions:
        """``completions.create(...)`` against ``/v1/completions``."""
        return AsyncCompletions(self)

    @property
    def embeddings(self) -> AsyncEmbeddings:
        """``embeddings.create(...)`` against ``/v1/embeddings``."""
        return AsyncEmbeddings(self)

    @property
    def images(self) -> AsyncImages:
        """``images.generate(...)``: OpenAI's images API, or a raw-bytes cord (``/generate``)."""
        return AsyncImages(self)

    @property
    def models(self) -> AsyncModels:
        """``models.list()`` against ``/v1/models``."""
        return AsyncModels(self)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = NOT_GIVEN,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: ParamsTypes | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Response:
        """Call a cord and return its whole response.

        Args:
            method: the HTTP method.
            path: the cord's path, relative to the chute (``"generate"`` or ``"/generate"``).
            json: a JSON body.
            content: raw body bytes (not with ``json``).
            headers: extra headers for this call.
            params: query parameters.
            timeout: this call's timeout.
            max_retries: this call's retry count.

        Raises:
            ConfigurationError: for invalid arguments, before any traffic.
            APIStatusError: (a subclass per status) when the chute answers an error.
            APIConnectionError: when no complete response arrives.
        """
        spec = self._client._spec(
            self.target,
            method,
            path,
            json=json,
            content=content,
            headers=headers,
            params=params,
            timeout=timeout,
            max_retries=max_retries,
        )
        return await self._call(spec, _same)

    async def get(
        self,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: ParamsTypes | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Response:
        """``GET`` a cord; see :meth:`request`."""
        return await self.request(
            "GET", path, headers=headers, params=params, timeout=timeout, max_retries=max_retries
        )

    async def post(
        self,
        path: str,
        *,
        json: Any = NOT_GIVEN,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: ParamsTypes | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Response:
        """``POST`` to a cord; see :meth:`request`."""
        return await self.request(
            "POST",
            path,
            json=json,
            content=content,
            headers=headers,
            params=params,
            timeout=timeout,
            max_retries=max_retries,
        )

    def stream(
        self,
        path: str,
        *,
        method: str = "POST",
        json: Any = NOT_GIVEN,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: ParamsTypes | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> AsyncEventStream:
        """Call a cord that answers with server-sent events; use it as an async context manager.

        The request is sent on entering the ``async with`` block (or on first iteration); error
        statuses raise there, retried like any call. Once an event has reached you nothing
        is retried. The response is always closed on leaving the block.

        Raises:
            ConfigurationError: for invalid arguments, at once.
        """
        spec = self._client._spec(
            self.target,
            method,
            path,
            json=json,
            content=content,
            headers=headers,
            params=params,
            timeout=timeout,
            max_retries=max_retries,
        )
        return AsyncEventStream(self._client, spec, EventDecoder())

    async def _call(self, spec: RequestSpec, decode: Callable[[Response], T]) -> T:
        """Send ``spec`` and decode the response; a decoding failure counts as a failed call."""
        client = self._client
        record = CallRecord()
        try:
            result = decode((await client._send(spec, record))[1])
        except ChutesError:
            client._record(spec, record, failed=True)
            raise
        client._record(spec, record, failed=False)
        return result

    def _fetcher(self) -> Callable[[str], Awaitable[bytes]]:
        return functools.partial(self._client._download, self.target)


def _same(response: Response) -> Response:
    return response

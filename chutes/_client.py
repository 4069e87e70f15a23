"""``chutes.Client``: the blocking facade. It never touches asyncio, so it works inside
Jupyter's running event loop. ``chutes._async_client`` mirrors this file line for line.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar

import attrs
import httpx

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
from ._httpx import build_request, read, send, wrap_response
from ._resources import Chat, Completions, Embeddings, Images, Models
from ._response import Response
from ._streams import EventStream

__all__ = ["Chute", "Client"]

T = TypeVar("T")

# Module-level so tests can replace it and assert the delays without sleeping.
_sleep = time.sleep


@attrs.define(slots=True, eq=False, kw_only=True)
class _Pool(PoolState):
    """The connection pool shared by a client and its ``with_options`` copies."""

    http: httpx.Client

    def check_open(self) -> httpx.Client:
        if self.closed:
            raise RuntimeError("this chutes.Client is closed; create a new one")
        if self.forked() and self.owned:
            # The parent's sockets were copied into this child: never write to them.
            self.http = _new_http()
            self.pid = os.getpid()
        return self.http


def _new_http(transport: httpx.BaseTransport | None = None) -> httpx.Client:
    return httpx.Client(transport=transport, follow_redirects=False)


class Client(BaseClient):
    """A blocking client for chutes.

    Args:
        api_key: the API key; falls back to ``CHUTES_API_KEY``.
        auth_header: ``"authorization"`` (``Bearer`` key, the default) or ``"x-api-key"``.
        api_url: the platform API (``CHUTES_API_URL``, else ``https://api.chutes.ai``).
        domain: the domain chute subdomains live under.
        timeout: seconds for every phase, or a :class:`chutes.Timeout`.
        max_retries: retries per call (see :class:`chutes.RetryPolicy` for what is retried).
        retry_policy: what is retried and the backoff.
        default_headers: extra headers sent on every request.
        http_client: an ``httpx.Client`` to use; it is never closed by this client.
        transport: an httpx transport for the ``httpx.Client`` this client makes and owns
            (e.g. ``chutes.testing.FakeChutes``); not with ``http_client``.
        rate_limit: requests per minute (or a :class:`chutes.RateLimit`) for every thread
            using this client and its ``with_options`` copies; off by default.

    A client can be pickled (its configuration, the key included) to send it to worker
    processes; the copy opens a fresh pool. A client used after ``os.fork()`` opens a fresh
    pool in the child instead of sharing the parent's sockets.

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
        http_client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
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
        if http_client is not None and not isinstance(http_client, httpx.Client):
            raise ConfigurationError(
                "http_client must be an httpx.Client (AsyncClient takes httpx.AsyncClient)"
            )
        if http_client is not None and transport is not None:
            raise ConfigurationError("give http_client or transport, not both")
        self._pool = _Pool(
            http=http_client or _new_http(transport),
            owned=http_client is None,
            limiter=make_limiter(self._config),
        )

    @classmethod
    def _restore(cls, config: ClientConfig) -> Client:
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
    ) -> Client:
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
    ) -> Chute:
        """A handle on one chute, addressed by exactly one of the four forms.

        Args:
            name: ``"username/chute-name"``, reached at its slug's subdomain.
            slug: the subdomain slug itself (one DNS label).
            id: the chute's UUID, reached at ``{api_url}/chutes/{id}``.
            url: any absolute http(s) base URL.

        Raises:
            ConfigurationError: for zero or several forms, or an invalid one.
        """
        return Chute(self, self._target(name, slug=slug, id=id, url=url))

    @property
    def llm(self) -> Chute:
        """The OpenAI-compatible ``llm`` gateway, whose ``model`` field picks the chute."""
        return Chute(self, llm_target(self))

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`close` was called (on this client or the one it was copied from)."""
        return self._pool.closed

    def close(self) -> None:
        """Close the connection pool (a borrowed ``http_client`` is left open)."""
        if not self._pool.closed:
            self._pool.closed = True
            if self._pool.owned:
                self._pool.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _send(
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
                        _sleep(wait)
                    except BaseException:
                        pool.limiter.refund()
                        raise
            started = time.monotonic()
            raw: httpx.Response | None = None
            try:
                raw = send(http, request, spec.url)
                streamed = retry.streams_body(stream, raw.status_code)
                if not streamed:
                    read(raw, spec.url)
            except APIConnectionError as exc:
                if raw is not None:
                    raw.close()
                decision = self._decide(spec, record, started, error=exc)
                if not isinstance(decision, retry.Retry):
                    raise
            except BaseException:
                if raw is not None:
                    raw.close()
                raise
            else:
                response = wrap_response(raw, spec, time.monotonic() - started, streamed=streamed)
                decision = self._decide(spec, record, started, response=response)
                if isinstance(decision, retry.Accept):
                    return raw, response
                raw.close()
                if isinstance(decision, retry.Fail):
                    raise self._status_error(response, decision)
            if decision.delay > 0:  # initial_delay=0 means never sleeping at all
                _sleep(decision.delay)

    def _download(self, target: Target, url: str) -> bytes:
        """GET an absolute URL a chute returned, with this pool (and the key only if same host)."""
        spec = build_download(self._config, self._headers, target, url)
        return self._send(spec, CallRecord())[1].content


class Chute(BaseChute):
    """One chute, reached through a :class:`Client`: call any cord, stream events, or use
    the OpenAI-compatible helpers (``chat``, ``completions``, ``embeddings``, ``images``,
    ``models``).
    """

    _client: Client

    @property
    def chat(self) -> Chat:
        """``chat.completions.create(...)`` against ``/v1/chat/completions``."""
        return Chat(self)

    @property
    def completions(self) -> Completions:
        """``completions.create(...)`` against ``/v1/completions``."""
        return Completions(self)

    @property
    def embeddings(self) -> Embeddings:
        """``embeddings.create(...)`` against ``/v1/embeddings``."""
        return Embeddings(self)

    @property
    def images(self) -> Images:
        """``images.generate(...)``: OpenAI's images API, or a raw-bytes cord (``/generate``)."""
        return Images(self)

    @property
    def models(self) -> Models:
        """``models.list()`` against ``/v1/models``."""
        return Models(self)

    def request(
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
        return self._call(spec, _same)

    def get(
        self,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: ParamsTypes | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Response:
        """``GET`` a cord; see :meth:`request`."""
        return self.request(
            "GET", path, headers=headers, params=params, timeout=timeout, max_retries=max_retries
        )

    def post(
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
        return self.request(
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
    ) -> EventStream:
        """Call a cord that answers with server-sent events; use it as a context manager.

        The request is sent on entering the ``with`` block (or on first iteration); error
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
        return EventStream(self._client, spec, EventDecoder())

    def _call(self, spec: RequestSpec, decode: Callable[[Response], T]) -> T:
        """Send ``spec`` and decode the response; a decoding failure counts as a failed call."""
        client = self._client
        record = CallRecord()
        try:
            result = decode(client._send(spec, record)[1])
        except ChutesError:
            client._record(spec, record, failed=True)
            raise
        client._record(spec, record, failed=False)
        return result

    def _fetcher(self) -> Callable[[str], bytes]:
        return functools.partial(self._client._download, self.target)


def _same(response: Response) -> Response:
    return response

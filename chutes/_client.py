"""``chutes.Client``: the blocking facade. It never touches asyncio, so it works inside
Jupyter's running event loop. ``chutes._async_client`` mirrors this file line for line.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any

import attrs
import httpx

from ._base import BaseChute, BaseClient, CallRecord, llm_target
from ._core import retry
from ._core.config import (
    DEFAULT_DOMAIN,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    NOT_GIVEN,
    NotGiven,
    RetryPolicy,
    TimeoutTypes,
)
from ._core.errors import APIConnectionError, ChutesError, ConfigurationError
from ._core.requests import ParamsTypes, RequestSpec
from ._core.sse import ServerSentEvent
from ._core.streaming import EventDecoder, is_event_stream, not_event_stream_error
from ._httpx import build_request, translate_errors, wrap_response
from ._response import Response

__all__ = ["Chute", "Client", "EventStream"]

# Module-level so tests can replace it and assert the delays without sleeping.
_sleep = time.sleep


@attrs.define(slots=True)
class _Pool:
    """The connection pool shared by a client and its ``with_options`` copies."""

    http: httpx.Client
    owned: bool
    closed: bool = False

    def check_open(self) -> httpx.Client:
        if self.closed:
            raise RuntimeError("this chutes.Client is closed; create a new one")
        return self.http


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
        )
        if http_client is not None and not isinstance(http_client, httpx.Client):
            raise ConfigurationError(
                "http_client must be an httpx.Client (AsyncClient takes httpx.AsyncClient)"
            )
        owned = http_client is None
        self._pool = _Pool(http=http_client or httpx.Client(follow_redirects=False), owned=owned)

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
        http = self._pool.check_open()
        request = build_request(http, spec)
        while True:
            started = time.monotonic()
            raw: httpx.Response | None = None
            try:
                with translate_errors(spec.url):
                    raw = http.send(request, stream=True, follow_redirects=False)
                streamed = stream and raw.status_code < 300
                if not streamed:
                    with translate_errors(spec.url, response_started=True):
                        raw.read()
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
            _sleep(decision.delay)


class Chute(BaseChute):
    """One chute, reached through a :class:`Client`: call any cord, or stream events."""

    _client: Client

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
        client = self._client
        spec = client._spec(
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
        with client._track(spec) as record:
            return client._send(spec, record)[1]

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
        return EventStream(self._client, spec)


class EventStream:
    """Server-sent events from a cord, as an iterator and a context manager.

    Attributes:
        response: the response's status and headers (``invocation_id``, ``quota``) once open.

    Raises:
        StreamError: while iterating, when the chute writes its raw ``{"error": ...}`` line.
        APIConnectionError: while iterating, when the connection drops or times out.
    """

    def __init__(self, client: Client, spec: RequestSpec) -> None:
        self._client = client
        self._spec = spec
        self._raw: httpx.Response | None = None
        self._chunks: Iterator[bytes] | None = None
        self._decoder = EventDecoder()
        self._pending: deque[ServerSentEvent] = deque()
        self._finished = False
        self.response: Response | None = None

    def _open(self) -> Iterator[bytes]:
        if self._chunks is not None:
            return self._chunks
        if self._finished:
            raise RuntimeError("this stream is closed")
        client, spec = self._client, self._spec
        with client._track(spec) as record:
            raw, response = client._send(spec, record, stream=True)
            self._raw, self.response = raw, response
            content_type = response.headers.get("content-type")
            if not is_event_stream(content_type):
                try:
                    with translate_errors(spec.url, response_started=True):
                        body = raw.read()
                finally:
                    raw.close()
                raise not_event_stream_error(content_type, body)
        self._chunks = raw.iter_bytes()
        return self._chunks

    def __enter__(self) -> EventStream:
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> EventStream:
        return self

    def __next__(self) -> ServerSentEvent:
        while not self._pending:
            if self._finished:
                raise StopIteration
            self._pull()
        return self._pending.popleft()

    def _pull(self) -> None:
        try:
            chunks = self._open()  # a failure to open is counted by the call's tracking
        except BaseException:
            self.close()
            raise
        try:
            with translate_errors(self._spec.url, response_started=True):
                chunk = next(chunks, None)
            if chunk is None:
                self._pending.extend(self._decoder.close())
                self.close()
            else:
                self._pending.extend(self._decoder.feed(chunk))
        except ChutesError:
            self._client._usage.record_failure(self._spec.target.base_url)
            self.close()
            raise
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the response; safe to call more than once."""
        self._finished = True
        if self._raw is not None:
            self._raw.close()

# Generated from chutes/_async/caller.py by scripts/unasync.py: do not edit.
"""The seam between a client and everything that calls through it.

Handles, helpers, streams and the testing kit never reach into a client: they hold an
:class:`Caller`, which builds a request (:meth:`~Caller.spec`), sends it with the
retry loop the core decides (:meth:`~Caller.send`), and keeps the usage books
(:meth:`~Caller.call`, :meth:`~Caller.open`, :meth:`~Caller.tokens`,
:meth:`~Caller.failed`). The pool it sends through is shared by a client and its
``with_options`` copies.
"""

from __future__ import annotations

import logging
import os
import random
import sys
import time
import warnings
import weakref
from collections.abc import Callable
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, Final, TypeVar

import attrs
import httpx

from .._core import retry
from .._core.config import ClientConfig
from .._core.errors import APIConnectionError, ChutesError, status_error
from .._core.events import is_event_stream, not_event_stream_error
from .._core.models import Usage
from .._core.ratelimit import TokenBucket
from .._core.requests import Call, RequestSpec, base_headers, build_download, build_request
from .._core.targets import Target
from .._core.usage import UsageTracker
from .._httpx import build_request as httpx_request
from .._httpx import translate_errors, wrap_response
from .._response import Response
from .._runtime import Runtime
from .transport import WatchingTransport

__all__: list[str] = []

T = TypeVar("T")
LOGGER: Final = logging.getLogger("chutes")
_HANDLER_MARK: Final = "_chutes_env_handler"


def configure_logging(level: str | None) -> None:
    """Attach one stderr handler when ``CHUTES_LOG`` asks for it (never twice)."""
    if level is None:
        return
    LOGGER.setLevel(level.upper())
    if not any(getattr(h, _HANDLER_MARK, False) for h in LOGGER.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        setattr(handler, _HANDLER_MARK, True)
        LOGGER.addHandler(handler)


def new_http(transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """An httpx client of our own: redirects are never followed (the key must not travel
    to another host), no cookie is kept (a chute must not set one for every other chute),
    and connections are watched unless another transport is given."""
    return httpx.Client(
        transport=transport or WatchingTransport(),
        follow_redirects=False,
        cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),
    )


class Pool:
    """The httpx client that a client and its ``with_options`` copies share, with what
    goes with it: whether we own it, whether it is closed, the rate limiter, the process
    that opened its sockets and (asyncio only) the loop they belong to.
    """

    def __init__(
        self, http: httpx.Client, *, owned: bool, limiter: TokenBucket | None
    ) -> None:
        self.http = http
        self.owned = owned
        self.limiter = limiter
        self.closed = False
        self.pid = os.getpid()
        self.loop: weakref.ref[Any] | None = None
        self.urls: dict[str, httpx.URL] = {}  # parsed request URLs (see chutes._httpx)

    def client(self, what: str) -> httpx.Client:
        """The httpx client, ready for a request.

        Raises:
            RuntimeError: when the client is closed, or (asyncio) bound to another loop.
        """
        if self.closed:
            raise RuntimeError(f"this chutes.{what} is closed; create a new one")
        if self.pid != os.getpid() and self.owned:
            # A fork copied the parent's sockets into this process: never write to them.
            self.http = new_http()
            self.pid = os.getpid()
            self.loop = None
        Runtime.bind_loop(self, what)
        return self.http

    def close(self) -> None:
        """Close the pool (a borrowed httpx client is left open)."""
        if self.closed:
            return
        self.closed = True
        if self.owned and not Runtime.loop_gone(self):
            self.http.close()

    def __del__(self) -> None:
        if self.owned and not self.closed:
            warnings.warn(
                "a chutes client was garbage-collected without being closed; use it as a "
                "context manager or call close() / close()",
                ResourceWarning,
                stacklevel=2,
            )


@attrs.define
class CallRecord:
    """What one call did, filled in by the attempt loop for the usage books."""

    attempts: int = 0
    headers: httpx.Headers | None = None


class Caller:
    """What handles, helpers, streams and the testing kit use of a client.

    Args:
        config: the client's settings.
        pool: the connection pool (shared with ``with_options`` copies).
        usage: the usage books (shared likewise).
        what: the client's class name, for error messages.
    """

    __slots__ = ("_headers", "config", "pool", "usage", "what")

    def __init__(
        self, config: ClientConfig, pool: Pool, usage: UsageTracker, what: str
    ) -> None:
        self.config = config
        self.pool = pool
        self.usage = usage
        self.what = what
        self._headers = base_headers(config)

    def spec(self, target: Target, method: str, path: str, call: Call) -> RequestSpec:
        """The request for ``method path`` on ``target`` with ``call``'s body and options.

        Raises:
            ConfigurationError: for an invalid argument, before anything is sent.
        """
        return build_request(self.config, self._headers, target, method, path, call)

    def send(
        self, spec: RequestSpec, record: CallRecord, *, stream: bool = False
    ) -> tuple[httpx.Response, Response]:
        """Run the attempt loop: send, let the core decide, then return, sleep or raise.

        A success of a streamed call comes back with its body unread; any other response
        has been read whole.

        Raises:
            APIStatusError: (a subclass per status) for an error status that is not retried.
            APIConnectionError: when no complete response arrives.
        """
        pool = self.pool
        http = pool.client(self.what)
        request = httpx_request(spec, pool.urls)
        while True:
            if pool.limiter is not None:
                wait = pool.limiter.reserve()
                if wait > 0:
                    try:
                        Runtime.sleep(wait)
                    except BaseException:
                        pool.limiter.refund()
                        raise
            started = time.monotonic()
            raw: httpx.Response | None = None
            try:
                with translate_errors(spec.url):
                    raw = http.send(request, stream=True, follow_redirects=False)
                streamed = retry.streams_body(stream, raw.status_code)
                content = None
                if not streamed:
                    with translate_errors(spec.url, response_started=True):
                        content = raw.read()
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
                response = wrap_response(raw, spec, time.monotonic() - started, content)
                decision = self._decide(spec, record, started, response=response)
                if isinstance(decision, retry.Accept):
                    return raw, response
                raw.close()
                if isinstance(decision, retry.Fail):
                    raise status_error(response, retry_after=decision.retry_after)
            if decision.delay > 0:  # initial_delay=0 means never sleeping at all
                Runtime.sleep(decision.delay)

    def call(self, spec: RequestSpec, decode: Callable[[Response], T]) -> T:
        """Send ``spec``, decode the response, and count the call; a decoding failure
        counts as a failed call."""
        record = CallRecord()
        try:
            result = decode((self.send(spec, record))[1])
        except ChutesError:
            self._record(spec, record, failed=True)
            raise
        self._record(spec, record, failed=False)
        return result

    def open(self, spec: RequestSpec) -> tuple[httpx.Response, Response]:
        """Send a streaming call and count it; the event-stream body comes back unread.

        Raises:
            DecodeError: for a success that is not ``text/event-stream``.
        """
        record = CallRecord()
        try:
            raw, response = self.send(spec, record, stream=True)
            content_type = response.headers.get("content-type")
            if not is_event_stream(content_type):
                try:
                    with translate_errors(spec.url, response_started=True):
                        body = raw.read()
                finally:
                    raw.close()
                raise not_event_stream_error(content_type, body)
        except ChutesError:
            self._record(spec, record, failed=True)
            raise
        self._record(spec, record, failed=False)
        return raw, response

    def download(self, target: Target, url: str) -> bytes:
        """GET an absolute URL a chute returned, with this pool (the key only to the chute's
        own origin)."""
        spec = build_download(self.config, self._headers, target, url)
        return (self.send(spec, CallRecord()))[1].content

    def tokens(self, target: Target, usage: Usage | None) -> None:
        """Add a response's reported tokens to the books."""
        if usage is not None:
            self.usage.record_tokens(
                target.base_url, usage.prompt_tokens, usage.completion_tokens, usage.total_tokens
            )

    def failed(self, target: Target) -> None:
        """Count a failure that came after the call was counted (a stream that broke)."""
        self.usage.record_failure(target.base_url)

    def _decide(
        self,
        spec: RequestSpec,
        record: CallRecord,
        started: float,
        *,
        response: Response | None = None,
        error: APIConnectionError | None = None,
    ) -> retry.Decision:
        """Log the attempt and ask the core what follows it."""
        record.attempts += 1
        if response is not None:
            status: int | None = response.status_code
            outcome = str(status)
            record.headers = response.headers  # type: ignore[assignment]
        else:
            assert error is not None
            status, outcome = None, error.failure.name.lower()
        decision = retry.decide(
            self.config.retry_policy,
            attempt=record.attempts,
            max_retries=spec.max_retries,
            now=time.time(),
            rng=random.random,
            status=status,
            headers=response.headers if response is not None else None,
            failure=error.failure if error is not None else None,
        )
        if LOGGER.isEnabledFor(logging.DEBUG):
            LOGGER.debug(
                "%s %s -> %s in %.3fs (attempt %d)",
                spec.method,
                spec.url,
                outcome,
                time.monotonic() - started,
                record.attempts,
            )
            if isinstance(decision, retry.Retry):
                LOGGER.debug("retrying %s %s in %.3fs", spec.method, spec.url, decision.delay)
        return decision

    def _record(self, spec: RequestSpec, record: CallRecord, *, failed: bool) -> None:
        self.usage.record_call(
            spec.target.base_url,
            failed=failed,
            retries=max(0, record.attempts - 1),
            headers=record.headers,
        )
        if failed and LOGGER.isEnabledFor(logging.INFO):
            LOGGER.info("%s %s failed after %d attempt(s)", spec.method, spec.url, record.attempts)

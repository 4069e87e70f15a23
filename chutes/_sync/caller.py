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

import contextlib
import json
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
from .._core.config import ClientConfig, proxy_error
from .._core.e2ee import NoncePool
from .._core.errors import (
    NO_CORD,
    APIConnectionError,
    APITimeoutError,
    ChutesError,
    ConnectionFailure,
    ModelNotFoundError,
    NotFoundError,
    add_hint,
    classify_429,
    describe_body,
    scrub,
    status_error,
)
from .._core.events import SSETap, is_event_stream, not_event_stream_error
from .._core.known import Known
from .._core.models import Usage
from .._core.platform import (
    ChuteInfo,
    GatewayModel,
    WarmupEvent,
    chute_id,
    chute_info,
    close_model_names,
    gateway_models,
    is_cold_start,
    warmup_event,
)
from .._core.ratelimit import TokenBucket
from .._core.requests import Call, RequestSpec, base_headers, build_download, build_request
from .._core.targets import Target, resolve_target, subdomain
from .._core.usage import UsageTracker
from .._files import saving
from .._httpx import (
    ACCEPT_ENCODING,
    raw_chunks,
    body_decoder,
    deadline_error,
    event_source,
    proxy_routes,
    translate_errors,
    wrap_response,
)
from .._httpx import build_request as httpx_request
from .._response import Response
from .._runtime import Runtime
from .e2ee import Sealer
from .transport import WatchingTransport, hold_to_deadline

__all__: list[str] = []

T = TypeVar("T")
LOGGER: Final = logging.getLogger("chutes")
ERROR_BODY_LIMIT: Final = 64 * 1024  # what an error keeps of its body
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
    try:
        mounts: dict[str, httpx.BaseTransport | None] = {}
        if transport is None:
            transport = WatchingTransport()
            # Proxied requests go through httpx's own transport (they are not watched).
            mounts = {
                pattern: None if proxy is None else httpx.HTTPTransport(proxy=proxy)
                for pattern, proxy in proxy_routes().items()
            }
        return httpx.Client(
            transport=transport,
            mounts=mounts,
            follow_redirects=False,
            cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),
        )
    except (ValueError, ImportError, httpx.InvalidURL) as exc:
        # The proxies from the environment: a scheme httpx does not know, a URL it cannot
        # parse, or SOCKS without its optional package.
        raise proxy_error(os.environ, exc) from None


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
        self.known = Known()  # what the client learned of the platform
        self.nonces: dict[str, NoncePool] = {}  # E2EE nonces, by chute id

    def nonce_pool(self, chute_id: str) -> NoncePool:
        """The unspent E2EE nonces of a chute, shared by every call to it."""
        found = self.nonces.get(chute_id)
        if found is None:
            found = self.nonces.setdefault(chute_id, NoncePool(chute_id))
        return found

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
        if Runtime.bind_loop(self, what) and self.owned:
            if self.http.is_closed:  # closed with the loop it was used in before
                self.http = new_http()
            Runtime.close_with_loop(self, self._close_http)
        return self.http

    def _close_http(self) -> None:
        self.http.close()

    def close(self) -> None:
        """Close the pool (a borrowed httpx client is left open)."""
        if self.closed:
            return
        self.closed = True
        Runtime.cancel_close_with_loop(self)
        if self.owned and not Runtime.loop_gone(self):
            self.http.close()

    def __del__(self) -> None:
        if self.owned and not self.closed:
            warnings.warn(
                "a chutes client was garbage-collected without being closed; use it as a "
                "context manager or close it",
                ResourceWarning,
                stacklevel=2,
            )


@attrs.define
class CallRecord:
    """What one call did, filled in by the attempt loop for the usage books."""

    attempts: int = 0
    headers: httpx.Headers | None = None
    deadline: float | None = None  # when the call must end (monotonic), if it has a total
    waited: bool = False  # the call already waited for a cold chute to warm up


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
        self._headers = base_headers(config, ACCEPT_ENCODING)

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
        has been read (an error's body at most its first 64 KiB).

        Raises:
            APIStatusError: (a subclass per status) for an error status that is not retried.
            APIConnectionError: when no complete response arrives (APITimeoutError past
                the call's total timeout).
        """
        pool = self.pool
        http = pool.client(self.what)
        total = spec.timeout.total
        deadline = record.deadline = None if total is None else time.monotonic() + total
        spec = self._resolved(spec)
        sealer = None if spec.e2ee is None else Sealer(self, spec, stream=stream)
        attempt = spec
        while True:
            if sealer is not None:
                attempt = sealer.seal()  # each attempt: a fresh nonce and key
            if pool.limiter is not None:
                wait = pool.limiter.reserve()
                if wait > 0:
                    try:
                        self._pause(wait, deadline, spec)
                    except BaseException:
                        pool.limiter.refund()
                        raise
            started = time.monotonic()
            left = None if deadline is None else deadline - started
            raw: httpx.Response | None = None
            try:
                request = httpx_request(attempt, pool.urls, left)
                with translate_errors(attempt.url):
                    raw = http.send(request, stream=True, follow_redirects=False)
                hold_to_deadline(raw, deadline)
                content = None
                if not (stream and raw.status_code < 300):
                    content = self._read(raw, attempt, deadline)
                    if content is None:  # streamed to save_to
                        content = b""
                if sealer is not None and raw.status_code < 300:
                    raw, content = sealer.opened(raw, content, deadline)
            except APIConnectionError as exc:
                if raw is not None:
                    raw.close()
                if deadline is not None and time.monotonic() >= deadline:
                    raise deadline_error(attempt.url) from None
                decision = self._decide(attempt, record, started, error=exc)
                if not isinstance(decision, retry.Retry):
                    raise
            except BaseException:
                if raw is not None:
                    raw.close()
                raise
            else:
                # A decrypted success names the call's own URL (and its save_to file).
                shown = spec if sealer is not None and raw.status_code < 300 else attempt
                response = wrap_response(raw, shown, time.monotonic() - started, content)
                if sealer is not None and sealer.follow(response):
                    raw.close()
                    record.attempts += 1
                    continue  # the protocol's own remedy: sealed again and sent at once
                decision = self._decide(attempt, record, started, response=response)
                if isinstance(decision, retry.Accept):
                    return raw, response
                raw.close()
                if self._waited_for_hot(spec, record, response, deadline):
                    continue  # the chute is hot now: one more send
                if isinstance(decision, retry.Fail):
                    error = status_error(response, retry_after=decision.retry_after)
                    raise self._explained(scrub(error, self.config.api_key), spec)
            if decision.delay > 0:  # initial_delay=0 means never sleeping at all
                self._pause(decision.delay, deadline, attempt)

    def _pause(self, seconds: float, deadline: float | None, spec: RequestSpec) -> None:
        """Sleep, unless waking would be past the call's deadline."""
        if deadline is not None and time.monotonic() + seconds >= deadline:
            raise deadline_error(spec.url)
        Runtime.sleep(seconds)

    def _read(
        self, raw: httpx.Response, spec: RequestSpec, deadline: float | None
    ) -> bytes | None:
        """Read a body: decoded and bounded (an error's to its first 64 KiB), or, for a
        success with ``save_to``, streamed to that file (``None`` comes back then)."""
        error = raw.status_code >= 300
        save_to = None if error else spec.save_to
        limit = None if save_to is not None else self.config.response_limits.body
        decoder = body_decoder(raw, None if error else limit)
        parts: list[bytes] = []
        kept = 0
        with translate_errors(spec.url, response_started=True), saving(save_to) as file:
            for chunk in raw_chunks(raw):
                if deadline is not None and time.monotonic() > deadline:
                    raise deadline_error(spec.url)
                for piece in decoder.feed(chunk):
                    if file is not None:
                        file.write(piece)
                    else:
                        parts.append(piece)
                        kept += len(piece)
                if error and kept >= ERROR_BODY_LIMIT:
                    return b"".join(parts)[:ERROR_BODY_LIMIT]  # enough to say what went wrong
            for piece in decoder.finish():
                if file is not None:
                    file.write(piece)
                else:
                    parts.append(piece)
        return None if file is not None else b"".join(parts)

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

    # --- what the client knows of the platform ------------------------------------------

    def nonce_pool(self, chute_id: str) -> NoncePool:
        """The unspent E2EE nonces of a chute, shared by the client's calls."""
        return self.pool.nonce_pool(chute_id)

    def api(self) -> Target:
        """The platform API's target (``api_url``)."""
        return resolve_target(url=self.config.api_url, domain=self.config.domain, api_url="")

    def get_json(self, target: Target, path: str, **params: str) -> Any:
        """``GET path`` on ``target`` and its JSON (counted like any call)."""
        spec = self.spec(target, "GET", path, Call(params=params or None))
        return self.call(spec, _json)

    def look(self, target: Target, path: str) -> Any:
        """``GET path`` on ``target`` and its JSON, for the client's own use (a slug, the
        models, prices): not counted in the usage books, which count the caller's calls."""
        spec = self.spec(target, "GET", path, Call())
        return (self.send(spec, CallRecord()))[1].json()

    def lookup(self, chute: str) -> ChuteInfo:
        """A chute's details, by name (``user/name``, looked up by its id) or id; kept for a
        while, and under its base URL too.

        Raises:
            NotFoundError: when the platform has no such chute for this key.
        """
        known = self.pool.known
        found = known.chute(chute)
        if found is not None:
            return found
        ident = chute if "/" not in chute else chute_id(chute)
        info = chute_info(self.look(self.api(), f"/chutes/{ident}"))
        keys = [chute, info.chute_id]
        if info.slug:
            with contextlib.suppress(ChutesError):
                keys.append(subdomain(info.slug, self.config.domain).base_url)
        known.add_chute(info, *keys)
        return info

    def models(self, target: Target) -> list[GatewayModel]:
        """The models a gateway serves (``GET /v1/models``), kept for a while."""
        known = self.pool.known
        found = known.models(target.base_url)
        if found is None:
            found = gateway_models(self.look(target, "/v1/models"))
            known.add_models(target.base_url, found)
        return found

    def fetch_prices(self) -> None:
        """Learn the gateway's model prices (best effort: a cost estimate must never break
        the reading of usage, so any failure leaves the spend unknown)."""
        gateway = resolve_target(url=self.config.llm_url, domain=self.config.domain, api_url="")
        try:
            found = self.models(gateway)
        except Exception:
            found = []
        self.usage.set_prices({m.id: m.price for m in found if m.price is not None})

    def warm(
        self,
        chute: str,
        timeout: float | None,
        on_status: Callable[[WarmupEvent], object] | None = None,
    ) -> WarmupEvent:
        """Follow the chute's warm-up event stream until it says it is hot.

        Raises:
            APITimeoutError: when the stream ends without "hot", or ``timeout`` passes.
        """
        ident = chute if "/" not in chute else chute_id(chute)
        call = Call(timeout=attrs.evolve(self.config.timeout, total=timeout))
        spec = self.spec(self.api(), "GET", f"/chutes/warmup/{ident}", call)
        raw, _, deadline = self.open(spec)
        events = event_source(raw, SSETap(self.config.response_limits.event), spec.url, deadline)
        source = events.iter_sse()
        try:
            for sse in source:
                if not sse.data:
                    continue
                event = warmup_event(sse.data)
                if on_status is not None:
                    on_status(event)
                if event.hot:
                    return event
        except APITimeoutError:
            pass
        finally:
            Runtime.close_iterator(source)
            raw.close()
        raise APITimeoutError(
            f"chute {chute} did not become hot within {timeout} s",
            failure=ConnectionFailure.READ_TIMEOUT,
            url=spec.url,
        )

    def _resolved(self, spec: RequestSpec) -> RequestSpec:
        """``spec`` sent to the chute's real slug, for a handle made with ``resolve=True``
        (the platform adds a suffix to a slug that clashes)."""
        target = spec.target
        if not target.resolve or target.chute is None:
            return spec
        info = self.lookup(target.chute)
        real = subdomain(info.slug, self.config.domain) if info.slug else target
        return attrs.evolve(spec, url=real.base_url + spec.url[len(target.base_url) :], target=real)

    def _waited_for_hot(
        self, spec: RequestSpec, record: CallRecord, response: Response, deadline: float | None
    ) -> bool:
        """For ``RetryPolicy(wait_for_hot=...)``: on a cold chute's 503, wait (once per call)
        until it is hot. Whether the call should be sent again now."""
        limit = self.config.retry_policy.wait_for_hot
        if limit is None or record.waited or response.status_code != 503:
            return False
        if not is_cold_start(describe_body(response.content, response.content_type)[1]):
            return False
        record.waited = True
        chute = self._chute_of(spec)
        if chute is None:
            return False
        if deadline is not None:
            limit = min(limit, max(0.0, deadline - time.monotonic()))
        LOGGER.info("chute %s is cold: waiting up to %.0f s for it to warm up", chute, limit)
        started = time.monotonic()
        try:
            self.warm(chute, limit)
        except APITimeoutError:
            LOGGER.info("chute %s is still cold after %.0f s", chute, limit)
            return False
        LOGGER.info(
            "chute %s is hot after %.1f s: sending again", chute, time.monotonic() - started
        )
        return True

    def _chute_of(self, spec: RequestSpec) -> str | None:
        """The chute a call went to: its name or id, or for the gateway the chute of the
        body's model (from ``/v1/models``)."""
        if spec.target.chute is not None:
            return spec.target.chute
        if spec.target.base_url != self.config.llm_url or not spec.content:
            return None
        try:
            model = json.loads(spec.content).get("model")
            found = {m.id: m.chute_id for m in self.models(spec.target)}
        except (ValueError, AttributeError, ChutesError):
            return None
        return found.get(model) if isinstance(model, str) else None

    def _explained(self, error: ChutesError, spec: RequestSpec) -> ChutesError:
        """``error`` with what the client knows added: close model names for a gateway's
        "model not found", the chute's cords for "No matching cord found!"."""
        if isinstance(error, ModelNotFoundError):
            try:
                known = [m.id for m in self.models(spec.target)]
            except ChutesError:
                known = []  # best effort: never a second error
            error.suggestions = tuple(close_model_names(error.model, known))
            if error.suggestions:
                add_hint(error, f"did you mean {', '.join(error.suggestions)}?")
        elif isinstance(error, NotFoundError) and NO_CORD in error.message:
            info = self.pool.known.chute(spec.target.base_url)
            if info is not None and info.cords:
                cords = ", ".join(f"{c.method} {c.path}" for c in info.cords)
                add_hint(error, f"its cords: {cords}")
        return error

    def open(self, spec: RequestSpec) -> tuple[httpx.Response, Response, float | None]:
        """Send a streaming call and count it; the event-stream body comes back unread, with
        the call's deadline, if it has one.

        Raises:
            DecodeError: for a success that is not ``text/event-stream``.
        """
        record = CallRecord()
        try:
            raw, response = self.send(spec, record, stream=True)
            content_type = response.headers.get("content-type")
            if not is_event_stream(content_type):
                try:
                    body = self._read(raw, spec, record.deadline)
                finally:
                    raw.close()
                raise not_event_stream_error(content_type, body or b"")
        except ChutesError:
            self._record(spec, record, failed=True)
            raise
        self._record(spec, record, failed=False)
        return raw, response, record.deadline

    def download(self, target: Target, url: str) -> bytes:
        """GET an absolute URL a chute returned, with this pool (the key only to the chute's
        own origin)."""
        spec = build_download(self.config, self._headers, target, url)
        return (self.send(spec, CallRecord()))[1].content

    def tokens(self, target: Target, usage: Usage | None, model: str | None = None) -> None:
        """Add a response's reported tokens to the books (to its model's too)."""
        if usage is not None:
            self.usage.record_tokens(
                target.base_url,
                usage.prompt_tokens or 0,
                usage.completion_tokens or 0,
                usage.total_tokens or 0,
                model,
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
        reason = None
        if status == 429 and response is not None:
            reason = classify_429(response.content, response.headers.get("content-type"))
        decision = retry.decide(
            self.config.retry_policy,
            reason=reason,
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


def _json(response: Response) -> Any:
    return response.json()

"""What both facades share that is not I/O: settings, targets, request building, decisions,
logging and usage. ``Client`` and ``AsyncClient`` add only the transport verbs on top.
"""

from __future__ import annotations

import logging
import os
import random
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

import attrs

from ._core import retry
from ._core.config import (
    ClientConfig,
    NotGiven,
    RetryPolicy,
    TimeoutTypes,
    make_config,
)
from ._core.errors import APIConnectionError, ChutesError, status_error
from ._core.models import Usage
from ._core.ratelimit import RateLimit, TokenBucket
from ._core.requests import ParamsTypes, RequestSpec, base_headers, build_request
from ._core.targets import Target, resolve_target
from ._core.usage import UsageSnapshot, UsageTracker
from ._response import Response

__all__ = [
    "LOGGER",
    "BaseChute",
    "BaseClient",
    "CallRecord",
    "PoolState",
    "llm_target",
    "make_limiter",
]

LOGGER: Final = logging.getLogger("chutes")
_HANDLER_MARK: Final = "_chutes_env_handler"


def _configure_logging(level: str | None) -> None:
    """Attach one stderr handler when ``CHUTES_LOG`` asks for it (never twice)."""
    if level is None:
        return
    LOGGER.setLevel(level.upper())
    if not any(getattr(h, _HANDLER_MARK, False) for h in LOGGER.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        setattr(handler, _HANDLER_MARK, True)
        LOGGER.addHandler(handler)


@attrs.define(slots=True)
class CallRecord:
    """What one call did, filled in by the attempt loop for the usage tracker."""

    attempts: int = 0
    headers: Mapping[str, str] | None = None


@attrs.define(slots=True, eq=False, kw_only=True)
class PoolState:
    """What a client and its ``with_options`` copies share besides the httpx client itself:
    ownership, the closed flag, the rate limiter, the process that opened the sockets, and
    the transport's parsed URLs (kept per client, so they go with it).
    """

    owned: bool
    limiter: TokenBucket | None
    closed: bool = False
    pid: int = attrs.field(factory=os.getpid)
    urls: dict[str, Any] = attrs.field(factory=dict)

    def forked(self) -> bool:
        """Whether this process is a fork of the one that opened the pool's sockets."""
        return self.pid != os.getpid()

    def __del__(self) -> None:
        if self.owned and not self.closed:
            warnings.warn(
                "a chutes client was garbage-collected without being closed; use it as a "
                "context manager or call close() / aclose()",
                ResourceWarning,
                stacklevel=2,
            )


def make_limiter(config: ClientConfig) -> TokenBucket | None:
    """The token bucket for the client's rate limit, if it has one."""
    return None if config.rate_limit is None else TokenBucket(config.rate_limit)


class BaseClient:
    """Settings, target resolution and the decisions both facades execute."""

    _config: ClientConfig
    _headers: dict[str, str]
    _json_headers: dict[str, str]
    _usage: UsageTracker

    def _setup(
        self,
        api_key: str | None,
        *,
        auth_header: str,
        api_url: str | None,
        domain: str,
        timeout: TimeoutTypes,
        max_retries: int,
        retry_policy: RetryPolicy | None,
        default_headers: Mapping[str, str] | None,
        rate_limit: float | RateLimit | None,
    ) -> None:
        self._config = make_config(
            os.environ,
            api_key=api_key,
            auth_header=auth_header,
            api_url=api_url,
            domain=domain,
            timeout=timeout,
            max_retries=max_retries,
            retry_policy=retry_policy,
            default_headers=default_headers,
            rate_limit=rate_limit,
        )
        _configure_logging(self._config.log_level)
        self._derive(self._config)
        self._usage = UsageTracker()

    def _derive(self, config: ClientConfig) -> None:
        self._config = config
        self._headers = base_headers(config)
        self._json_headers = base_headers(config, json=True)

    def __repr__(self) -> str:
        c = self._config
        return (
            f"<{type(self).__name__} api_url={c.api_url!r} auth_header={c.auth_header!r} "
            f"max_retries={c.max_retries}>"
        )

    @property
    def usage(self) -> UsageSnapshot:
        """A snapshot of this client's calls, failures, retries, tokens and last quota."""
        return self._usage.snapshot()

    @property
    def timeout(self) -> Any:
        """The client's default :class:`chutes.Timeout`."""
        return self._config.timeout

    @property
    def max_retries(self) -> int:
        """The client's default retry count."""
        return self._config.max_retries

    def _target(
        self,
        name: str | None,
        *,
        slug: str | None,
        id: str | None,
        url: str | None,
    ) -> Target:
        return resolve_target(
            name,
            slug=slug,
            id=id,
            url=url,
            domain=self._config.domain,
            api_url=self._config.api_url,
        )

    def _spec(
        self,
        target: Target,
        method: str,
        path: str,
        *,
        json: Any,
        content: bytes | None,
        headers: Mapping[str, str] | None,
        params: ParamsTypes | None,
        timeout: TimeoutTypes | NotGiven,
        max_retries: int | NotGiven,
    ) -> RequestSpec:
        return build_request(
            self._config,
            self._headers,
            target,
            method,
            path,
            json=json,
            content=content,
            headers=headers,
            params=params,
            timeout=timeout,
            max_retries=max_retries,
            prepared_json_headers=self._json_headers,
        )

    def _decide(
        self,
        spec: RequestSpec,
        record: CallRecord,
        started: float,
        *,
        response: Response | None = None,
        error: APIConnectionError | None = None,
    ) -> retry.Decision:
        """Log the attempt and decide what follows it."""
        record.attempts += 1
        elapsed = time.monotonic() - started
        if response is not None:
            status: int | None = response.status_code
            outcome = str(status)
            record.headers = response.headers
        else:
            assert error is not None
            status, outcome = None, error.failure.name.lower()
        decision = retry.decide(
            self._config.retry_policy,
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
                elapsed,
                record.attempts,
            )
            if isinstance(decision, retry.Retry):
                LOGGER.debug("retrying %s %s in %.3fs", spec.method, spec.url, decision.delay)
        return decision

    @staticmethod
    def _status_error(response: Response, decision: retry.Decision) -> ChutesError:
        retry_after = decision.retry_after if isinstance(decision, retry.Fail) else None
        return status_error(response, retry_after=retry_after)

    @contextmanager
    def _track(self, spec: RequestSpec) -> Iterator[CallRecord]:
        """Count the call in usage: a failure if a chutes error escapes, else a success."""
        record = CallRecord()
        try:
            yield record
        except ChutesError:
            self._record(spec, record, failed=True)
            raise
        self._record(spec, record, failed=False)

    def _count_tokens(self, target: Target, usage: Usage | None) -> None:
        """Add a response's reported tokens to the usage counters."""
        if usage is not None:
            self._usage.record_tokens(
                target.base_url, usage.prompt_tokens, usage.completion_tokens, usage.total_tokens
            )

    def _record(self, spec: RequestSpec, record: CallRecord, *, failed: bool) -> None:
        self._usage.record_call(
            spec.target.base_url,
            failed=failed,
            retries=max(0, record.attempts - 1),
            headers=record.headers,
        )
        if LOGGER.isEnabledFor(logging.INFO) and failed:
            LOGGER.info("%s %s failed after %d attempt(s)", spec.method, spec.url, record.attempts)


class BaseChute:
    """A chute handle's shared part: its target and the client it calls through."""

    __slots__ = ("_client", "target")

    def __init__(self, client: Any, target: Target) -> None:
        self._client = client
        self.target = target

    @property
    def base_url(self) -> str:
        """The chute's base URL (no trailing slash)."""
        return self.target.base_url

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.target.base_url}>"


def llm_target(client: BaseClient) -> Target:
    """The ``llm`` gateway of the client's domain."""
    return client._target(None, slug="llm", id=None, url=None)

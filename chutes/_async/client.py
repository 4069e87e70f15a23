"""``chutes.AsyncClient`` and ``chutes.AsyncChute``: the facade users call.

Create one client per app, share it across threads or tasks, and close it when done.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import attrs
import httpx

from .._core.config import (
    DEFAULT_DOMAIN,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    NOT_GIVEN,
    ClientConfig,
    NotGiven,
    ResponseLimits,
    RetryPolicy,
    Timeout,
    TimeoutTypes,
    make_config,
)
from .._core.errors import ConfigurationError
from .._core.platform import ChuteInfo, Pricing, WarmupEvent, pricing
from .._core.public import export
from .._core.ratelimit import RateLimit, TokenBucket
from .._core.requests import BODY_OPTIONS, GET_OPTIONS, SAVING_OPTIONS, call_options
from .._core.targets import Target, resolve_target
from .._core.usage import UsageSnapshot, UsageTracker
from .._response import Response
from .._runtime import AsyncRuntime
from .batch import AsyncBatch
from .caller import AsyncCaller, AsyncPool, configure_logging, new_http
from .platform import AsyncAccount, AsyncChutes
from .resources import AsyncChat, AsyncCompletions, AsyncEmbeddings, AsyncImages, AsyncModels
from .streams import AsyncEventStream

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .._core.requests import BodyOptions, GetOptions, SavingOptions

__all__ = ["AsyncChute", "AsyncClient"]


def _limiter(config: ClientConfig) -> TokenBucket | None:
    return None if config.rate_limit is None else TokenBucket(config.rate_limit)


class AsyncClient:
    """A client for chutes: address chutes, call any cord, use the OpenAI-compatible helpers.

    Args:
        api_key: the API key; falls back to ``CHUTES_API_KEY``.
        auth_header: ``"authorization"`` (``Bearer`` key, the default) or ``"x-api-key"``.
        api_url: the platform API (``CHUTES_API_URL``, else ``https://api.chutes.ai``).
        llm_url: the OpenAI-compatible gateway (``CHUTES_LLM_URL``, else
            ``https://llm.{domain}``), for a proxy or any other gateway.
        domain: the domain chute subdomains live under.
        timeout: seconds for every phase, or a :class:`chutes.Timeout`.
        max_retries: retries per call (see :class:`chutes.RetryPolicy` for what is retried).
        retry_policy: what is retried and the backoff.
        default_headers: extra headers sent on every request.
        http_client: an ``httpx.AsyncClient`` to send with; it is never closed by this client.
        transport: an httpx transport for a client this one makes and owns (the testing
            kit's fake platform, a mounted proxy); not with ``http_client``.
        rate_limit: requests per minute (or a :class:`chutes.RateLimit`) for every thread
            or task using this client and its ``with_options`` copies; off by default.
        response_limits: the most a response body or event may hold in memory.
        e2ee: send every call that has a body end-to-end encrypted (the ``[e2ee]``
            extra); a call's own ``e2ee=`` overrides it.

    A client can be pickled (its configuration, the key included) to send it to worker
    processes; the copy opens a fresh pool. A client used after ``os.fork()`` opens a fresh
    pool in the child.

    Raises:
        ConfigurationError: when no key is found or an argument is invalid.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        auth_header: str = "authorization",
        api_url: str | None = None,
        llm_url: str | None = None,
        domain: str = DEFAULT_DOMAIN,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_policy: RetryPolicy | None = None,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        rate_limit: float | RateLimit | None = None,
        response_limits: ResponseLimits | None = None,
        e2ee: bool = False,
    ) -> None:
        config = make_config(
            os.environ,
            api_key=api_key,
            auth_header=auth_header,
            api_url=api_url,
            llm_url=llm_url,
            domain=domain,
            timeout=timeout,
            max_retries=max_retries,
            retry_policy=retry_policy,
            default_headers=default_headers,
            rate_limit=rate_limit,
            response_limits=response_limits,
            e2ee=e2ee,
        )
        if config.e2ee:
            from .._e2ee import require_e2ee

            require_e2ee()
        configure_logging(config.log_level)
        if http_client is not None:
            if not isinstance(http_client, httpx.AsyncClient):
                raise ConfigurationError("http_client must be an httpx.AsyncClient")
            if transport is not None:
                raise ConfigurationError("pass either http_client= or transport=, not both")
        pool = AsyncPool(
            http_client or new_http(transport),
            owned=http_client is None,
            limiter=_limiter(config),
        )
        self._caller = AsyncCaller(config, pool, UsageTracker(), type(self).__name__)

    @classmethod
    def _restore(cls, config: ClientConfig) -> AsyncClient:
        """Rebuild a pickled client: the same configuration, a fresh pool of its own."""
        client = object.__new__(cls)
        pool = AsyncPool(new_http(), owned=True, limiter=_limiter(config))
        client._caller = AsyncCaller(config, pool, UsageTracker(), cls.__name__)
        return client

    def __reduce__(self) -> tuple[Any, ...]:
        return (self._restore, (self._caller.config,))

    def __repr__(self) -> str:
        config = self._caller.config
        return (
            f"<{type(self).__name__} api_url={config.api_url!r} "
            f"auth_header={config.auth_header!r} max_retries={config.max_retries}>"
        )

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
        caller = self._caller
        config = caller.config.evolve(
            timeout=timeout,
            max_retries=max_retries,
            retry_policy=retry_policy,
            default_headers=default_headers,
        )
        clone = object.__new__(type(self))
        clone._caller = AsyncCaller(config, caller.pool, caller.usage, caller.what)
        return clone

    @property
    def usage(self) -> UsageSnapshot:
        """A snapshot of this client's calls, failures, retries, tokens, last quota and
        estimated spend.

        The spend comes from the gateway's model prices, read once, when first asked (here)
        after tokens were counted for a model; until then (and, on an ``AsyncClient``, until
        that read finishes in the background) ``cost_usd`` is ``None``.
        """
        caller = self._caller
        if caller.usage.claim_prices() and not AsyncRuntime.soon(caller.fetch_prices):
            caller.usage.release_prices()
        return caller.usage.snapshot()

    @property
    def timeout(self) -> Timeout:
        """The client's default :class:`chutes.Timeout`."""
        return self._caller.config.timeout

    @property
    def max_retries(self) -> int:
        """The client's default retry count."""
        return self._caller.config.max_retries

    def chute(
        self,
        name: str | None = None,
        *,
        slug: str | None = None,
        id: str | None = None,
        url: str | None = None,
        resolve: bool = False,
    ) -> AsyncChute:
        """A handle on one chute, addressed by exactly one of the four forms.

        Args:
            name: ``"username/chute-name"``, reached at its slug's subdomain.
            slug: the subdomain slug itself (one DNS label).
            id: the chute's UUID, reached at ``{api_url}/chutes/{id}``.
            url: any absolute http(s) base URL.
            resolve: with a name, reach the chute at its real slug, looked up on the platform
                once per client before the first call (a slug that clashed with another has a
                ``-xxxxx`` suffix only a lookup reveals).

        Raises:
            ConfigurationError: for zero or several forms, or an invalid one.
        """
        config = self._caller.config
        target = resolve_target(
            name, slug=slug, id=id, url=url, domain=config.domain, api_url=config.api_url
        )
        if resolve:
            if name is None:
                raise ConfigurationError("resolve=True looks a chute up by its name")
            target = attrs.evolve(target, resolve=True)
        return AsyncChute(self._caller, target)

    @property
    def chutes(self) -> AsyncChutes:
        """The platform's chutes: ``get``, ``list``, ``status``, ``warmup``."""
        return AsyncChutes(self._caller)

    @property
    def account(self) -> AsyncAccount:
        """The account: ``me``, ``quotas``, ``quota_usage``, ``subscription``, ``usage``."""
        return AsyncAccount(self._caller)

    async def pricing(self) -> Pricing:
        """The platform's compute prices (TAO in USD, GPU hourly estimates)."""
        caller = self._caller
        return pricing(await caller.get_json(caller.api(), "/pricing"))

    @property
    def llm(self) -> AsyncChute:
        """The OpenAI-compatible gateway (``llm_url``), whose ``model`` field picks the chute."""
        return self.chute(url=self._caller.config.llm_url)

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`aclose` was called (on this client or the one it was copied from)."""
        return self._caller.pool.closed

    async def aclose(self) -> None:
        """Close the connection pool (a borrowed ``http_client`` is left open)."""
        await self._caller.pool.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class AsyncChute:
    """One chute: call any cord, stream events, or use the OpenAI-compatible helpers
    (``chat``, ``completions``, ``embeddings``, ``images``, ``models``).

    Every call takes the options ``headers=``, ``params=``, ``timeout=`` and
    ``max_retries=``; those with a body take ``json=`` or ``content=``.
    """

    __slots__ = ("_caller", "target")

    def __init__(self, caller: AsyncCaller, target: Target) -> None:
        self._caller = caller
        self.target = target

    @property
    def base_url(self) -> str:
        """The chute's base URL (no trailing slash)."""
        return self.target.base_url

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.target.base_url}>"

    @property
    def chat(self) -> AsyncChat:
        """``chat.completions.create(...)`` against ``/v1/chat/completions``."""
        return AsyncChat(self._caller, self.target)

    @property
    def completions(self) -> AsyncCompletions:
        """``completions.create(...)`` against ``/v1/completions``."""
        return AsyncCompletions(self._caller, self.target)

    @property
    def embeddings(self) -> AsyncEmbeddings:
        """``embeddings.create(...)`` against ``/v1/embeddings``."""
        return AsyncEmbeddings(self._caller, self.target)

    @property
    def images(self) -> AsyncImages:
        """``images.generate(...)``: OpenAI's images API, or a raw-bytes cord (``/generate``)."""
        return AsyncImages(self._caller, self.target)

    @property
    def models(self) -> AsyncModels:
        """``models.list()`` against ``/v1/models``."""
        return AsyncModels(self._caller, self.target)

    async def info(self) -> ChuteInfo:
        """The chute's details on the platform (see :meth:`AsyncChutes.get`).

        Raises:
            ConfigurationError: for a chute addressed by slug or URL (not a platform name).
        """
        return await self._caller.lookup(self._platform_name())

    async def warmup(
        self,
        *,
        timeout: float | None = 600.0,
        on_status: Callable[[WarmupEvent], object] | None = None,
    ) -> WarmupEvent:
        """Warm the chute up and return once it is hot (see :meth:`AsyncChutes.warmup`).

        Raises:
            ConfigurationError: for a chute addressed by slug or URL.
            APITimeoutError: when it is not hot within ``timeout``.
        """
        return await self._caller.warm(self._platform_name(), timeout, on_status)

    def _platform_name(self) -> str:
        if self.target.chute is None:
            raise ConfigurationError(
                "this chute was addressed by slug or URL: address it by name or id= to "
                "look it up on the platform"
            )
        return self.target.chute

    @property
    def batch(self) -> AsyncBatch:
        """``batch.run(...)`` / ``batch.stream(...)``: many requests to this chute, paced,
        retried and resumable."""
        return AsyncBatch(self._caller, self.target)

    async def request(self, method: str, path: str, **options: Unpack[SavingOptions]) -> Response:
        """Call a cord and return its whole response.

        Args:
            method: the HTTP method.
            path: the cord's path, relative to the chute (``"generate"`` or ``"/generate"``).
            **options: ``json=`` or ``content=`` (the body), ``headers=``, ``params=``,
                ``timeout=``, ``max_retries=``, and ``save_to=`` (a file a success body is
                written to as it arrives, not held in memory; ``response.path`` is then
                that file and ``response.content`` empty).

        Raises:
            ConfigurationError: for invalid arguments, before any traffic.
            APIStatusError: (a subclass per status) when the chute answers an error.
            APIConnectionError: when no complete response arrives.
        """
        call = call_options(options, SAVING_OPTIONS)
        spec = self._caller.spec(self.target, method, path, call)
        return await self._caller.call(spec, _same)

    async def get(self, path: str, **options: Unpack[GetOptions]) -> Response:
        """``GET`` a cord; see :meth:`request`."""
        call_options(options, GET_OPTIONS)
        return await self.request("GET", path, **options)

    async def post(self, path: str, **options: Unpack[SavingOptions]) -> Response:
        """``POST`` to a cord; see :meth:`request`."""
        return await self.request("POST", path, **options)

    def stream(
        self, path: str, *, method: str = "POST", **options: Unpack[BodyOptions]
    ) -> AsyncEventStream:
        """Call a cord that answers with server-sent events; use it as a context manager.

        The request is sent on entering the block (or on first iteration); error statuses
        raise there, retried like any call. Once an event has reached you nothing is
        retried. The response is always closed on leaving the block.

        Raises:
            ConfigurationError: for invalid arguments, at once.
        """
        spec = self._caller.spec(self.target, method, path, call_options(options, BODY_OPTIONS))
        return AsyncEventStream(self._caller, spec)


def _same(response: Response) -> Response:
    return response


export(__all__, globals())

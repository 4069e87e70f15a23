"""Frozen client settings and environment reading.

Rule: settings are immutable values; the environment is read by a pure function over a
``Mapping`` so tests never touch ``os.environ``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal, TypeVar

import attrs

from .errors import ConfigurationError
from .public import export
from .ratelimit import RateLimit
from .targets import normalize_base_url

__all__ = ["NOT_GIVEN", "NotGiven", "ResponseLimits", "RetryPolicy", "Timeout"]

ENV_API_KEY: Final = "CHUTES_API_KEY"
ENV_API_URL: Final = "CHUTES_API_URL"
ENV_LLM_URL: Final = "CHUTES_LLM_URL"
ENV_LOG: Final = "CHUTES_LOG"
DEFAULT_API_URL: Final = "https://api.chutes.ai"
DEFAULT_DOMAIN: Final = "chutes.ai"
DEFAULT_MAX_RETRIES: Final = 2


class NotGiven(enum.Enum):
    """Marks an argument the caller left out: "use the client default", unlike ``None``."""

    NOT_GIVEN = enum.auto()

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> Literal[False]:
        return False


NOT_GIVEN: Final = NotGiven.NOT_GIVEN


def _non_negative(name: str) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(_: Any, __: attrs.Attribute[Any], value: Any) -> None:
        if value is not None and (value != value or value < 0):  # NaN compares unequal
            raise ConfigurationError(
                f"{name} must be a non-negative number of seconds, got {value!r}"
            )

    return check


@attrs.frozen
class Timeout:
    """Timeouts in seconds for each phase of a request, and for a call as a whole; ``None``
    means no limit.

    Defaults: connect 10 s, read 600 s (cold chutes and long generations are slow), write 60 s,
    pool 30 s, no total. ``total`` bounds the whole call end to end: every attempt, every
    backoff sleep and, for a stream, its whole life (each wait for bytes included, so a
    server that drips a byte just under the read timeout cannot hold it longer).
    """

    connect: float | None = attrs.field(default=10.0, validator=_non_negative("connect timeout"))
    read: float | None = attrs.field(default=600.0, validator=_non_negative("read timeout"))
    write: float | None = attrs.field(default=60.0, validator=_non_negative("write timeout"))
    pool: float | None = attrs.field(default=30.0, validator=_non_negative("pool timeout"))
    total: float | None = attrs.field(default=None, validator=_non_negative("total timeout"))

    @classmethod
    def coerce(cls, value: TimeoutTypes) -> Timeout:
        """Return ``value`` as a :class:`Timeout`; a number (or ``None``) bounds every phase.

        Raises:
            ConfigurationError: for anything that is not a number, ``None`` or a ``Timeout``.
        """
        if isinstance(value, Timeout):
            return value
        if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
            seconds = None if value is None else float(value)
            return cls(connect=seconds, read=seconds, write=seconds, pool=seconds)
        raise ConfigurationError(
            "timeout must be a number of seconds, None or chutes.Timeout, "
            f"got {type(value).__name__}"
        )


TimeoutTypes = float | int | None | Timeout
DEFAULT_TIMEOUT: Final = Timeout()


def _statuses(value: object) -> frozenset[int]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ConfigurationError("RetryPolicy.statuses must be a set of HTTP status codes")
    result = frozenset(value)
    if not all(isinstance(s, int) and 100 <= s <= 599 for s in result):
        raise ConfigurationError("RetryPolicy.statuses must hold HTTP status codes (100-599)")
    return result


@attrs.frozen
class RetryPolicy:
    """What is retried and how long to wait in between.

    The defaults retry only what surely did not run or failed fast (connection failures and
    408, 429, 500, 502, 503); read timeouts and 504 are not retried because the work may have
    run and been billed. ``max_retries`` (on the client or per request) stays the count.

    Attributes:
        initial_delay: the first backoff delay in seconds; ``0`` means never sleep.
        max_delay: the cap on any delay, ``Retry-After`` included; a longer ``Retry-After``
            ends the retries and the error carries ``.retry_after``.
        jitter: spread each delay randomly over [delay/2, delay] so clients do not retry in step.
        statuses: the HTTP statuses that are retried.
        retry_read_timeouts: also retry read timeouts (risks running the work twice).
        retry_rate_limited: also retry a 429 from the edge's rate limit (a retry soon
            lengthens the ban; lower the rate instead). A daily limit is never retried.
        wait_for_hot: on a 503 from a cold chute, wait up to this many seconds for it to be
            hot (following its warm-up), then send once more; ``None`` (the default): off.
    """

    initial_delay: float = attrs.field(default=0.5, validator=_non_negative("initial_delay"))
    max_delay: float = attrs.field(default=30.0, validator=_non_negative("max_delay"))
    jitter: bool = True
    statuses: frozenset[int] = attrs.field(
        default=frozenset({408, 429, 500, 502, 503}), converter=_statuses
    )
    retry_read_timeouts: bool = False
    retry_rate_limited: bool = False
    wait_for_hot: float | None = attrs.field(default=None, validator=_non_negative("wait_for_hot"))


def _positive_size(name: str) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(_: Any, __: attrs.Attribute[Any], value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigurationError(f"ResponseLimits.{name} must be a positive int of bytes")

    return check


@attrs.frozen
class ResponseLimits:
    """The most a response may make the client hold in memory.

    Attributes:
        body: the most bytes a response body may decode to (after decompression, so a
            small compressed body cannot expand past it); default 256 MiB.
        event: the most bytes one server-sent event (or line) may hold; default 16 MiB.

    Past a limit the call raises :class:`chutes.ResponseTooLargeError`; nothing partial is
    returned. ``save_to=`` streams a body to a file, where no body limit applies.
    """

    body: int = attrs.field(default=256 * 2**20, validator=_positive_size("body"))
    event: int = attrs.field(default=16 * 2**20, validator=_positive_size("event"))


DEFAULT_LIMITS: Final = ResponseLimits()


_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# Visible ASCII and inner spaces/tabs only: CR, LF and other controls would split the header.
_HEADER_VALUE = re.compile(r"^[\x21-\x7e]([\x20-\x7e\t]*[\x21-\x7e])?$|^$")


def check_header(name: str, value: str) -> None:
    """Refuse a header that would be malformed on the wire or could inject another header.

    Raises:
        ConfigurationError: naming the header, never echoing its value (it may be a secret).
    """
    if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
        raise ConfigurationError(f"invalid HTTP header name {name!r}")
    if not isinstance(value, str):
        raise ConfigurationError(f"the value of header {name!r} must be a str")
    if not _HEADER_VALUE.fullmatch(value):
        raise ConfigurationError(
            f"the value of header {name!r} holds characters not allowed in an HTTP header "
            "(control characters, CR/LF, non-ASCII, or surrounding whitespace)"
        )


_KEY: Final = re.compile(r"[\x21-\x7e]+")
_AUTH_HEADERS: Final = {"authorization": "Authorization", "x-api-key": "X-API-Key"}
_LOG_LEVELS: Final = frozenset({"debug", "info", "warning", "error"})


@attrs.frozen(repr=False)
class ClientConfig:
    """Everything a client needs to build requests, fixed at construction.

    The key is held here and nowhere else; ``repr`` never shows it.
    """

    api_key: str
    auth_header: str
    api_url: str
    domain: str
    timeout: Timeout
    max_retries: int
    retry_policy: RetryPolicy
    default_headers: tuple[tuple[str, str], ...]
    log_level: str | None
    llm_url: str = "https://llm.chutes.ai"
    rate_limit: RateLimit | None = None
    response_limits: ResponseLimits = DEFAULT_LIMITS
    e2ee: bool = False

    def __repr__(self) -> str:
        return (
            f"ClientConfig(api_url={self.api_url!r}, domain={self.domain!r}, "
            f"auth_header={self.auth_header!r}, timeout={self.timeout!r}, "
            f"max_retries={self.max_retries!r})"
        )

    def auth_headers(self) -> dict[str, str]:
        """The one header that carries the key, in the configured form."""
        if self.auth_header == "Authorization":
            return {"Authorization": f"Bearer {self.api_key}"}
        return {self.auth_header: self.api_key}

    def evolve(
        self,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        retry_policy: RetryPolicy | NotGiven = NOT_GIVEN,
        default_headers: Mapping[str, str] | NotGiven | None = NOT_GIVEN,
    ) -> ClientConfig:
        """A copy with the given options replaced; ``default_headers`` are merged over ours."""
        changes: dict[str, Any] = {}
        if not isinstance(timeout, NotGiven):
            changes["timeout"] = Timeout.coerce(timeout)
        if not isinstance(max_retries, NotGiven):
            changes["max_retries"] = check_max_retries(max_retries)
        if not isinstance(retry_policy, NotGiven):
            changes["retry_policy"] = _option("retry_policy", retry_policy, RetryPolicy)
        if not isinstance(default_headers, NotGiven) and default_headers:
            merged = _check_default_headers(default_headers, dict(self.default_headers))
            changes["default_headers"] = tuple(merged.items())
        return attrs.evolve(self, **changes)


def check_max_retries(value: object) -> int:
    """Return ``value`` if it is a valid retry count.

    Raises:
        ConfigurationError: for a negative or non-integer count.
    """
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigurationError(f"max_retries must be a non-negative int, got {value!r}")
    return value


V = TypeVar("V")


def check_flag(name: str, value: object) -> bool:
    """``value`` if it is ``True`` or ``False``, else a ConfigurationError naming ``name``
    (a string such as ``"false"`` is truthy, so it is refused rather than guessed at)."""
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, got {type(value).__name__}")
    return value


def _option(name: str, value: object, cls: type[V]) -> V:
    """``value`` if it is a ``cls``, else a ConfigurationError naming the option."""
    if not isinstance(value, cls):
        raise ConfigurationError(
            f"{name} must be a chutes.{cls.__name__}, got {type(value).__name__}"
        )
    return value


# Headers the client owns: the key's two headers, and those that decide where and how the
# request goes, which no input may change (the framing and hop-by-hop headers of RFC 9110
# section 7.6.1 among them: a caller's Transfer-Encoding or Connection would change how the
# body is framed or how the connection is used).
PROTECTED_HEADERS: Final = frozenset(
    {
        "authorization",
        "x-api-key",
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "upgrade",
        "te",
        "trailer",
        "keep-alive",
        "proxy-connection",
    }
)


def check_extra_header(name: str, value: str) -> None:
    """Refuse a caller's header that is malformed or is one the client owns.

    Raises:
        ConfigurationError: naming the header.
    """
    check_header(name, value)
    lowered = name.lower()
    if lowered in _AUTH_HEADERS:
        raise ConfigurationError(
            f"do not pass the key in the {name!r} header; use api_key= (and auth_header=)"
        )
    if lowered in PROTECTED_HEADERS:
        raise ConfigurationError(f"the {name!r} header is set by the client; do not pass it")


def set_header(headers: dict[str, str], name: str, value: str) -> None:
    """Set ``name`` in ``headers``, replacing any spelling of it (HTTP names ignore case)."""
    lowered = name.lower()
    for existing in [k for k in headers if k.lower() == lowered]:
        del headers[existing]
    headers[name] = value


def _check_default_headers(
    headers: Mapping[str, str], base: Mapping[str, str] | None = None
) -> dict[str, str]:
    result = dict(base or {})
    for name, value in headers.items():
        check_extra_header(name, value)
        set_header(result, name, value)
    return result


_DOMAIN = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$"
)


PROXY_VARIABLES: Final = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY")


def proxy_error(env: Mapping[str, str], problem: Exception) -> ConfigurationError:
    """The error for proxy settings in the environment that httpx refused, naming the
    variables set (never their user info)."""
    found = [name for upper in PROXY_VARIABLES for name in (upper, upper.lower()) if env.get(name)]
    names = ", ".join(found) or "the proxy environment variables"
    detail = re.sub(r"(?<=://)[^/\s'\"]*@", "***@", str(problem))
    return ConfigurationError(
        f"invalid proxy settings in the environment ({names}): {detail}. Fix or unset "
        "them, or pass an http_client= of your own"
    )


def make_config(
    env: Mapping[str, str],
    *,
    api_key: str | None,
    auth_header: str,
    api_url: str | None,
    domain: str,
    timeout: TimeoutTypes,
    max_retries: int,
    retry_policy: RetryPolicy | None,
    default_headers: Mapping[str, str] | None,
    rate_limit: float | RateLimit | None = None,
    response_limits: ResponseLimits | None = None,
    llm_url: str | None = None,
    e2ee: bool = False,
) -> ClientConfig:
    """Validate the client's arguments, fill gaps from ``env``, and freeze them.

    Args:
        env: the environment (``os.environ`` in real use; a dict in tests).

    Raises:
        ConfigurationError: naming the problem; when no key is found, naming ``CHUTES_API_KEY``.
    """
    key = api_key if api_key is not None else env.get(ENV_API_KEY)
    if not key:
        raise ConfigurationError(
            f"no API key: pass api_key= or set the {ENV_API_KEY} environment variable"
        )
    if not isinstance(key, str):
        raise ConfigurationError("api_key must be a str")
    header = _AUTH_HEADERS.get(auth_header.lower()) if isinstance(auth_header, str) else None
    if header is None:
        raise ConfigurationError(
            f"auth_header must be 'authorization' or 'x-api-key', got {auth_header!r}"
        )
    # A key is one token of visible ASCII: whitespace, CR/LF or non-ASCII could split the
    # header or never authenticate. The message never echoes the key.
    if not _KEY.fullmatch(key):
        raise ConfigurationError(
            "the API key holds whitespace, control characters or non-ASCII characters"
        )
    url = api_url if api_url is not None else env.get(ENV_API_URL) or DEFAULT_API_URL
    if not isinstance(domain, str) or not _DOMAIN.fullmatch(domain):
        raise ConfigurationError(f"domain must be a DNS name such as 'chutes.ai', got {domain!r}")
    level = (env.get(ENV_LOG) or "").strip().lower() or None
    if level is not None and level not in _LOG_LEVELS:
        raise ConfigurationError(
            f"{ENV_LOG} must be one of {', '.join(sorted(_LOG_LEVELS))}, got {level!r}"
        )
    gateway = llm_url if llm_url is not None else env.get(ENV_LLM_URL) or f"https://llm.{domain}"
    return ClientConfig(
        llm_url=normalize_base_url(gateway, what="llm_url"),
        api_key=key,
        auth_header=header,
        api_url=normalize_base_url(url, what="api_url"),
        domain=domain,
        timeout=Timeout.coerce(timeout),
        max_retries=check_max_retries(max_retries),
        retry_policy=(
            RetryPolicy()
            if retry_policy is None
            else _option("retry_policy", retry_policy, RetryPolicy)
        ),
        default_headers=tuple(_check_default_headers(default_headers or {}).items()),
        log_level=level,
        rate_limit=_check_rate_limit(rate_limit),
        response_limits=(
            DEFAULT_LIMITS
            if response_limits is None
            else _option("response_limits", response_limits, ResponseLimits)
        ),
        e2ee=check_flag("e2ee", e2ee),
    )


def _check_rate_limit(value: float | RateLimit | None) -> RateLimit | None:
    if value is None or isinstance(value, RateLimit):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return RateLimit(per_minute=value)
    raise ConfigurationError(
        f"rate_limit must be requests per minute or a chutes.RateLimit, got {type(value).__name__}"
    )


export(__all__, globals())

"""The exception tree and the HTTP status -> exception table.

Rule: HTTP failures become exceptions here, from a table, and nowhere else; transport
failures are made in the adapter. No exception text ever holds the API key or a request
header. The tree::

    ChutesError
    ├── ConfigurationError          bad key/target/option, raised before any traffic
    ├── APIConnectionError          could not connect / connection dropped
    │   └── APITimeoutError         (also a built-in TimeoutError)
    ├── APIStatusError              .status_code .detail .body .invocation_id .response
    │   ├── BadRequestError 400
    │   ├── AuthenticationError 401
    │   ├── PaymentRequiredError 402 (.quota_reset)
    │   ├── PermissionDeniedError 403
    │   ├── NotFoundError 404
    │   │   └── ModelNotFoundError      the gateway's "model not found: X" (.model, .suggestions)
    │   ├── UnprocessableEntityError 422
    │   ├── RateLimitError 429 (.retry_after, .reason)
    │   └── InternalServerError >=500
    │       └── ServiceUnavailableError 503
    ├── StreamError                 error line/event inside a stream, or a stream cut short
    ├── DecodeError                 a 2xx body that is not what the call expects
    └── ResponseTooLargeError       a body or event past the client's ResponseLimits
"""

from __future__ import annotations

import datetime as _dt
import enum
import html
import json
import re
from collections.abc import Mapping
from typing import Any, Final, Literal, Protocol

from .public import export

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ChutesError",
    "ConfigurationError",
    "ConnectionFailure",
    "DecodeError",
    "E2EEError",
    "InternalServerError",
    "ModelNotFoundError",
    "NotFoundError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseTooLargeError",
    "ServiceUnavailableError",
    "StreamError",
    "UnprocessableEntityError",
]

INVOCATION_ID_HEADER: Final = "x-chutes-invocationid"
NO_CORD: Final = "No matching cord found!"
_MAX_MESSAGE: Final = 1000


class ResponseLike(Protocol):
    """What the core reads of a response: headers are looked up by lower-case name."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def content(self) -> bytes: ...


class ChutesError(Exception):
    """The base of every error this library raises."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors do not survive pickle's default (args-only) rebuild.
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(cls: type[ChutesError], args: tuple[Any, ...], state: dict[str, Any]) -> ChutesError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class ConfigurationError(ChutesError, ValueError):
    """A bad key, target, path or option, raised before any network traffic."""


class ConnectionFailure(enum.Enum):
    """How a request failed below HTTP, which decides whether it may be retried."""

    CONNECT = "could not connect"
    CONNECT_TIMEOUT = "timed out connecting"
    POOL_TIMEOUT = "timed out waiting for a free connection in the pool"
    WRITE_TIMEOUT = "timed out sending the request"
    READ_TIMEOUT = "timed out waiting for the response"
    NO_RESPONSE = "the server closed the connection without answering"
    DROPPED = "the connection dropped while the response was being read"
    PROTOCOL = "the server broke the HTTP protocol"


class APIConnectionError(ChutesError):
    """The request did not get a complete HTTP response: no connection, or it dropped.

    Attributes:
        failure: the kind of failure (a :class:`ConnectionFailure`).
        url: the URL that was being requested.
    """

    def __init__(self, message: str, *, failure: ConnectionFailure, url: str) -> None:
        super().__init__(message)
        self.failure = failure
        self.url = url


class APITimeoutError(APIConnectionError, TimeoutError):
    """A connect, pool, write or read timeout; also a built-in :class:`TimeoutError`."""


class APIStatusError(ChutesError):
    """The server answered with a non-success HTTP status.

    Attributes:
        status_code: the HTTP status.
        detail: the server's ``detail`` (a string or object), or the best message found.
        body: the parsed JSON body, or the body text when it is not JSON.
        invocation_id: the platform's ``X-Chutes-InvocationID``, when sent.
        retry_after: the wait the server asked for, in seconds, when it asked.
        response: the :class:`chutes.Response`.
    """

    def __init__(
        self,
        message: str,
        *,
        response: Any,
        status_code: int,
        detail: Any,
        body: Any,
        invocation_id: str | None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.response = response
        self.status_code = status_code
        self.detail = detail
        self.body = body
        self.invocation_id = invocation_id
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code}, message={self.message!r})"

    def __str__(self) -> str:
        method = getattr(self.response, "method", None)
        url = getattr(self.response, "url", None)
        return f"{self.message} ({method} {url})" if method and url else self.message


class BadRequestError(APIStatusError):
    """HTTP 400."""


class AuthenticationError(APIStatusError):
    """HTTP 401: the key is missing, wrong or revoked."""


class PaymentRequiredError(APIStatusError):
    """HTTP 402: quota or balance exhausted.

    Attributes:
        quota_reset: when the quota resets (UTC), from ``quota_reset_timestamp``, if sent.
    """

    @property
    def quota_reset(self) -> _dt.datetime | None:
        """When the quota resets, parsed from the detail's ``quota_reset_timestamp``."""
        if isinstance(self.detail, Mapping):
            return _parse_timestamp(self.detail.get("quota_reset_timestamp"))
        return None


class PermissionDeniedError(APIStatusError):
    """HTTP 403."""


class NotFoundError(APIStatusError):
    """HTTP 404: no such chute, cord or model."""


class ModelNotFoundError(NotFoundError):
    """The gateway's 404 ``"model not found: X"``: often a stale model name.

    Attributes:
        model: the name the gateway did not know.
        suggestions: close names from the gateway's ``/v1/models`` (best effort; empty when
            none is close or the list could not be read).
    """

    model: str = ""
    suggestions: tuple[str, ...] = ()


class UnprocessableEntityError(APIStatusError):
    """HTTP 422: the body did not validate on the chute."""


RateLimitReason = Literal["daily_limit", "rate_limited", "capacity"]


class RateLimitError(APIStatusError):
    """HTTP 429, for one of three reasons the platform gives under one status.

    Attributes:
        reason: ``"daily_limit"`` (the free-model daily limit, or an invalid free model:
            retrying today does not help, so it is never retried), ``"rate_limited"`` (the
            edge's per-minute limit, a body that is not JSON: retrying soon lengthens the
            ban, so it is not retried by default) or ``"capacity"`` (every instance is busy,
            and any other JSON 429: retried).
    """

    reason: RateLimitReason = "capacity"


class InternalServerError(APIStatusError):
    """HTTP 500 and above."""


class ServiceUnavailableError(InternalServerError):
    """HTTP 503: no hot instance yet (a cold start can take minutes)."""


class StreamError(ChutesError):
    """A stream reported an error, or ended before it was complete.

    Attributes:
        partial_text: the text received before the failure.
        detail: the server's error value (string or object), when it sent one.
    """

    def __init__(self, message: str, *, partial_text: str = "", detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.partial_text = partial_text
        self.detail = detail


class DecodeError(ChutesError):
    """A success response whose body is not what the call expects (HTML, bad JSON, shape).

    Attributes:
        body: the raw body bytes.
        content_type: the response's content type, if any.
    """

    def __init__(self, message: str, *, body: bytes, content_type: str | None = None) -> None:
        super().__init__(message)
        self.body = body
        self.content_type = content_type


class ResponseTooLargeError(ChutesError):
    """A response body, or one server-sent event, is larger than the client's
    :class:`chutes.ResponseLimits` allow; nothing partial is returned.

    Attributes:
        limit: the limit that was passed, in bytes.
    """

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class E2EEError(ChutesError):
    """An end-to-end encryption failure: a malformed instances answer, a reply that does
    not decrypt, an encrypted stream out of order.

    The message never holds plaintext or key material.

    Attributes:
        message: what went wrong, without the chute and instance.
        chute_id: the chute the call was for, when known.
        instance_id: the instance the request was encrypted for, when known.
    """

    def __init__(
        self, message: str, *, chute_id: str | None = None, instance_id: str | None = None
    ) -> None:
        super().__init__(
            f"{message} (chute {chute_id or 'unknown'}, instance {instance_id or 'unknown'})"
        )
        self.message = message
        self.chute_id = chute_id
        self.instance_id = instance_id


_STATUS_TABLE: Final[Mapping[int, type[APIStatusError]]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def _error_class(status: int) -> type[APIStatusError]:
    found = _STATUS_TABLE.get(status)
    if found is not None:
        return found
    return InternalServerError if status >= 500 else APIStatusError


def status_error(response: ResponseLike, *, retry_after: float | None = None) -> APIStatusError:
    """Make the exception for a non-success response (the caller raises it).

    The message is the server's own words: ``detail`` (string, or an object's ``message``),
    OpenAI's ``error.message``, or the text of a plain or HTML body; never the raw body.
    A 429 says which kind it is; the gateway's "model not found" is a ModelNotFoundError.
    """
    status = response.status_code
    content_type = response.headers.get("content-type")
    body, detail, message = describe_body(response.content, content_type)
    if not message:
        message = f"HTTP {status}"
    cls = _error_class(status)
    reason: RateLimitReason | None = None
    model = parse_model_not_found(detail) if status == 404 else None
    if status == 429:
        reason = classify_429(response.content, content_type)
        message = _RATE_LIMIT_HINTS[reason].format(message=message)
    elif model is not None:
        cls = ModelNotFoundError
    elif status == 404 and "/v1/v1/" in str(getattr(response, "url", "")):
        message += " (the chute's URL should not end in /v1: the helpers add it)"
    error = cls(
        message,
        response=response,
        status_code=status,
        detail=detail,
        body=body,
        invocation_id=response.headers.get(INVOCATION_ID_HEADER),
        retry_after=retry_after,
    )
    if reason is not None:
        error.reason = reason  # type: ignore[attr-defined]
    if model is not None:
        error.model = model  # type: ignore[attr-defined]
    return error


def add_hint(error: ChutesError, hint: str) -> None:
    """Add ``hint`` to ``error``'s message (what the client knows that the server did not say)."""
    message = f"{error.args[0]} ({hint})" if error.args else hint
    error.args = (message, *error.args[1:])
    if "message" in vars(error):
        error.message = message  # type: ignore[attr-defined]


def scrub(error: ChutesError, secret: str) -> ChutesError:
    """``error`` with ``secret`` (the API key) replaced by ``***`` wherever the server
    echoed it: the message, the detail and the parsed body."""
    if not secret:
        return error
    error.args = tuple(_scrubbed(a, secret) for a in error.args)
    for name in ("message", "detail", "body"):
        if name in vars(error):
            setattr(error, name, _scrubbed(getattr(error, name), secret))
    return error


def _scrubbed(value: Any, secret: str) -> Any:
    if isinstance(value, str):
        return value.replace(secret, "***")
    if isinstance(value, Mapping):
        return {k: _scrubbed(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(v, secret) for v in value]
    return value


_RATE_LIMIT_HINTS: Final[Mapping[str, str]] = {
    "daily_limit": "{message} (a daily limit: retrying today does not help)",
    "rate_limited": (
        "{message} (the edge is rate limiting this client: lower the request rate, for "
        "example with rate_limit= on the client; retrying soon lengthens the ban)"
    ),
    "capacity": "{message}",
}
_DAILY_LIMIT_TEXTS: Final = ("free models limit reached", "invalid free model")
_MODEL_NOT_FOUND: Final = re.compile(r"^\s*model not found:\s*(.*?)\s*$", re.DOTALL)


def classify_429(body: bytes, content_type: str | None) -> RateLimitReason:
    """Why the platform answered 429, from the body (see :class:`RateLimitError`): a body
    that is not JSON (the edge's HTML page, or empty) is the edge's rate limit; the daily
    limit's texts are the daily limit; any other JSON 429 is capacity."""
    text = body.decode("utf-8", errors="replace").strip()
    if not text or "html" in (content_type or "").lower():
        return "rate_limited"
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return "rate_limited"
    detail = parsed.get("detail", parsed) if isinstance(parsed, Mapping) else parsed
    if detail_text(detail).strip().lower().startswith(_DAILY_LIMIT_TEXTS):
        return "daily_limit"
    return "capacity"


def parse_model_not_found(detail: Any) -> str | None:
    """The model name in the gateway's 404 ``"model not found: X"``, else ``None``."""
    found = _MODEL_NOT_FOUND.match(detail_text(detail)) if detail is not None else None
    return (found.group(1) or None) if found else None


def describe_body(content: bytes, content_type: str | None) -> tuple[Any, Any, str]:
    """Return ``(body, detail, message)`` for an error body of any shape."""
    text = content.decode("utf-8", errors="replace").strip()
    if text[:1] in ("{", "["):
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):
            pass
        else:
            detail = _json_detail(parsed)
            return parsed, detail, _shorten(detail_text(detail))
    if "html" in (content_type or "").lower() or text[:1] == "<":
        message = _html_text(text)
        return text, message, message
    return text, text, _shorten(text)


def _json_detail(parsed: Any) -> Any:
    if isinstance(parsed, Mapping):
        if isinstance(parsed.get("error"), str) and isinstance(parsed.get("message"), str):
            # {"error": "SyntaxError", "message": "..."}: the error names the kind, the
            # message says what went wrong.
            return parsed
        for key in ("detail", "error", "message"):
            if key in parsed and parsed[key] is not None:
                return parsed[key]
    return parsed


def detail_text(detail: Any) -> str:
    if isinstance(detail, str):
        return detail
    if isinstance(detail, Mapping):
        for key in ("message", "detail", "error", "msg"):
            value = detail.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, Mapping):
                return detail_text(value)
    if isinstance(detail, list) and detail and all(isinstance(d, Mapping) for d in detail):
        # FastAPI's 422 body: a list of {"loc": [...], "msg": ...}.
        parts = []
        for item in detail:
            loc = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
            msg = str(item.get("msg", item))
            parts.append(f"{loc}: {msg}" if loc else msg)
        return "; ".join(parts)
    return json.dumps(detail, ensure_ascii=False, separators=(",", ":"))


_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<script.*?</script>|<style.*?</style>|<[^>]+>", re.IGNORECASE | re.DOTALL)
_SPACE = re.compile(r"\s+")


def _html_text(text: str) -> str:
    title = _TITLE.search(text)
    chosen = title.group(1) if title else _TAGS.sub(" ", text)
    return _shorten(html.unescape(_SPACE.sub(" ", chosen)).strip())


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def _parse_timestamp(value: Any) -> _dt.datetime | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        seconds = value / 1000 if value > 1e11 else value  # milliseconds from some services
        try:
            return _dt.datetime.fromtimestamp(seconds, tz=_dt.timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None  # out of any calendar: the server's number, not a time
    if isinstance(value, str):
        try:
            parsed = _dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            try:
                return _parse_timestamp(float(value))
            except (ValueError, OverflowError):
                return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=_dt.timezone.utc)
    return None


export(__all__, globals())

"""Build a transport-agnostic :class:`RequestSpec` for one call.

Rule: everything that goes on the wire is decided here (URL, headers, body bytes, timeout,
retry budget); the adapter only copies it into the transport's request object.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, TypedDict
from urllib.parse import SplitResult, urlencode, urlsplit

import attrs

from .._version import __version__
from .config import (
    NOT_GIVEN,
    ClientConfig,
    NotGiven,
    Timeout,
    TimeoutTypes,
    check_extra_header,
    check_flag,
    check_max_retries,
    set_header,
)
from .e2ee import E2EEPlan, plan_e2ee
from .errors import ConfigurationError
from .targets import Target, shown

__all__: list[str] = []

USER_AGENT: Final = f"chutes-client/{__version__}"
_METHOD: Final = re.compile(r"^[A-Za-z]+$")
_BAD_URL: Final = re.compile(r"[\x00-\x20\x7f\\]|[^\x00-\x7f]")

PrimitiveParam = str | int | float | bool | None
ParamsTypes = (
    Mapping[str, PrimitiveParam | Sequence[PrimitiveParam]] | Sequence[tuple[str, PrimitiveParam]]
)


@attrs.frozen(repr=False)
class RequestSpec:
    """One request as data: what to send, with how long to wait and how often to retry.

    ``headers`` holds the key, so ``repr`` shows only the method and URL.
    """

    method: str
    url: str
    headers: Mapping[str, str]
    content: bytes | None
    timeout: Timeout
    max_retries: int
    target: Target
    save_to: str | os.PathLike[str] | None = None
    e2ee: E2EEPlan | None = None  # sent end-to-end encrypted (``content`` is then unsent)

    def __repr__(self) -> str:
        return f"RequestSpec({self.method} {self.url})"


def base_headers(config: ClientConfig, accept_encoding: str = "gzip, deflate") -> dict[str, str]:
    """The headers every request of a client carries, computed once per client
    (``accept_encoding``: the encodings the client's body decoding can honour)."""
    headers = {
        "User-Agent": USER_AGENT,
        "Accept": "application/json, text/event-stream, */*",
        "Accept-Encoding": accept_encoding,
    }
    for name, value in config.default_headers:
        set_header(headers, name, value)
    headers.update(config.auth_headers())
    return headers


def encode_json(value: Any) -> bytes:
    """Encode a JSON body compactly as UTF-8.

    Raises:
        ConfigurationError: when ``value`` is not JSON-serialisable (or holds NaN/inf).
    """
    try:
        return json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode()
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"the json= body cannot be encoded as JSON: {exc}") from None
    except RecursionError:
        raise ConfigurationError("the json= body is nested too deeply to encode") from None


def _param_str(value: PrimitiveParam) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)


def _encode_params(params: ParamsTypes) -> str:
    items: list[tuple[str, str]] = []
    pairs = params.items() if isinstance(params, Mapping) else params
    for name, value in pairs:
        if not isinstance(name, str):
            raise ConfigurationError(f"params names must be str, got {type(name).__name__}")
        if isinstance(value, (list, tuple)):
            items.extend((name, _param_str(v)) for v in value)
        else:
            items.append((name, _param_str(value)))  # type: ignore[arg-type]
    return urlencode(items)


@attrs.frozen(repr=False)
class Call:
    """One call's options, spelled once: made where the caller's keywords arrive, then
    handed on whole.

    Attributes:
        json: a JSON body (any JSON-serialisable value), or ``NOT_GIVEN``.
        content: raw body bytes (not with ``json``).
        headers: extra headers for this call.
        params: query parameters.
        timeout: this call's timeout, overriding the client's.
        max_retries: this call's retry count, overriding the client's.
        save_to: a file to stream a success body to, instead of holding it in memory.
        e2ee: send it end-to-end encrypted (``None``: as the client was made).
    """

    json: Any = NOT_GIVEN
    content: bytes | None = None
    headers: Mapping[str, str] | None = None
    params: ParamsTypes | None = None
    timeout: TimeoutTypes | NotGiven = NOT_GIVEN
    max_retries: int | NotGiven = NOT_GIVEN
    save_to: str | os.PathLike[str] | None = None
    e2ee: bool | None = None


class CallOptions(TypedDict, total=False):
    """The per-call options every cord call takes (``chute.get(path, **options)``)."""

    headers: Mapping[str, str] | None
    params: ParamsTypes | None
    timeout: TimeoutTypes
    max_retries: int


class BodyOptions(CallOptions, total=False):
    """:class:`CallOptions`, a body (``json=`` or ``content=``), and ``e2ee=``."""

    json: Any
    content: bytes | None
    e2ee: bool


class SavingOptions(BodyOptions, total=False):
    """:class:`BodyOptions` and ``save_to=``, a file the success body streams to."""

    save_to: str | os.PathLike[str] | None


class GetOptions(CallOptions, total=False):
    """:class:`CallOptions` and ``save_to=``."""

    save_to: str | os.PathLike[str] | None


CALL_OPTIONS: Final = frozenset(CallOptions.__annotations__)
BODY_OPTIONS: Final = frozenset(BodyOptions.__annotations__) | CALL_OPTIONS
SAVING_OPTIONS: Final = BODY_OPTIONS | {"save_to"}
GET_OPTIONS: Final = CALL_OPTIONS | {"save_to"}


def call_options(options: Mapping[str, Any], allowed: frozenset[str]) -> Call:
    """The :class:`Call` for a caller's keyword options.

    Raises:
        ConfigurationError: naming an option the call does not take (and the closest one
            it does), before anything is sent.
    """
    unknown = sorted(set(options) - allowed)
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(name, sorted(allowed), n=1)
        hint = (
            f"; did you mean {close[0]!r}?"
            if close
            else f" (it takes {', '.join(sorted(allowed))})"
        )
        raise ConfigurationError(f"unknown option {name!r}{hint}")
    return Call(**options)


def build_request(
    config: ClientConfig,
    prepared_headers: Mapping[str, str],
    target: Target,
    method: str,
    path: str,
    call: Call,
) -> RequestSpec:
    """Build the :class:`RequestSpec` for one call.

    Args:
        config: the client's settings (defaults for timeout and retries).
        prepared_headers: :func:`base_headers` of the client, computed once.
        target: the chute.
        method: the HTTP method.
        path: the cord's path, relative to the chute.
        call: the call's body and options.

    Raises:
        ConfigurationError: for any invalid argument, before anything is sent.
    """
    if not isinstance(method, str) or not _METHOD.fullmatch(method):
        raise ConfigurationError(f"invalid HTTP method {method!r}")
    url = target.join(path)
    plan = plan_e2ee(
        asked=None if call.e2ee is None else check_flag("e2ee", call.e2ee),
        default=config.e2ee,
        method=method.upper(),
        target=target,
        url=url,
        gateway_url=config.llm_url,
        body=call.json,
        has_body=not isinstance(call.json, NotGiven) or call.content is not None,
        has_params=bool(call.params),
    )
    if call.params:
        url = f"{url}?{_encode_params(call.params)}"
    body: bytes | None = None
    is_json = not isinstance(call.json, NotGiven)
    headers = dict(prepared_headers)
    if is_json:
        headers["Content-Type"] = "application/json"
    for name, value in (call.headers or {}).items():
        check_extra_header(name, value)
        set_header(headers, name, value)
    if is_json:
        if call.content is not None:
            raise ConfigurationError("pass either json= or content=, not both")
        body = encode_json(call.json)
    elif call.content is not None:
        if not isinstance(call.content, (bytes, bytearray, memoryview)):
            raise ConfigurationError("content= must be bytes; use json= for JSON bodies")
        body = bytes(call.content)
    if plan is not None and body is not None:
        # What is encrypted is what the call's JSON was when the call was made (a stream is
        # sent later, when entered), like the bytes of a call in the clear.
        plan = attrs.evolve(plan, body=json.loads(body))
    return RequestSpec(
        method=method.upper(),
        url=url,
        headers=headers,
        content=body,
        timeout=(
            config.timeout if isinstance(call.timeout, NotGiven) else Timeout.coerce(call.timeout)
        ),
        max_retries=(
            config.max_retries
            if isinstance(call.max_retries, NotGiven)
            else check_max_retries(call.max_retries)
        ),
        target=target,
        save_to=call.save_to,
        e2ee=plan,
    )


_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def _origin(parts: SplitResult) -> tuple[str, str | None, int | None]:
    """Scheme, host and effective port: the key goes only where all three match."""
    try:
        port = parts.port
    except ValueError:
        port = -1  # never equal to a real origin's port
    return parts.scheme, parts.hostname, port or _DEFAULT_PORTS.get(parts.scheme)


def build_download(
    config: ClientConfig, prepared_headers: Mapping[str, str], target: Target, url: str
) -> RequestSpec:
    """A ``GET`` of an absolute URL a chute returned (an image URL).

    The key and the default headers go along only when the URL has the chute's own scheme,
    host and port; anywhere else the request carries no credentials at all.

    Raises:
        ConfigurationError: for anything but a plain absolute http(s) URL.
    """
    if not isinstance(url, str) or _BAD_URL.search(url):
        raise ConfigurationError(f"cannot download {shown(url)}: not a plain http(s) URL")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        raise ConfigurationError(f"cannot download {shown(url)}: not a plain http(s) URL")
    if _origin(parts) == _origin(urlsplit(target.base_url)):
        headers = dict(prepared_headers)
    else:
        # Another origin gets no credentials of any kind: neither the key nor the caller's
        # default headers (which may carry tokens of their own).
        headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
        headers["Accept-Encoding"] = prepared_headers.get("Accept-Encoding", "identity")
    return RequestSpec(
        method="GET",
        url=url,
        headers=headers,
        content=None,
        timeout=config.timeout,
        max_retries=config.max_retries,
        target=target,
    )

"""Building a RequestSpec: auth, User-Agent, body, params, per-request options, header safety."""

from __future__ import annotations

import math
from typing import Any

import pytest

from chutes._core.config import (
    DEFAULT_TIMEOUT,
    NOT_GIVEN,
    ClientConfig,
    Timeout,
    make_config,
)
from chutes._core.errors import ConfigurationError
from chutes._core.requests import Call, RequestSpec, base_headers, build_request
from chutes._core.targets import Target
from chutes._version import __version__

KEY = "cpk_" + "0123456789abcdef" * 2 + "." + "fedcba9876543210" * 2 + "." + "Zq7" * 10 + "Mn"
TARGET = Target(base_url="https://myuser-my-llm.chutes.ai", host="myuser-my-llm.chutes.ai")


def config(**overrides: Any) -> ClientConfig:
    """A valid client config, overridable per test."""
    kwargs: dict[str, Any] = {
        "api_key": KEY,
        "auth_header": "authorization",
        "api_url": None,
        "domain": "chutes.ai",
        "timeout": DEFAULT_TIMEOUT,
        "max_retries": 2,
        "retry_policy": None,
        "default_headers": None,
    }
    kwargs.update(overrides)
    return make_config({}, **kwargs)


def build(
    method: str = "POST", path: str = "/generate", cfg: ClientConfig | None = None, **kwargs: Any
) -> RequestSpec:
    """build_request against TARGET with the client's prepared headers."""
    cfg = cfg or config()
    return build_request(cfg, base_headers(cfg), TARGET, method, path, Call(**kwargs))


def lower_headers(spec: RequestSpec) -> dict[str, str]:
    """The spec's headers keyed by lower-case name (HTTP names are case-insensitive)."""
    return {name.lower(): value for name, value in spec.headers.items()}


# --- headers ----------------------------------------------------------------------------------


def test_bearer_authorization() -> None:
    """The default auth form sends Authorization: Bearer <key>."""
    assert lower_headers(build())["authorization"] == f"Bearer {KEY}"


def test_x_api_key() -> None:
    """auth_header='x-api-key' sends the key in X-API-Key and no Authorization header."""
    headers = lower_headers(build(cfg=config(auth_header="x-api-key")))
    assert headers["x-api-key"] == KEY
    assert "authorization" not in headers


def test_user_agent() -> None:
    """Every request carries User-Agent chutes-client/<version>."""
    assert lower_headers(build())["user-agent"] == f"chutes-client/{__version__}"


def test_default_headers_sent() -> None:
    """The client's default headers go on every request."""
    assert lower_headers(build(cfg=config(default_headers={"X-Team": "a"})))["x-team"] == "a"


def test_per_request_headers_sent() -> None:
    """Per-request headers are added to the request."""
    assert lower_headers(build(headers={"X-Trace": "t-1"}))["x-trace"] == "t-1"


def test_per_request_header_overrides_default() -> None:
    """A per-request header replaces a default header of the same name."""
    spec = build(cfg=config(default_headers={"X-Team": "a"}), headers={"X-Team": "b"})
    assert lower_headers(spec)["x-team"] == "b"


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("Authorization", id="authorization"),
        pytest.param("authorization", id="authorization-lower"),
        pytest.param("X-API-Key", id="x-api-key"),
        pytest.param("x-api-key", id="x-api-key-lower"),
        pytest.param("Host", id="host"),
        pytest.param("Content-Length", id="content-length"),
    ],
)
def test_per_request_protected_header_refused(name: str) -> None:
    """The key headers (and Host, Content-Length) cannot be passed per request."""
    with pytest.raises(ConfigurationError):
        build(headers={name: "value"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("X-Trace", "a\r\nX-Evil: 1", id="value-crlf"),
        pytest.param("X-Trace", "a\rb", id="value-cr"),
        pytest.param("X-Trace", "a\nb", id="value-lf"),
        pytest.param("X-Trace", "abc\n", id="value-trailing-lf"),
        pytest.param("X-Trace", "abc\r\n", id="value-trailing-crlf"),
        pytest.param("X-Trace", "a\x00b", id="value-nul"),
        pytest.param("X-Trace\r\nX-Evil", "1", id="name-crlf"),
        pytest.param("X-Trace\n", "1", id="name-trailing-lf"),
        pytest.param("X-Trace\r", "1", id="name-trailing-cr"),
        pytest.param("X Trace", "1", id="name-space"),
        pytest.param("", "1", id="name-empty"),
    ],
)
def test_per_request_header_injection_refused(name: str, value: str) -> None:
    """CR, LF and other controls in per-request header names or values are refused."""
    with pytest.raises(ConfigurationError):
        build(headers={name: value})


# --- body -------------------------------------------------------------------------------------


def test_json_body_is_compact_utf8() -> None:
    """json= is encoded compactly as UTF-8, without ASCII escapes."""
    spec = build(json={"prompt": "caf\u00e9", "n": [1, 2], "ok": True, "none": None})
    assert spec.content == '{"prompt":"caf\u00e9","n":[1,2],"ok":true,"none":null}'.encode()


def test_json_sets_content_type() -> None:
    """json= sets Content-Type: application/json."""
    assert lower_headers(build(json={"a": 1}))["content-type"] == "application/json"


def test_json_content_type_can_be_overridden() -> None:
    """A caller's own Content-Type wins over the JSON default."""
    spec = build(json={"a": 1}, headers={"Content-Type": "application/vnd.x+json"})
    assert lower_headers(spec)["content-type"] == "application/vnd.x+json"


def test_raw_content_sent_as_is() -> None:
    """content= bytes are sent unchanged, without a JSON content type."""
    spec = build(content=b"\x00\x01raw")
    assert spec.content == b"\x00\x01raw"
    assert "content-type" not in lower_headers(spec)


def test_no_body() -> None:
    """Without json= or content= there is no body and no Content-Type."""
    spec = build("GET", "/v1/models")
    assert spec.content is None
    assert "content-type" not in lower_headers(spec)


def test_json_and_content_together_refused() -> None:
    """Passing both json= and content= is refused."""
    with pytest.raises(ConfigurationError, match="json"):
        build(json={"a": 1}, content=b"x")


def test_str_content_refused() -> None:
    """content= must be bytes, not str."""
    with pytest.raises(ConfigurationError):
        build(content="text")


def _circular() -> list[Any]:
    value: list[Any] = []
    value.append(value)
    return value


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(object(), id="object"),
        pytest.param({1, 2}, id="set"),
        pytest.param(b"bytes", id="bytes"),
        pytest.param({"x": math.nan}, id="nan"),
        pytest.param({"x": math.inf}, id="inf"),
        pytest.param([-math.inf], id="minus-inf"),
        pytest.param({(1, 2): "tuple-key"}, id="tuple-key"),
        pytest.param(_circular(), id="circular"),
    ],
)
def test_unencodable_json_refused(value: Any) -> None:
    """A json= value that is not strict JSON raises ConfigurationError."""
    with pytest.raises(ConfigurationError, match="JSON"):
        build(json=value)


# --- url and params ---------------------------------------------------------------------------


def test_url_joined_onto_target() -> None:
    """The path is joined onto the chute's base URL."""
    assert build(path="v1/chat/completions").url == (
        "https://myuser-my-llm.chutes.ai/v1/chat/completions"
    )


def test_bad_path_refused() -> None:
    """A path that would leave the chute is refused while building."""
    with pytest.raises(ConfigurationError):
        build(path="//evil.com/x")


@pytest.mark.parametrize(
    ("params", "query"),
    [
        pytest.param({"stream": True, "echo": False}, "stream=true&echo=false", id="bools"),
        pytest.param({"tag": ["a", "b"]}, "tag=a&tag=b", id="list-repeated"),
        pytest.param({"tag": ("a", True)}, "tag=a&tag=true", id="tuple-repeated"),
        pytest.param({"n": 3, "t": 0.5}, "n=3&t=0.5", id="numbers"),
        pytest.param({"empty": None}, "empty=", id="none-empty"),
        pytest.param({"q": "a b&c=d/é"}, "q=a+b%26c%3Dd%2F%C3%A9", id="escaped"),
        pytest.param([("k", "1"), ("k", "2")], "k=1&k=2", id="pairs"),
    ],
)
def test_params_encoded(params: Any, query: str) -> None:
    """Query params are URL-encoded; bools as true/false, sequences repeated."""
    assert build("GET", "/search", params=params).url == f"{TARGET.base_url}/search?{query}"


def test_empty_params_add_no_query() -> None:
    """Empty params leave the URL without a '?'."""
    assert build("GET", "/search", params={}).url == f"{TARGET.base_url}/search"


def test_params_non_str_name_refused() -> None:
    """A param name that is not a str is refused."""
    with pytest.raises(ConfigurationError):
        build("GET", "/search", params={1: "x"})


# --- method -----------------------------------------------------------------------------------


def test_method_upper_cased() -> None:
    """The method is sent upper-case."""
    assert build("post").method == "POST"


@pytest.mark.parametrize(
    "method",
    [
        pytest.param("", id="empty"),
        pytest.param("GE T", id="space"),
        pytest.param("GET\r\n", id="crlf"),
        pytest.param("GET\n", id="trailing-lf"),
        pytest.param("GET /evil HTTP/1.1", id="request-line"),
    ],
)
def test_invalid_method_refused(method: str) -> None:
    """A method that is not a plain token is refused."""
    with pytest.raises(ConfigurationError, match="method"):
        build(method)


# --- per-request options ----------------------------------------------------------------------


def test_timeout_and_retries_default_to_config() -> None:
    """Without overrides the spec takes the client's timeout and retry count."""
    spec = build(cfg=config(timeout=12, max_retries=4))
    assert (spec.timeout, spec.max_retries) == (Timeout(12.0, 12.0, 12.0, 12.0), 4)


def test_not_given_uses_config() -> None:
    """NOT_GIVEN means 'use the client default'."""
    spec = build(timeout=NOT_GIVEN, max_retries=NOT_GIVEN)
    assert (spec.timeout, spec.max_retries) == (DEFAULT_TIMEOUT, 2)


@pytest.mark.parametrize(
    ("timeout", "expected"),
    [
        pytest.param(5, Timeout(5.0, 5.0, 5.0, 5.0), id="number"),
        pytest.param(None, Timeout(None, None, None, None), id="none-no-limit"),
        pytest.param(Timeout(read=1.0), Timeout(read=1.0), id="timeout-object"),
    ],
)
def test_timeout_override(timeout: Any, expected: Timeout) -> None:
    """A per-request timeout replaces the client's."""
    assert build(timeout=timeout).timeout == expected


def test_max_retries_override() -> None:
    """A per-request max_retries replaces the client's."""
    assert build(max_retries=0).max_retries == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"timeout": "5"}, id="timeout-str"),
        pytest.param({"timeout": -1}, id="timeout-negative"),
        pytest.param({"timeout": True}, id="timeout-bool"),
        pytest.param({"max_retries": -1}, id="retries-negative"),
        pytest.param({"max_retries": 1.5}, id="retries-float"),
        pytest.param({"max_retries": True}, id="retries-bool"),
        pytest.param({"max_retries": None}, id="retries-none"),
    ],
)
def test_invalid_override_refused(kwargs: dict[str, Any]) -> None:
    """Invalid per-request timeout or max_retries values are refused."""
    with pytest.raises(ConfigurationError):
        build(**kwargs)


# --- the spec itself --------------------------------------------------------------------------


@pytest.mark.parametrize("auth_header", ["authorization", "x-api-key"])
def test_spec_repr_hides_key(auth_header: str) -> None:
    """repr of a RequestSpec shows the method and URL but never the key."""
    spec = build(cfg=config(auth_header=auth_header), json={"a": 1})
    assert KEY not in repr(spec)
    assert repr(spec) == f"RequestSpec(POST {TARGET.base_url}/generate)"


def test_spec_keeps_target() -> None:
    """The spec carries its target, for usage accounting and downloads."""
    assert build().target is TARGET

"""Client settings: key and env reading, auth header, timeouts, retry policy, headers."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs
import pytest

from chutes._core.config import (
    DEFAULT_TIMEOUT,
    NOT_GIVEN,
    ClientConfig,
    RetryPolicy,
    Timeout,
    check_header,
    make_config,
)
from chutes._core.errors import ConfigurationError

KEY = "cpk_" + "0123456789abcdef" * 2 + "." + "fedcba9876543210" * 2 + "." + "Ab3" * 10 + "Xy"


def config(env: Mapping[str, str] | None = None, **overrides: Any) -> ClientConfig:
    """make_config with a valid key and the client's defaults, overridable per test."""
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
    return make_config({} if env is None else env, **kwargs)


# --- the key ------------------------------------------------------------------------------------


def test_no_key_names_the_env_variable() -> None:
    """Without api_key and CHUTES_API_KEY, the error names CHUTES_API_KEY."""
    with pytest.raises(ConfigurationError, match="CHUTES_API_KEY"):
        config(api_key=None)


def test_empty_env_key_counts_as_missing() -> None:
    """An empty CHUTES_API_KEY is no key."""
    with pytest.raises(ConfigurationError, match="CHUTES_API_KEY"):
        config({"CHUTES_API_KEY": ""}, api_key=None)


def test_key_falls_back_to_env() -> None:
    """CHUTES_API_KEY is used when api_key is not passed."""
    assert config({"CHUTES_API_KEY": "env-key"}, api_key=None).api_key == "env-key"


def test_explicit_key_wins_over_env() -> None:
    """An explicit api_key is preferred over CHUTES_API_KEY."""
    assert config({"CHUTES_API_KEY": "env-key"}, api_key="arg-key").api_key == "arg-key"


def test_non_str_key_refused() -> None:
    """A key that is not a str is refused."""
    with pytest.raises(ConfigurationError):
        config(api_key=b"bytes-key")


BAD_KEYS = [
    pytest.param("SECRETkey\r\nX-Evil: 1", id="crlf"),
    pytest.param("SECRETkey\n", id="trailing-lf"),
    pytest.param("SECRETkey\r", id="trailing-cr"),
    pytest.param("SECRET\nkey", id="inner-lf"),
    pytest.param("SECRET key", id="inner-space"),
    pytest.param(" SECRETkey", id="leading-space"),
    pytest.param("SECRETkey ", id="trailing-space"),
    pytest.param("SECRETk\u00e9y", id="non-ascii"),
    pytest.param("SECRET\x00key", id="nul"),
    pytest.param("SECRET\tkey", id="tab"),
]


@pytest.mark.parametrize("auth_header", ["authorization", "x-api-key"])
@pytest.mark.parametrize("key", BAD_KEYS)
def test_malformed_key_refused(key: str, auth_header: str) -> None:
    """A key with CR/LF, spaces, controls or non-ASCII is refused in either auth header."""
    with pytest.raises(ConfigurationError):
        config(api_key=key, auth_header=auth_header)


LEAKY_KEYS = [
    pytest.param("SECRETkey\r\nX-Evil: 1", id="crlf"),
    pytest.param("SECRET\nkey", id="inner-lf"),
    pytest.param("SECRETkey ", id="trailing-space"),
    pytest.param("SECRETk\u00e9y", id="non-ascii"),
    pytest.param("SECRET\x00key", id="nul"),
]


@pytest.mark.parametrize("auth_header", ["authorization", "x-api-key"])
@pytest.mark.parametrize("key", LEAKY_KEYS)
def test_refused_key_not_in_message(key: str, auth_header: str) -> None:
    """The error for a malformed key never repeats the key's text."""
    with pytest.raises(ConfigurationError) as info:
        config(api_key=key, auth_header=auth_header)
    assert "SECRET" not in str(info.value)
    assert "SECRET" not in repr(info.value)


# --- auth header -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "header"),
    [
        pytest.param("authorization", "Authorization", id="authorization"),
        pytest.param("Authorization", "Authorization", id="authorization-title"),
        pytest.param("AUTHORIZATION", "Authorization", id="authorization-upper"),
        pytest.param("x-api-key", "X-API-Key", id="x-api-key"),
        pytest.param("X-API-KEY", "X-API-Key", id="x-api-key-upper"),
        pytest.param("X-Api-Key", "X-API-Key", id="x-api-key-mixed"),
    ],
)
def test_auth_header_case_insensitive(given: str, header: str) -> None:
    """auth_header is matched case-insensitively and stored in its canonical spelling."""
    assert config(auth_header=given).auth_header == header


@pytest.mark.parametrize(
    "given",
    [
        pytest.param("bearer", id="bearer"),
        pytest.param("", id="empty"),
        pytest.param("x-api-key ", id="trailing-space"),
        pytest.param("api-key", id="other-name"),
        pytest.param(None, id="none"),
    ],
)
def test_auth_header_invalid(given: Any) -> None:
    """Any auth_header other than authorization / x-api-key is refused."""
    with pytest.raises(ConfigurationError, match="auth_header"):
        config(auth_header=given)


def test_auth_headers_bearer() -> None:
    """The authorization form sends 'Authorization: Bearer <key>'."""
    assert config().auth_headers() == {"Authorization": f"Bearer {KEY}"}


def test_auth_headers_x_api_key() -> None:
    """The x-api-key form sends the bare key in X-API-Key."""
    assert config(auth_header="x-api-key").auth_headers() == {"X-API-Key": KEY}


# --- api_url, domain, log level --------------------------------------------------------------


def test_api_url_default() -> None:
    """The API URL defaults to https://api.chutes.ai."""
    assert config().api_url == "https://api.chutes.ai"


def test_api_url_falls_back_to_env() -> None:
    """CHUTES_API_URL is used, normalised, when api_url is not passed."""
    assert config({"CHUTES_API_URL": "http://localhost:8080/"}).api_url == "http://localhost:8080"


def test_explicit_api_url_wins_over_env() -> None:
    """An explicit api_url is preferred over CHUTES_API_URL."""
    env = {"CHUTES_API_URL": "http://env.example"}
    assert config(env, api_url="https://arg.example").api_url == "https://arg.example"


@pytest.mark.parametrize(
    "api_url",
    [
        pytest.param("ftp://api.chutes.ai", id="ftp"),
        pytest.param("https://user@evil.com", id="user-info"),
        pytest.param("api.chutes.ai", id="no-scheme"),
        pytest.param("https://api.chutes.ai?x=1", id="query"),
    ],
)
def test_api_url_invalid(api_url: str) -> None:
    """An api_url that is not a plain absolute http(s) URL is refused."""
    with pytest.raises(ConfigurationError, match="api_url"):
        config(api_url=api_url)


def test_api_url_invalid_in_env() -> None:
    """An invalid CHUTES_API_URL is refused too."""
    with pytest.raises(ConfigurationError):
        config({"CHUTES_API_URL": "javascript:alert(1)"})


@pytest.mark.parametrize(
    "domain",
    [
        pytest.param("", id="empty"),
        pytest.param("evil.com/", id="slash"),
        pytest.param("evil.com#", id="hash"),
        pytest.param("chutes.ai\n", id="trailing-lf"),
    ],
)
def test_domain_invalid(domain: str) -> None:
    """A domain that is not a plain DNS name is refused."""
    with pytest.raises(ConfigurationError, match="domain"):
        config(domain=domain)


@pytest.mark.parametrize(
    ("value", "level"),
    [
        pytest.param(None, None, id="unset"),
        pytest.param("", None, id="empty"),
        pytest.param("debug", "debug", id="debug"),
        pytest.param("INFO", "info", id="upper-case"),
        pytest.param(" warning ", "warning", id="padded"),
        pytest.param("error", "error", id="error"),
    ],
)
def test_log_level_from_env(value: str | None, level: str | None) -> None:
    """CHUTES_LOG is read case-insensitively; unset or empty means no logging setup."""
    env = {} if value is None else {"CHUTES_LOG": value}
    assert config(env).log_level == level


@pytest.mark.parametrize("value", ["verbose", "trace", "1"])
def test_log_level_invalid(value: str) -> None:
    """An unknown CHUTES_LOG value is refused, naming the variable."""
    with pytest.raises(ConfigurationError, match="CHUTES_LOG"):
        config({"CHUTES_LOG": value})


# --- timeouts ---------------------------------------------------------------------------------


def test_timeout_defaults() -> None:
    """The default timeout is connect 10 s, read 600 s, write 60 s, pool 30 s, no total."""
    assert attrs.astuple(Timeout()) == (10.0, 600.0, 60.0, 30.0, None)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        pytest.param(5, 5.0, id="int"),
        pytest.param(2.5, 2.5, id="float"),
        pytest.param(0, 0.0, id="zero"),
        pytest.param(None, None, id="none-means-no-limit"),
    ],
)
def test_timeout_coerce_number_bounds_every_phase(value: float | None, seconds: float) -> None:
    """A number (or None) becomes the limit of every phase."""
    assert Timeout.coerce(value) == Timeout(
        connect=seconds, read=seconds, write=seconds, pool=seconds
    )


def test_timeout_coerce_number_gives_floats() -> None:
    """An int timeout is stored as a float."""
    assert type(Timeout.coerce(5).read) is float


def test_timeout_coerce_passes_timeout_through() -> None:
    """A Timeout is returned as it is."""
    timeout = Timeout(connect=1.0, read=None)
    assert Timeout.coerce(timeout) is timeout


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(True, id="true"),
        pytest.param(False, id="false"),
        pytest.param("5", id="str"),
        pytest.param(b"5", id="bytes"),
        pytest.param([5], id="list"),
        pytest.param((1, 2, 3, 4), id="tuple"),
    ],
)
def test_timeout_coerce_refuses_other_types(value: Any) -> None:
    """Booleans, strings and containers are not timeouts."""
    with pytest.raises(ConfigurationError, match="timeout"):
        Timeout.coerce(value)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(-1, id="negative-int"),
        pytest.param(-0.001, id="negative-float"),
        pytest.param(math.nan, id="nan"),
    ],
)
def test_timeout_coerce_refuses_bad_numbers(value: float) -> None:
    """Negative and NaN timeouts are refused."""
    with pytest.raises(ConfigurationError):
        Timeout.coerce(value)


@pytest.mark.parametrize("phase", ["connect", "read", "write", "pool"])
def test_timeout_phase_refuses_negative(phase: str) -> None:
    """Each phase of a Timeout refuses a negative value."""
    with pytest.raises(ConfigurationError, match=phase):
        Timeout(**{phase: -1.0})


def test_make_config_coerces_timeout() -> None:
    """make_config accepts a number for timeout."""
    assert config(timeout=7).timeout == Timeout(7.0, 7.0, 7.0, 7.0)


# --- retry policy ----------------------------------------------------------------------------


def test_retry_policy_defaults() -> None:
    """The default policy matches the contract."""
    policy = RetryPolicy()
    assert (
        policy.initial_delay,
        policy.max_delay,
        policy.jitter,
        policy.statuses,
        policy.retry_read_timeouts,
    ) == (0.5, 30.0, True, frozenset({408, 429, 500, 502, 503}), False)


def test_retry_policy_statuses_become_frozenset() -> None:
    """Any iterable of statuses is stored as a frozenset."""
    assert RetryPolicy(statuses=[503, 429, 503]).statuses == frozenset({429, 503})


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"initial_delay": -0.1}, id="negative-initial-delay"),
        pytest.param({"max_delay": -1}, id="negative-max-delay"),
        pytest.param({"initial_delay": math.nan}, id="nan-initial-delay"),
        pytest.param({"statuses": "429"}, id="statuses-str"),
        pytest.param({"statuses": 429}, id="statuses-int"),
        pytest.param({"statuses": {"429"}}, id="statuses-of-str"),
        pytest.param({"statuses": {99}}, id="status-too-low"),
        pytest.param({"statuses": {600}}, id="status-too-high"),
    ],
)
def test_retry_policy_validation(kwargs: dict[str, Any]) -> None:
    """Negative delays and anything but HTTP status codes are refused."""
    with pytest.raises(ConfigurationError):
        RetryPolicy(**kwargs)


def test_make_config_default_policy() -> None:
    """Without retry_policy the default RetryPolicy is used."""
    assert config().retry_policy == RetryPolicy()


def test_make_config_refuses_non_policy() -> None:
    """retry_policy must be a RetryPolicy."""
    with pytest.raises(ConfigurationError, match="retry_policy"):
        config(retry_policy={"initial_delay": 0})


@pytest.mark.parametrize(
    "value",
    [pytest.param(-1, id="negative"), pytest.param(1.0, id="float"), pytest.param(True, id="bool")],
)
def test_make_config_refuses_bad_max_retries(value: Any) -> None:
    """max_retries must be a non-negative int."""
    with pytest.raises(ConfigurationError, match="max_retries"):
        config(max_retries=value)


# --- default headers --------------------------------------------------------------------------


def test_default_headers_kept() -> None:
    """Valid default headers are stored."""
    assert config(default_headers={"X-Trace": "abc"}).default_headers == (("X-Trace", "abc"),)


@pytest.mark.parametrize(
    "name",
    ["Authorization", "authorization", "X-API-Key", "x-api-key", "X-Api-Key"],
)
def test_default_headers_refuse_key_headers(name: str) -> None:
    """The key may not be passed in default_headers, in any spelling."""
    with pytest.raises(ConfigurationError, match="api_key"):
        config(default_headers={name: "Bearer other"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("X-Trace", "a\r\nX-Evil: 1", id="value-crlf"),
        pytest.param("X-Trace", "a\nb", id="value-inner-lf"),
        pytest.param("X-Trace", "abc\n", id="value-trailing-lf"),
        pytest.param("X-Trace", "a\x00", id="value-nul"),
        pytest.param("X-Trace", "caf\u00e9", id="value-non-ascii"),
        pytest.param("X-Trace", " abc", id="value-leading-space"),
        pytest.param("X-Trace\r\nX-Evil", "1", id="name-crlf"),
        pytest.param("X-Trace\n", "1", id="name-trailing-lf"),
        pytest.param("X Trace", "1", id="name-space"),
        pytest.param("X-Trace:", "1", id="name-colon"),
        pytest.param("", "1", id="name-empty"),
    ],
)
def test_default_headers_refuse_injection(name: str, value: str) -> None:
    """Header names and values that could split or corrupt a header are refused."""
    with pytest.raises(ConfigurationError):
        config(default_headers={name: value})


def test_default_header_value_not_str_refused() -> None:
    """A header value that is not a str is refused."""
    with pytest.raises(ConfigurationError):
        config(default_headers={"X-Count": 1})


def test_check_header_never_echoes_the_value() -> None:
    """A refused header value (it may be a secret) is never echoed in the error."""
    with pytest.raises(ConfigurationError, match="X-Token") as info:
        check_header("X-Token", "SECRET\r\n")
    assert "SECRET" not in str(info.value)


# --- evolve and repr ------------------------------------------------------------------------


def test_evolve_timeout() -> None:
    """evolve(timeout=n) coerces and replaces the timeout."""
    assert config().evolve(timeout=5).timeout == Timeout(5.0, 5.0, 5.0, 5.0)


def test_evolve_max_retries() -> None:
    """evolve(max_retries=n) replaces the retry count."""
    assert config().evolve(max_retries=0).max_retries == 0


def test_evolve_retry_policy() -> None:
    """evolve(retry_policy=p) replaces the policy."""
    policy = RetryPolicy(jitter=False)
    assert config().evolve(retry_policy=policy).retry_policy is policy


def test_evolve_leaves_original_unchanged() -> None:
    """evolve returns a copy; the original config keeps its values."""
    original = config()
    original.evolve(timeout=1, max_retries=5, default_headers={"X-A": "1"})
    assert (original.timeout, original.max_retries, original.default_headers) == (
        DEFAULT_TIMEOUT,
        2,
        (),
    )


def test_evolve_not_given_changes_nothing() -> None:
    """evolve with every option NOT_GIVEN gives an equal config."""
    original = config(default_headers={"X-A": "1"})
    assert original.evolve(timeout=NOT_GIVEN, max_retries=NOT_GIVEN) == original


def test_evolve_merges_default_headers() -> None:
    """evolve(default_headers=...) merges over the existing headers."""
    evolved = config(default_headers={"X-A": "1", "X-B": "2"}).evolve(
        default_headers={"X-B": "3", "X-C": "4"}
    )
    assert dict(evolved.default_headers) == {"X-A": "1", "X-B": "3", "X-C": "4"}


def test_evolve_keeps_key() -> None:
    """evolve keeps the key and auth header."""
    evolved = config(auth_header="x-api-key").evolve(max_retries=1)
    assert (evolved.api_key, evolved.auth_header) == (KEY, "X-API-Key")


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"timeout": "5"}, id="timeout-str"),
        pytest.param({"max_retries": -1}, id="max-retries-negative"),
        pytest.param({"retry_policy": None}, id="retry-policy-none"),
        pytest.param({"default_headers": {"Authorization": "Bearer x"}}, id="auth-header"),
        pytest.param({"default_headers": {"X-A": "1\r\n"}}, id="header-crlf"),
    ],
)
def test_evolve_validates(kwargs: dict[str, Any]) -> None:
    """evolve validates its options like the constructor does."""
    with pytest.raises(ConfigurationError):
        config().evolve(**kwargs)


@pytest.mark.parametrize("auth_header", ["authorization", "x-api-key"])
def test_repr_hides_key(auth_header: str) -> None:
    """repr and str of a config never contain the key."""
    cfg = config(auth_header=auth_header)
    assert KEY not in repr(cfg)
    assert KEY not in str(cfg)


def test_config_is_frozen() -> None:
    """A config cannot be changed in place."""
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        config().api_key = "other"  # type: ignore[misc]

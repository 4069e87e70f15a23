"""The command line's pure pieces, in-process: typed fields, the key's shape, the settings'
sources, redaction, the error line and the exit-code table."""

from __future__ import annotations

import io
from typing import Any

import pytest

import chutes
from chutes._cli.console import Console, error_line, exit_code
from chutes._cli.fields import FIELD, parse_field, parse_fields
from chutes._cli.settings import GlobalOptions, key_problem, key_source, settings
from chutes._core.errors import ConnectionFailure

GOOD_KEY = "cpk_" + "ab" * 16 + "." + "0f" * 16 + "." + "Aa1" * 10 + "zz"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("text=hello world", ("text", "hello world")),
        ("n=5", ("n", "5")),
        ("n:=5", ("n", 5)),
        ("expr=a=b", ("expr", "a=b")),
        ("empty=", ("empty", "")),
        ("obj:={}", ("obj", {})),
        ("null:=null", ("null", None)),
        ('s:="5"', ("s", "5")),
    ],
)
def test_parse_field(text: str, field: tuple[str, Any]) -> None:
    """``key=value`` is a string (later ``=`` kept); ``key:=json`` the JSON value."""
    assert parse_field(text, "-p") == field


def test_deep_json_is_refused_not_crashed() -> None:
    """JSON nested past Python's limit is a ConfigurationError, not a RecursionError."""
    with pytest.raises(chutes.ConfigurationError, match="deep:="):
        parse_field("deep:=" + "[" * 100_000, "-p")


def test_a_field_error_never_shows_the_value() -> None:
    """The value may be private: the message names the field only."""
    with pytest.raises(chutes.ConfigurationError) as caught:
        parse_field("token:=secret-value-not-json", "-p")
    assert "secret-value" not in str(caught.value)


def test_a_later_field_wins() -> None:
    """A name given twice keeps its last value, as HTTPie does."""
    assert parse_fields(["a=1", "a:=2"], "field") == {"a": 2}


@pytest.mark.parametrize(
    ("text", "matches"),
    [("a=1", True), ("a:=1", True), ("-o", False), ("--x=1", False), ("=1", False), ("x", False)],
)
def test_what_looks_like_a_field(text: str, matches: bool) -> None:
    """Fields after options are told from unknown options by their shape."""
    assert bool(FIELD.match(text)) is matches


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        (GOOD_KEY, None),
        ("sk-abc", "it has 1 dot-separated parts, not 3"),
        (GOOD_KEY.replace("cpk_", "cpx_"), "its first part"),
        (GOOD_KEY.replace(".0f", ".0g", 1), "its second part"),
        (GOOD_KEY + "!", "its third part"),
    ],
)
def test_key_problem(key: str, problem: str | None) -> None:
    """The key's shape is checked part by part; the problem never quotes the key."""
    found = key_problem(key)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert found.startswith(problem)
        assert key not in found


def test_sources_of_each_setting() -> None:
    """An argument beats the environment, which beats the default."""
    options = GlobalOptions(api_key="k1234", llm_url="http://x", timeout=5)
    env = {"CHUTES_API_KEY": "k5678", "CHUTES_API_URL": "http://api", "CHUTES_LLM_URL": "http://y"}
    found = {s.name: (s.value, s.source) for s in settings(options, env)}
    assert key_source(options, env) == "--api-key"
    assert key_source(GlobalOptions(), env) == "CHUTES_API_KEY"
    assert key_source(GlobalOptions(), {}) is None
    assert found["API URL"] == ("http://api", "environment CHUTES_API_URL")
    assert found["gateway URL"] == ("http://x", "argument --llm-url")
    assert found["timeout"] == ("5 s for each phase", "argument --timeout")
    assert found["max retries"] == ("2", "default")
    assert found["log level"] == ("off", "default")


def test_console_redacts_every_secret_on_both_streams() -> None:
    """Every given secret is replaced on stdout and stderr; empty and tiny ones are not
    searched for."""
    out, err = io.StringIO(), io.StringIO()
    console = Console(out, err, ["secret-one", None, "", "ab", "secret-one-longer"])
    console.line("a secret-one-longer and secret-one; ab stays")
    console.note("secret-one")
    assert out.getvalue() == "a *** and ***; ab stays\n"
    assert err.getvalue() == "***\n"


def status_error(
    cls: type[chutes.APIStatusError], status: int, detail: Any, message: str = "words"
) -> Any:
    """An APIStatusError of ``cls`` as the client makes one."""
    return cls(
        message, response=None, status_code=status, detail=detail, body=None, invocation_id=None
    )


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (chutes.ConfigurationError("x"), 2),
        (status_error(chutes.AuthenticationError, 401, "x"), 3),
        (status_error(chutes.PermissionDeniedError, 403, "x"), 3),
        (status_error(chutes.PaymentRequiredError, 402, "x"), 4),
        (status_error(chutes.RateLimitError, 429, "x"), 5),
        (status_error(chutes.ServiceUnavailableError, 503, "x"), 6),
        (status_error(chutes.InternalServerError, 500, "x"), 1),
        (chutes.APITimeoutError("x", failure=ConnectionFailure.READ_TIMEOUT, url="u"), 7),
        (chutes.APIConnectionError("x", failure=ConnectionFailure.CONNECT, url="u"), 8),
        (chutes.StreamError("x"), 1),
        (FileNotFoundError("x"), 1),
    ],
)
def test_exit_codes(error: Exception, code: int) -> None:
    """Each kind of error has API.md's exit code; a timeout is not a connection error."""
    assert exit_code(error) == code


def test_error_line_of_a_402_says_when_the_quota_resets() -> None:
    """A quota 402 names the reset time, all on one line."""
    detail = {"message": "Quota exceeded", "quota_reset_timestamp": "2025-01-02T00:00:00Z"}
    error = status_error(chutes.PaymentRequiredError, 402, detail, "Quota\n  exceeded")
    assert error_line(error) == (
        "PaymentRequiredError (402): Quota exceeded (the quota resets at 2025-01-02T00:00:00+00:00)"
    )

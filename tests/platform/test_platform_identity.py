"""Chute identity and targets: the platform's uuid5 ids and the one CLI target rule."""

from __future__ import annotations

import uuid

import pytest

import chutes
from chutes._core.errors import ConfigurationError
from chutes._core.platform import TargetRef, chute_id, parse_target
from chutes._core.targets import Target

KOKORO_ID = "4be47dee-7bee-53a4-a208-32a66f47a0b0"
SOME_ID = "5b1d0c2e-aaaa-4bbb-8ccc-ddddeeeeffff"


# --- chute_id -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("chutes/kokoro",), id="full-name"),
        pytest.param(("chutes", "kokoro"), id="user-and-name"),
    ],
)
def test_chute_id_of_kokoro_is_the_platforms(args: tuple[str, ...]) -> None:
    """``chutes/kokoro`` has the id the platform gives it (``4be47dee-...``)."""
    assert chute_id(*args) == KOKORO_ID


def test_chute_id_is_uuid5_of_the_platform_string() -> None:
    """The id is ``uuid5(NAMESPACE_OID, "{user}::chute::{name}")``."""
    expected = uuid.uuid5(uuid.NAMESPACE_OID, "myuser::chute::My_Model.v2")
    assert chute_id("myuser/My_Model.v2") == str(expected)


def test_chute_id_keeps_slashes_in_the_chute_name() -> None:
    """A chute name holding ``/`` belongs to the name, not the user."""
    expected = uuid.uuid5(uuid.NAMESPACE_OID, "chutes::chute::deepseek-ai/DeepSeek-V3")
    assert chute_id("chutes/deepseek-ai/DeepSeek-V3") == str(expected)


def test_chute_id_is_case_sensitive() -> None:
    """The platform hashes the name as written, so case changes the id."""
    assert chute_id("me/Model") != chute_id("me/model")


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("kokoro",), id="no-user"),
        pytest.param(("",), id="empty"),
        pytest.param(("a b/c",), id="space"),
        pytest.param(("me/../x",), id="dotdot"),
        pytest.param(("me/x#y",), id="hash"),
        pytest.param(("me/x@y",), id="at"),
        pytest.param(("me/x\r\n",), id="crlf"),
        pytest.param(("me/",), id="empty-name"),
        pytest.param(("a/b", "c"), id="user-with-slash"),
        pytest.param(("me", ""), id="empty-name-arg"),
        pytest.param((None,), id="none"),
        pytest.param(("me", 3), id="int-name"),
    ],
)
def test_chute_id_refuses_bad_names(args: tuple[object, ...]) -> None:
    """A name the platform would not accept raises ``ConfigurationError``."""
    with pytest.raises(ConfigurationError):
        chute_id(*args)  # type: ignore[arg-type]


def test_chute_id_error_is_a_chutes_error() -> None:
    """The refusal is catchable as ``chutes.ConfigurationError``."""
    with pytest.raises(chutes.ConfigurationError):
        chute_id("nope")


# --- parse_target ---------------------------------------------------------------------------

TARGETS = [
    pytest.param("myuser/my-llm", TargetRef("name", "myuser/my-llm"), id="name"),
    pytest.param(
        "chutes/deepseek-ai/DeepSeek-V3",
        TargetRef("name", "chutes/deepseek-ai/DeepSeek-V3"),
        id="name-with-slash",
    ),
    pytest.param("slug:myuser-my-llm-x7k2p", TargetRef("slug", "myuser-my-llm-x7k2p"), id="slug"),
    pytest.param(f"id:{SOME_ID}", TargetRef("id", SOME_ID), id="id"),
    pytest.param(f"id:{SOME_ID.upper()}", TargetRef("id", SOME_ID), id="id-upper-case"),
    pytest.param("https://llm.chutes.ai", TargetRef("url", "https://llm.chutes.ai"), id="https"),
    pytest.param(
        "http://127.0.0.1:8000/", TargetRef("url", "http://127.0.0.1:8000"), id="http-slash"
    ),
    pytest.param("HTTPS://Example.COM/v1", TargetRef("url", "https://example.com/v1"), id="caps"),
]


@pytest.mark.parametrize(("text", "expected"), TARGETS)
def test_parse_target_reads_each_form(text: str, expected: TargetRef) -> None:
    """Each of the four forms is read as its kind and value."""
    assert parse_target(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("kokoro", id="bare-word"),
        pytest.param("slug:", id="empty-slug"),
        pytest.param("slug:My_Slug", id="slug-not-a-label"),
        pytest.param("slug:a.b", id="slug-with-dot"),
        pytest.param("id:nope", id="id-not-uuid"),
        pytest.param("name:me/x", id="unknown-prefix"),
        pytest.param("ftp://example.com", id="ftp"),
        pytest.param("https://good@evil.com", id="userinfo"),
        pytest.param("https://evil.com#/x", id="fragment"),
        pytest.param("evil.com#/x", id="hash-name"),
        pytest.param("a@evil.com/x", id="at-name"),
        pytest.param("x/../y", id="dotdot"),
        pytest.param("me/x\r\nHost: evil", id="crlf"),
        pytest.param(f" id:{SOME_ID}", id="leading-space"),
    ],
)
def test_parse_target_refuses_everything_else(text: str) -> None:
    """Text that is none of the four forms raises ``ConfigurationError``."""
    with pytest.raises(ConfigurationError):
        parse_target(text)


def test_parse_target_refuses_non_strings() -> None:
    """A non-string target raises ``ConfigurationError``."""
    with pytest.raises(ConfigurationError):
        parse_target(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "kwargs"),
    [
        pytest.param("me/x", {"name": "me/x"}, id="name"),
        pytest.param("slug:me-x", {"slug": "me-x"}, id="slug"),
        pytest.param(f"id:{SOME_ID}", {"id": SOME_ID}, id="id"),
        pytest.param("https://a.b", {"url": "https://a.b"}, id="url"),
    ],
)
def test_target_ref_as_kwargs(text: str, kwargs: dict[str, str]) -> None:
    """``as_kwargs`` gives the one keyword ``client.chute(...)`` takes for the form."""
    assert parse_target(text).as_kwargs() == kwargs


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("me/x", id="name"),
        pytest.param("slug:me-x", id="slug"),
        pytest.param(f"id:{SOME_ID}", id="id"),
        pytest.param("https://a.b", id="url"),
    ],
)
def test_target_ref_str_round_trips(text: str) -> None:
    """``str(ref)`` is the CLI form, which parses back to the same ref."""
    ref = parse_target(text)
    assert parse_target(str(ref)) == ref


@pytest.mark.parametrize(
    ("text", "base"),
    [
        pytest.param("myuser/My_Model.v2", "https://myuser-my-model-v2.chutes.ai", id="name"),
        pytest.param("slug:me-x-x7k2p", "https://me-x-x7k2p.chutes.ai", id="slug"),
        pytest.param(f"id:{SOME_ID}", f"https://api.chutes.ai/chutes/{SOME_ID}", id="id"),
        pytest.param("http://127.0.0.1:8000", "http://127.0.0.1:8000", id="url"),
    ],
)
def test_target_ref_resolves_like_the_client(text: str, base: str) -> None:
    """``resolve`` gives the base URL the client's addressing rule gives."""
    target = parse_target(text).resolve(domain="chutes.ai", api_url="https://api.chutes.ai")
    assert isinstance(target, Target)
    assert target.base_url == base


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("me/x", ("name", "me/x"), id="name"),
        pytest.param("slug:me-x", ("slug", "me-x"), id="slug"),
    ],
)
def test_client_chute_accepts_target_kwargs(text: str, expected: tuple[str, str]) -> None:
    """A parsed target's kwargs address the same chute through ``client.chute``."""
    with chutes.Client(api_key="k") as client:
        via_ref = client.chute(**parse_target(text).as_kwargs())
        direct = client.chute(**{expected[0]: expected[1]})
        assert via_ref.base_url == direct.base_url

"""Chute addressing: slugs, target resolution and path joining (the host security boundary)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from chutes._core.errors import ConfigurationError
from chutes._core.targets import Target, join_url, resolve_target, slugify

DOMAIN = "chutes.ai"
API_URL = "https://api.chutes.ai"
CHUTE_ID = "5b1d0c2e-aaaa-4bbb-8ccc-ddddeeeeffff"

# The contract's grammar for names and slugs, anchored at both ends of the whole string.
NAME_GRAMMAR = re.compile(r"[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-/]+")
DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")

# Characters that break URLs, mixed with ordinary ones so generated text reaches deep checks.
URL_CHARS = [*"aZz09_.-/@#?:;%[]\\ \t\r\n\x00\x7f", "é", "\u2024", "\uff0f"]
URL_PIECES = [*URL_CHARS, "%2e", "..", "evil.com", "://", "//"]
tricky_text = st.one_of(
    st.text(),
    st.text(st.characters(max_codepoint=0x7F)),
    st.text(alphabet=st.sampled_from(URL_CHARS) | st.characters(), max_size=40),
    st.lists(st.sampled_from(URL_PIECES), max_size=12).map("".join),
)
PROPERTY_SETTINGS = settings(max_examples=300, deadline=None)


def resolve(name: str | None = None, **kwargs: Any) -> Target:
    """Resolve with the platform defaults."""
    return resolve_target(name, domain=DOMAIN, api_url=API_URL, **kwargs)


def hosts(url: str) -> tuple[str | None, str]:
    """The host of ``url`` as urllib and as httpx see it."""
    return urlsplit(url).hostname, httpx.URL(url).host


# --- slugify -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("myuser/My_Model.v2", "myuser-my-model-v2", id="contract-example"),
        pytest.param("chutes/Qwen/Qwen3-32B", "chutes-qwen-qwen3-32b", id="slash-in-chute-name"),
        pytest.param("a--b__c..d", "a-b-c-d", id="runs-collapse-to-one-dash"),
        pytest.param("--user/model--", "user-model", id="edge-dashes-stripped"),
        pytest.param("UPPER/Case", "upper-case", id="lower-cased"),
        pytest.param("u/" + "a" * 56, "u-" + "a" * 56, id="exactly-58"),
        pytest.param("u/" + "a" * 60, "u-" + "a" * 56, id="cut-at-58"),
        pytest.param("u/" + "a" * 55 + "/bbbb", "u-" + "a" * 55, id="dash-left-by-cut-dropped"),
        pytest.param("___", "", id="nothing-left"),
    ],
)
def test_slugify(name: str, expected: str) -> None:
    """slugify follows python-slugify's rule: lower, collapse, strip, cut to 58, strip."""
    assert slugify(name) == expected


@given(tricky_text)
@PROPERTY_SETTINGS
def test_slugify_always_gives_a_dns_label_or_nothing(name: str) -> None:
    """Whatever the input, slugify yields an empty string or one DNS label of <= 58 chars."""
    slug = slugify(name)
    assert slug == "" or (DNS_LABEL.fullmatch(slug) and len(slug) <= 58)


# --- resolve_target: the four forms ----------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "base_url", "host"),
    [
        pytest.param(
            {"name": "myuser/my-llm"},
            "https://myuser-my-llm.chutes.ai",
            "myuser-my-llm.chutes.ai",
            id="name",
        ),
        pytest.param(
            {"name": "myuser/My_Model.v2"},
            "https://myuser-my-model-v2.chutes.ai",
            "myuser-my-model-v2.chutes.ai",
            id="name-slugified",
        ),
        pytest.param(
            {"name": "chutes/Qwen/Qwen3-32B"},
            "https://chutes-qwen-qwen3-32b.chutes.ai",
            "chutes-qwen-qwen3-32b.chutes.ai",
            id="name-with-slash",
        ),
        pytest.param({"slug": "llm"}, "https://llm.chutes.ai", "llm.chutes.ai", id="slug"),
        pytest.param(
            {"slug": "a" * 63},
            f"https://{'a' * 63}.chutes.ai",
            f"{'a' * 63}.chutes.ai",
            id="slug-63-chars",
        ),
        pytest.param(
            {"slug": "myuser-my-llm-x7k2p"},
            "https://myuser-my-llm-x7k2p.chutes.ai",
            "myuser-my-llm-x7k2p.chutes.ai",
            id="slug-with-clash-suffix",
        ),
        pytest.param(
            {"id": CHUTE_ID},
            f"https://api.chutes.ai/chutes/{CHUTE_ID}",
            "api.chutes.ai",
            id="id",
        ),
        pytest.param(
            {"id": CHUTE_ID.upper()},
            f"https://api.chutes.ai/chutes/{CHUTE_ID}",
            "api.chutes.ai",
            id="id-lower-cased",
        ),
        pytest.param(
            {"url": "http://127.0.0.1:8000"},
            "http://127.0.0.1:8000",
            "127.0.0.1",
            id="url-port-kept",
        ),
        pytest.param(
            {"url": "http://127.0.0.1:8000/"},
            "http://127.0.0.1:8000",
            "127.0.0.1",
            id="url-trailing-slash-dropped",
        ),
        pytest.param(
            {"url": "HTTPS://Example.COM/Base/"},
            "https://example.com/Base",
            "example.com",
            id="url-scheme-and-host-lower-cased",
        ),
        pytest.param(
            {"url": "http://[::1]:8080/x"},
            "http://[::1]:8080/x",
            "::1",
            id="url-ipv6",
        ),
    ],
)
def test_resolve_target(kwargs: dict[str, str], base_url: str, host: str) -> None:
    """Each addressing form resolves to the expected base URL and host."""
    assert resolve(**kwargs) == Target(base_url=base_url, host=host)


def test_resolve_id_uses_the_configured_api_url() -> None:
    """An id is reached under the api_url the client was given."""
    target = resolve_target(id=CHUTE_ID, domain=DOMAIN, api_url="http://localhost:9000/base")
    assert target == Target(
        base_url=f"http://localhost:9000/base/chutes/{CHUTE_ID}", host="localhost"
    )


def test_resolve_name_uses_the_configured_domain() -> None:
    """A name resolves under the configured platform domain."""
    target = resolve_target("u/m", domain="example.org", api_url=API_URL)
    assert target == Target(base_url="https://u-m.example.org", host="u-m.example.org")


INVALID = [
    # names
    pytest.param({"name": ""}, id="name-empty"),
    pytest.param({"name": "evil.com#"}, id="name-hash"),
    pytest.param({"name": "evil.com#/x"}, id="name-hash-then-path"),
    pytest.param({"name": "a@b"}, id="name-at"),
    pytest.param({"name": "a@evil.com/x"}, id="name-at-then-path"),
    pytest.param({"name": "x/../y"}, id="name-dotdot-segment"),
    pytest.param({"name": "x/./y"}, id="name-dot-segment"),
    pytest.param({"name": "x//y"}, id="name-empty-segment"),
    pytest.param({"name": "x/"}, id="name-empty-chute"),
    pytest.param({"name": "/x"}, id="name-empty-user"),
    pytest.param({"name": "nouser"}, id="name-without-slash"),
    pytest.param({"name": "my user/model"}, id="name-space"),
    pytest.param({"name": "a/b c"}, id="name-inner-space"),
    pytest.param({"name": "a/b\r\n"}, id="name-crlf"),
    pytest.param({"name": "a/b\n"}, id="name-trailing-lf"),
    pytest.param({"name": "a\n/b"}, id="name-lf-in-user"),
    pytest.param({"name": "a/b\rc"}, id="name-cr"),
    pytest.param({"name": "a/b\x00"}, id="name-nul"),
    pytest.param({"name": "a/b\t"}, id="name-tab"),
    pytest.param({"name": "ü/model"}, id="name-non-ascii"),
    pytest.param({"name": "a/b?x=1"}, id="name-query"),
    pytest.param({"name": "a/b\\c"}, id="name-backslash"),
    pytest.param({"name": "_/_"}, id="name-without-letters"),
    # slugs
    pytest.param({"slug": ""}, id="slug-empty"),
    pytest.param({"slug": "LLM"}, id="slug-upper-case"),
    pytest.param({"slug": "-llm"}, id="slug-leading-dash"),
    pytest.param({"slug": "llm-"}, id="slug-trailing-dash"),
    pytest.param({"slug": "a" * 64}, id="slug-too-long"),
    pytest.param({"slug": "evil.com"}, id="slug-with-dot"),
    pytest.param({"slug": "evil.com#"}, id="slug-hash"),
    pytest.param({"slug": "a@b"}, id="slug-at"),
    pytest.param({"slug": "llm/x"}, id="slug-slash"),
    pytest.param({"slug": "ll m"}, id="slug-space"),
    pytest.param({"slug": "llm\r\n"}, id="slug-crlf"),
    pytest.param({"slug": "llm\n"}, id="slug-trailing-lf"),
    # ids
    pytest.param({"id": ""}, id="id-empty"),
    pytest.param({"id": "not-a-uuid"}, id="id-not-uuid"),
    pytest.param({"id": CHUTE_ID + "0"}, id="id-too-long"),
    pytest.param({"id": "../" + CHUTE_ID}, id="id-dotdot"),
    pytest.param({"id": CHUTE_ID + "/x"}, id="id-with-path"),
    pytest.param({"id": CHUTE_ID + "\n"}, id="id-trailing-lf"),
    pytest.param({"id": CHUTE_ID + "\r\n"}, id="id-crlf"),
    # urls
    pytest.param({"url": ""}, id="url-empty"),
    pytest.param({"url": "ftp://x"}, id="url-ftp"),
    pytest.param({"url": "javascript:alert(1)"}, id="url-javascript"),
    pytest.param({"url": "//evil.com"}, id="url-scheme-relative"),
    pytest.param({"url": "evil.com"}, id="url-no-scheme"),
    pytest.param({"url": "http:/evil.com"}, id="url-one-slash"),
    pytest.param({"url": "https://"}, id="url-no-host"),
    pytest.param({"url": "https://good@evil.com"}, id="url-user-info"),
    pytest.param({"url": "https://good:pw@evil.com"}, id="url-user-password"),
    pytest.param({"url": "https://evil.com?good.com"}, id="url-query"),
    pytest.param({"url": "https://evil.com/?"}, id="url-empty-query"),
    pytest.param({"url": "https://evil.com#good.com"}, id="url-fragment"),
    pytest.param({"url": "https://evil.com\\@good.com"}, id="url-backslash"),
    pytest.param({"url": "https://x.com/a b"}, id="url-space"),
    pytest.param({"url": "https://x.com\r\nHost: evil"}, id="url-crlf"),
    pytest.param({"url": "https://x.com:0"}, id="url-port-zero"),
    pytest.param({"url": "https://x.com:65536"}, id="url-port-too-big"),
    pytest.param({"url": "https://x.com:abc"}, id="url-port-not-number"),
    pytest.param({"url": "https://x.com/../y"}, id="url-dotdot"),
    pytest.param({"url": "https://ex\u00e4mple.com"}, id="url-non-ascii-host"),
    pytest.param({"url": "https://[::1"}, id="url-broken-ipv6"),
    # zero or several forms
    pytest.param({}, id="no-form"),
    pytest.param({"name": "a/b", "slug": "llm"}, id="name-and-slug"),
    pytest.param({"slug": "llm", "url": "https://x.com"}, id="slug-and-url"),
    pytest.param({"id": CHUTE_ID, "url": "https://x.com"}, id="id-and-url"),
]


@pytest.mark.parametrize("kwargs", INVALID)
def test_resolve_refuses_invalid_input(kwargs: dict[str, str]) -> None:
    """Any invalid, ambiguous or missing addressing form raises ConfigurationError."""
    with pytest.raises(ConfigurationError):
        resolve(**kwargs)


def test_resolve_error_names_the_forms_given() -> None:
    """Giving two forms says which ones were given."""
    with pytest.raises(ConfigurationError, match=r"got name, slug"):
        resolve("a/b", slug="llm")


# --- join_url ---------------------------------------------------------------------------------

LLM = Target(base_url="https://llm.chutes.ai", host="llm.chutes.ai")
BY_ID = Target(base_url=f"https://api.chutes.ai/chutes/{CHUTE_ID}", host="api.chutes.ai")


@pytest.mark.parametrize(
    ("target", "path", "expected"),
    [
        pytest.param(LLM, "v1/x", "https://llm.chutes.ai/v1/x", id="relative"),
        pytest.param(LLM, "/v1/x", "https://llm.chutes.ai/v1/x", id="leading-slash"),
        pytest.param(LLM, "", "https://llm.chutes.ai/", id="empty"),
        pytest.param(LLM, "/", "https://llm.chutes.ai/", id="root"),
        pytest.param(LLM, "a/b:c@d~e", "https://llm.chutes.ai/a/b:c@d~e", id="sub-delims"),
        pytest.param(LLM, "a%20b", "https://llm.chutes.ai/a%20b", id="percent-encoded"),
        pytest.param(LLM, "...", "https://llm.chutes.ai/...", id="three-dots-is-a-name"),
        pytest.param(
            BY_ID, "/generate", f"https://api.chutes.ai/chutes/{CHUTE_ID}/generate", id="under-id"
        ),
    ],
)
def test_join_url(target: Target, path: str, expected: str) -> None:
    """A relative path is appended to the chute's base URL."""
    assert join_url(target, path) == expected


def test_join_with_and_without_leading_slash_agree() -> None:
    """'v1/x' and '/v1/x' give the same URL."""
    assert join_url(LLM, "v1/x") == join_url(LLM, "/v1/x")


def test_target_join_is_join_url() -> None:
    """Target.join is a shortcut for join_url."""
    assert LLM.join("/v1/models") == join_url(LLM, "/v1/models")


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("https://evil.com/x", id="absolute-https"),
        pytest.param("http://evil.com", id="absolute-http"),
        pytest.param("HTTPS://evil.com", id="absolute-upper"),
        pytest.param("javascript:alert(1)", id="javascript"),
        pytest.param("//evil.com/x", id="scheme-relative"),
        pytest.param("///evil.com", id="triple-slash"),
        pytest.param("..", id="dotdot"),
        pytest.param("../x", id="dotdot-first"),
        pytest.param("a/../b", id="dotdot-inner"),
        pytest.param("a/..", id="dotdot-last"),
        pytest.param("./x", id="dot-first"),
        pytest.param("a/./b", id="dot-inner"),
        pytest.param("%2e%2e/x", id="encoded-dotdot"),
        pytest.param("%2E%2E/x", id="encoded-dotdot-upper"),
        pytest.param(".%2e/x", id="half-encoded-dotdot"),
        pytest.param("a/%2e/b", id="encoded-dot"),
        pytest.param("a\r\nb", id="crlf"),
        pytest.param("a\nHost: evil.com", id="lf-header"),
        pytest.param("a\x00", id="nul"),
        pytest.param("a\tb", id="tab"),
        pytest.param("a\x7f", id="del"),
        pytest.param("a b", id="space"),
        pytest.param("a\\b", id="backslash"),
        pytest.param("\\\\evil.com/x", id="double-backslash"),
        pytest.param("/\\evil.com", id="slash-backslash"),
        pytest.param("a?b=1", id="query"),
        pytest.param("a#frag", id="fragment"),
        pytest.param("#", id="bare-hash"),
        pytest.param("é", id="non-ascii"),
        pytest.param("a%zz", id="bad-percent"),
        pytest.param("a%2", id="truncated-percent"),
        pytest.param("a<b>", id="angle-brackets"),
    ],
)
def test_join_refuses(path: str) -> None:
    """Absolute URLs, //host, dot segments, controls, backslashes, ? and # are refused."""
    with pytest.raises(ConfigurationError):
        join_url(LLM, path)


def test_join_refuses_non_str() -> None:
    """A path that is not a str is refused."""
    with pytest.raises(ConfigurationError):
        join_url(LLM, b"/x")  # type: ignore[arg-type]


# --- properties: no input moves the host ------------------------------------------------------


@given(tricky_text)
@example("a/b\n")
@example("evil.com#/x")
@example("a@evil.com/x")
@PROPERTY_SETTINGS
def test_any_name_lands_on_its_slug_host(name: str) -> None:
    """A name is refused or resolves to <slug>.chutes.ai, as urllib and httpx both parse it."""
    try:
        target = resolve(name)
    except ConfigurationError:
        return
    intended = f"{slugify(name)}.{DOMAIN}"
    assert target.host == intended
    assert hosts(target.base_url) == (intended, intended)


@given(tricky_text)
@example("a/b\n")
@example("a\n/b")
@PROPERTY_SETTINGS
def test_accepted_names_fit_the_contract_grammar(name: str) -> None:
    """Only 'user/chute' names of ASCII letters, digits, '_', '.', '-' and '/' are accepted."""
    try:
        resolve(name)
    except ConfigurationError:
        return
    assert NAME_GRAMMAR.fullmatch(name)
    assert all(part not in ("", ".", "..") for part in name.split("/"))


@given(tricky_text)
@example("llm\n")
@example("evil.com#")
@PROPERTY_SETTINGS
def test_any_slug_lands_on_its_own_host(slug: str) -> None:
    """A slug is refused or resolves to <slug>.chutes.ai, as urllib and httpx both parse it."""
    try:
        target = resolve(slug=slug)
    except ConfigurationError:
        return
    intended = f"{slug}.{DOMAIN}"
    assert DNS_LABEL.fullmatch(slug)
    assert target.host == intended
    assert hosts(target.base_url) == (intended, intended)


@given(tricky_text)
@example(CHUTE_ID + "\n")
@PROPERTY_SETTINGS
def test_any_id_stays_on_the_api_host(chute_id: str) -> None:
    """An id is refused or resolves under api.chutes.ai/chutes/ with a clean lower-case UUID."""
    try:
        target = resolve(id=chute_id)
    except ConfigurationError:
        return
    assert hosts(target.base_url) == ("api.chutes.ai", "api.chutes.ai")
    assert target.base_url == f"{API_URL}/chutes/{chute_id.lower()}"
    assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", chute_id.lower())


@given(tricky_text)
@example("//evil.com/x")
@example("%2e%2e/%2e%2e/evil")
@example("\\\\evil.com")
@PROPERTY_SETTINGS
def test_any_path_stays_on_the_target_host(path: str) -> None:
    """Joining any path is refused or keeps the target's host for urllib and httpx alike."""
    target = Target(base_url="https://myuser-my-llm.chutes.ai", host="myuser-my-llm.chutes.ai")
    try:
        url = join_url(target, path)
    except ConfigurationError:
        return
    assert url.startswith(target.base_url + "/")
    assert hosts(url) == (target.host, target.host)


url_text = st.builds(
    "{}{}".format,
    st.sampled_from(["http://", "https://", "HTTP://", "https:", "ftp://", "//", ""]),
    st.lists(
        st.sampled_from([*"abz09.-_:@#?/[]%\\ \r\n\x00é", "::1", "%2e", "evil.com", "8000"]),
        max_size=15,
    ).map("".join),
)


@given(st.one_of(url_text, tricky_text), tricky_text)
@example("https://good@evil.com", "x")
@example("https://evil.com#.good.com", "x")
@example("http://[::1]:8000", "/v1/x")
@example("http://[", "")
@PROPERTY_SETTINGS
def test_any_accepted_url_keeps_its_host(url: str, path: str) -> None:
    """An accepted url= keeps its own host, and no joined path changes it."""
    try:
        target = resolve(url=url)
    except ConfigurationError:
        return
    own = urlsplit(url).hostname
    assert own is not None
    assert target.host == own
    assert httpx.URL(url).host == own
    assert hosts(target.base_url) == (own, own)
    try:
        joined = join_url(target, path)
    except ConfigurationError:
        return
    assert hosts(joined) == (own, own)

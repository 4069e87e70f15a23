"""Security: no input moves a request (and the key) to another host, nothing injects a
header, the key never shows up in text, redirects are not followed, TLS is verified.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import re
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import chutes

KEY = "cpk_5ec0000000000000000000000000beef.5ec1111111111111111111111111beef.SECRETpartZZ9"
NO_SLEEP = chutes.RetryPolicy(initial_delay=0)
MESSAGES = [{"role": "user", "content": "hi"}]
LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
HYPOTHESIS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# Pieces that have moved hosts in other URL handling: user info, fragments, queries,
# dot segments, scheme-relative and absolute URLs, backslashes, encodings, controls.
FRAGMENTS = [
    "a",
    "Z",
    "0",
    "-",
    "_",
    ".",
    "..",
    "/",
    "//",
    "@",
    "#",
    "?",
    ":",
    ":80",
    "\\",
    "%2e",
    "%2E%2e",
    "%2f",
    "%40",
    "%23",
    "%",
    " ",
    "\r",
    "\n",
    "\t",
    "\x00",
    "é",
    "\u3002",
    "evil.com",
    "127.0.0.2",
    "http://",
    "https://evil.com",
    "//evil.com",
    "@evil.com",
    "#@evil.com",
    "?@evil.com",
    "user:pass@",
    "[::1]",
]
fuzz = st.one_of(
    st.text(max_size=24),
    st.lists(st.sampled_from(FRAGMENTS), max_size=8).map("".join),
)
# Well-formed pieces, so a good share of examples is accepted and actually sent.
part = st.from_regex(r"[A-Za-z0-9_.\-]{1,12}", fullmatch=True)
label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
segments = st.lists(part, min_size=1, max_size=3).map("/".join)


def mixed(good: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Well-formed values, hostile ones, and well-formed ones with a hostile tail."""
    return st.one_of(good, fuzz, st.tuples(good, fuzz).map("".join))


# What may follow a host: each ends the host name, so the host must stay the same.
SEPARATORS = ["/", ":", "?", "#", "@", "\\", ":80/", "/%2f", ";", "\r", "\n"]


class Recording:
    """A borrowed httpx client whose MockTransport records every request's host."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.http = httpx.Client(transport=httpx.MockTransport(self._handle))

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json={"ok": True})

    @property
    def hosts(self) -> list[str]:
        return [r.url.host for r in self.requests]

    def client(self, **options: Any) -> chutes.Client:
        options.setdefault("api_key", KEY)
        return chutes.Client(http_client=self.http, max_retries=0, **options)


@pytest.fixture(scope="module")
def recording() -> Iterator[Recording]:
    """One recording transport for a module's hypothesis examples."""
    rec = Recording()
    yield rec
    rec.http.close()


def _send_or_refuse(rec: Recording, make: Callable[[], chutes.Chute], path: str = "/x") -> bool:
    """Send one GET through the chute ``make`` builds; False if refused before any traffic."""
    rec.requests.clear()
    try:
        make().get(path)
    except chutes.ConfigurationError:
        assert rec.requests == [], "refused, but only after sending"
        event("refused")
        return False
    event("sent")
    return True


# --- no input reaches another host --------------------------------------------------------


@HYPOTHESIS
@given(user=mixed(part), name=mixed(segments))
def test_names_stay_on_their_subdomain(recording: Recording, user: str, name: str) -> None:
    """A 'user/name' target reaches only its own slug's subdomain, or is refused."""
    full = f"{user}/{name}"
    with recording.client() as client:
        if _send_or_refuse(recording, lambda: client.chute(full)):
            slug = chutes.slugify(full)
            assert LABEL.fullmatch(slug)
            assert recording.hosts == [f"{slug}.chutes.ai"]


@HYPOTHESIS
@given(name=mixed(segments))
def test_bare_names_stay_on_their_subdomain(recording: Recording, name: str) -> None:
    """Any string given as a name reaches only its slug's subdomain, or is refused."""
    with recording.client() as client:
        if _send_or_refuse(recording, lambda: client.chute(name)):
            assert recording.hosts == [f"{chutes.slugify(name)}.chutes.ai"]


@HYPOTHESIS
@given(slug=mixed(label))
def test_slugs_stay_on_their_subdomain(recording: Recording, slug: str) -> None:
    """A slug= target reaches exactly '{slug}.chutes.ai', or is refused."""
    with recording.client() as client:
        if _send_or_refuse(recording, lambda: client.chute(slug=slug)):
            assert LABEL.fullmatch(slug)
            assert recording.hosts == [f"{slug}.chutes.ai"]


@HYPOTHESIS
@given(chute_id=st.one_of(fuzz, st.uuids().map(str), st.uuids().map(lambda u: f"{u}/x")))
def test_ids_stay_on_the_api_host(recording: Recording, chute_id: str) -> None:
    """An id= target reaches only the API host, or is refused."""
    with recording.client() as client:
        if _send_or_refuse(recording, lambda: client.chute(id=chute_id)):
            assert recording.hosts == ["api.chutes.ai"]


@HYPOTHESIS
@given(separator=st.sampled_from(SEPARATORS), rest=mixed(segments))
def test_urls_stay_on_their_host(recording: Recording, separator: str, rest: str) -> None:
    """A url= of 'http://127.0.0.1' plus anything after the host keeps that host, or is refused."""
    url = f"http://127.0.0.1{separator}{rest}"
    with recording.client() as client:
        if _send_or_refuse(recording, lambda: client.chute(url=url)):
            assert recording.hosts == ["127.0.0.1"]


@HYPOTHESIS
@given(separator=st.sampled_from(SEPARATORS), rest=mixed(segments))
def test_api_url_stays_on_its_host(recording: Recording, separator: str, rest: str) -> None:
    """An api_url of 'https://api.example.test' plus anything keeps that host, or is refused."""
    api_url = f"https://api.example.test{separator}{rest}"
    chute_id = "5b1d2c3e-0000-4000-8000-00000000abcd"
    recording.requests.clear()
    try:
        client = recording.client(api_url=api_url)
    except chutes.ConfigurationError:
        assert recording.requests == []
        return
    with client:
        if _send_or_refuse(recording, lambda: client.chute(id=chute_id)):
            assert recording.hosts == ["api.example.test"]


@HYPOTHESIS
@given(
    target=st.sampled_from(
        [{"url": "http://127.0.0.1:8000"}, {"name": "user/app"}, {"url": "http://127.0.0.1/base"}]
    ),
    path=mixed(segments),
    params=st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=2),
)
def test_paths_stay_on_the_chute_host(
    recording: Recording, target: dict[str, str], path: str, params: dict[str, str]
) -> None:
    """No path (or query parameter) sends a call off the chute's host."""
    expected = "user-app.chutes.ai" if "name" in target else "127.0.0.1"
    with recording.client() as client:
        chute = client.chute(target.get("name"), url=target.get("url"))
        recording.requests.clear()
        try:
            chute.get(path, params=params)
        except chutes.ConfigurationError:
            assert recording.requests == []
            event("refused")
            return
        event("sent")
        assert recording.hosts == [expected]
        assert recording.requests[0].url.path.startswith(
            "/base/" if target.get("url", "").endswith("/base") else "/"
        )


@HYPOTHESIS
@given(path=mixed(segments))
def test_stream_and_helper_paths_stay_on_the_chute_host(recording: Recording, path: str) -> None:
    """stream() and the helpers' path= cannot leave the chute's host either."""
    with recording.client() as client:
        chute = client.chute(url="http://127.0.0.1:8000")
        for call in (
            lambda: chute.stream(path).__enter__().close(),
            lambda: chute.embeddings.create(model="m", input="x", path=path),
        ):
            recording.requests.clear()
            try:
                call()
            except chutes.ConfigurationError:
                assert recording.requests == []
            except chutes.ChutesError:
                assert recording.hosts == ["127.0.0.1"]  # reached our host, answered oddly
            else:
                assert recording.hosts == ["127.0.0.1"]


@pytest.mark.parametrize(
    ("url", "sends_key"),
    [
        pytest.param("http://127.0.0.1:8000/img.png", True, id="same-host"),
        pytest.param("http://127.0.0.2:8000/img.png", False, id="other-host"),
        pytest.param("https://127.0.0.1:8000/img.png", False, id="other-scheme"),
        pytest.param("http://evil.example/img.png", False, id="other-domain"),
    ],
)
def test_image_downloads_carry_the_key_only_to_the_chute_host(url: str, sends_key: bool) -> None:
    """An image URL a chute returns is fetched with the key only on the chute's own host."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/generations"):
            return httpx.Response(200, json={"created": 1, "data": [{"url": url}]})
        return httpx.Response(200, content=b"\x89PNG", headers={"content-type": "image/png"})

    with (
        httpx.Client(transport=httpx.MockTransport(handler)) as http,
        chutes.Client(api_key=KEY, http_client=http) as client,
    ):
        images = client.chute(url="http://127.0.0.1:8000").images.generate(prompt="p")
        assert images.data[0].bytes() == b"\x89PNG"
    download = seen[-1]
    assert str(download.url) == url
    assert ("authorization" in download.headers) is sends_key
    assert "x-api-key" not in download.headers
    if not sends_key:
        assert KEY not in str(download.headers)


# --- CR/LF and non-ASCII are refused before sending ------------------------------------------


def _key_case(key: str) -> Callable[[Recording], Any]:
    return lambda rec: rec.client(api_key=key)


def _default_header_case(name: str, value: str) -> Callable[[Recording], Any]:
    return lambda rec: rec.client(default_headers={name: value})


def _header_case(name: str, value: str) -> Callable[[Recording], Any]:
    def run(rec: Recording) -> Any:
        with rec.client() as client:
            return client.chute(url="http://127.0.0.1:8000").get("/x", headers={name: value})

    return run


def _path_case(path: str) -> Callable[[Recording], Any]:
    def run(rec: Recording) -> Any:
        with rec.client() as client:
            return client.chute(url="http://127.0.0.1:8000").get(path)

    return run


def _options_case(value: str) -> Callable[[Recording], Any]:
    def run(rec: Recording) -> Any:
        with rec.client() as client:
            return client.with_options(default_headers={"X-Extra": value})

    return run


INJECTIONS = [
    pytest.param(_key_case(KEY + "\r\nX-Injected: 1"), id="key-crlf"),
    pytest.param(_key_case(KEY + "\n"), id="key-trailing-lf"),
    pytest.param(_key_case("\r" + KEY), id="key-leading-cr"),
    pytest.param(_key_case(KEY[:20] + "é" + KEY[20:]), id="key-non-ascii"),
    pytest.param(_key_case(KEY[:20] + " " + KEY[20:]), id="key-space"),
    pytest.param(_key_case(KEY[:20] + "\x00" + KEY[20:]), id="key-nul"),
    pytest.param(_default_header_case("X-A\r\nX-Injected", "v"), id="default-header-name-crlf"),
    pytest.param(_default_header_case("X-A", "v\r\nX-Injected: 1"), id="default-header-value-crlf"),
    pytest.param(_default_header_case("X-A", "v\nX-Injected: 1"), id="default-header-value-lf"),
    pytest.param(_default_header_case("X-Tëst", "v"), id="default-header-name-non-ascii"),
    pytest.param(_default_header_case("X-A", "café"), id="default-header-value-non-ascii"),
    pytest.param(_options_case("v\r\nX-Injected: 1"), id="with-options-header-value-crlf"),
    pytest.param(_header_case("X-A\r\nX-Injected", "v"), id="header-name-crlf"),
    pytest.param(_header_case("X-A", "v\r\nX-Injected: 1"), id="header-value-crlf"),
    pytest.param(_header_case("X-A", "v\rX-Injected: 1"), id="header-value-cr"),
    pytest.param(_header_case("X-A", "naïve"), id="header-value-non-ascii"),
    pytest.param(_header_case("X-Ä", "v"), id="header-name-non-ascii"),
    pytest.param(_header_case("X-A: b", "v"), id="header-name-colon"),
    pytest.param(_path_case("/a\r\nHost: evil.com"), id="path-crlf"),
    pytest.param(_path_case("/a\nb"), id="path-lf"),
    pytest.param(_path_case("/a\rb"), id="path-cr"),
    pytest.param(_path_case("/café"), id="path-non-ascii"),
    pytest.param(_path_case("/a\x00b"), id="path-nul"),
    pytest.param(_path_case("/a b HTTP/1.1\r\nX: y"), id="path-request-line-split"),
]


@pytest.mark.parametrize("attempt", INJECTIONS)
def test_injection_refused_before_sending(attempt: Callable[[Recording], Any]) -> None:
    """CR/LF, NUL and non-ASCII in the key, header names/values or paths are refused unsent."""
    rec = Recording()
    try:
        with pytest.raises(chutes.ConfigurationError) as info:
            attempt(rec)
        assert rec.requests == []
        assert "SECRET" not in str(info.value)
        assert KEY[4:20] not in str(info.value)
    finally:
        rec.http.close()


@pytest.mark.parametrize(
    ("where", "value"),
    [
        pytest.param("key", KEY + "\r\nX-Injected: 1", id="key-crlf"),
        pytest.param("header", "v\r\nX-Injected: 1", id="header-value-crlf"),
        pytest.param("path", "/a\r\nHost: evil.com", id="path-crlf"),
    ],
)
async def test_injection_refused_before_sending_async(where: str, value: str) -> None:
    """The asyncio client refuses CR/LF in the key, a header or a path before sending."""
    sent: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    async def attempt(http: httpx.AsyncClient) -> None:
        key = value if where == "key" else KEY
        async with chutes.AsyncClient(api_key=key, http_client=http) as client:
            chute = client.chute(url="http://127.0.0.1:8000")
            if where == "header":
                await chute.get("/x", headers={"X-A": value})
            else:
                await chute.get(value)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        with pytest.raises(chutes.ConfigurationError):
            await attempt(http)
    assert sent == []


# --- the key never appears in text ----------------------------------------------------------

SECRETS = [KEY, KEY.split(".")[1], KEY.split(".")[2], KEY[4:36]]


# Fault behaviours to run, with the call that meets each (get, chat, chat_stream, events).
SWEEP: list[tuple[str, Callable[[Any], list[Any]], str]] = [
    ("ok", lambda s: [s.ok()], "get"),
    ("503-burst", lambda s: [s.status(503)] * 3, "get"),
    ("429-then-ok", lambda s: [s.status(429), s.ok()], "get"),
    ("401", lambda s: [s.status(401, "Invalid token.")], "get"),
    ("html-502", lambda s: [s.html(502, "502 Bad Gateway")] * 3, "get"),
    ("html-504", lambda s: [s.html(504, "504 Gateway Time-out")], "get"),
    ("reset", lambda s: [s.reset_before_response()] * 3, "get"),
    ("reset-mid-body", lambda s: [s.reset_mid_body()], "get"),
    ("truncated", lambda s: [s.truncated()], "chat"),
    ("invalid-json", lambda s: [s.ok(b'{"choices": [')], "chat"),
    ("read-timeout", lambda s: [s.stall()], "get"),
    ("stall-after-headers", lambda s: [s.stall_after_headers()], "get"),
    ("redirect", lambda s: [s.respond(302, b"", headers=[("Location", "/elsewhere")])], "get"),
    ("chat-ok", lambda s: [s.ok(s.chat_body())], "chat"),
    ("stream-ok", lambda s: [s.chat_stream(["a", "b"])], "chat_stream"),
    (
        "stream-error-line",
        lambda s: [s.sse([s.chat_frame("Hel"), b'{"error": "boom"}'], ending="end-close")],
        "chat_stream",
    ),
    ("stream-reset", lambda s: [s.sse([s.chat_frame("Hel")], ending="reset")], "chat_stream"),
    ("stream-stall", lambda s: [s.sse([s.chat_frame("Hel")], ending="stall")], "chat_stream"),
    ("events-reset", lambda s: [s.sse([b"data: 1\n\n"], ending="reset")], "events"),
]


def _texts_of(thing: Any) -> list[str | bytes]:
    """Every text form of a result or error (and of its causes) that could leak the key."""
    texts: list[str | bytes] = [repr(thing), str(thing)]
    if isinstance(thing, BaseException):
        texts.append(pickle.dumps(thing))
        for extra in (getattr(thing, "response", None), getattr(thing, "body", None)):
            texts.append(repr(extra))
        cause = thing.__cause__ or thing.__context__
        for _ in range(5):
            if cause is None:
                break
            texts += [repr(cause), str(cause)]
            cause = cause.__cause__ or cause.__context__
    return texts


def _assert_no_key(texts: list[str | bytes]) -> None:
    for text in texts:
        for secret in SECRETS:
            needle: str | bytes = secret.encode() if isinstance(text, bytes) else secret
            assert needle not in text, f"the key leaked into {text[:200]!r}"


def _sync_call(chute: chutes.Chute, kind: str) -> Any:
    if kind == "get":
        return chute.get("/sweep")
    if kind == "chat":
        return chute.chat.completions.create(model="m", messages=MESSAGES)
    if kind == "events":
        with chute.stream("/events") as events:
            return list(events)
    stream = chute.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    with stream:
        return [repr(stream), stream.collect()]


async def _async_call(chute: chutes.AsyncChute, kind: str) -> Any:
    if kind == "get":
        return await chute.get("/sweep")
    if kind == "chat":
        return await chute.chat.completions.create(model="m", messages=MESSAGES)
    if kind == "events":
        async with chute.stream("/events") as events:
            return [event async for event in events]
    stream = await chute.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    async with stream:
        return [repr(stream), await stream.collect()]


AUTH_HEADERS = [
    pytest.param("authorization", id="bearer"),
    pytest.param("x-api-key", id="x-api-key"),
]


def _sent_key(server: Any, auth_header: str) -> bool:
    expected = f"Bearer {KEY}" if auth_header == "authorization" else KEY
    return all(r.headers.get(auth_header) == expected for r in server.requests)


@pytest.mark.parametrize("auth_header", AUTH_HEADERS)
def test_key_never_in_logs_reprs_or_errors_sync(
    auth_header: str, fault_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Across the fault sweep, no log record, repr, message or pickled error holds the key."""
    caplog.set_level(logging.DEBUG, logger="chutes")
    timeout = chutes.Timeout(connect=1.0, read=0.2, write=1.0, pool=1.0)
    outcomes: list[Any] = []
    with chutes.Client(
        api_key=KEY, auth_header=auth_header, timeout=timeout, retry_policy=NO_SLEEP
    ) as client:
        chute = client.chute(url=fault_server.url)
        for _, script, kind in SWEEP:
            fault_server.queue(*script(fault_server))
            try:
                outcomes.append(_sync_call(chute, kind))
            except chutes.ChutesError as exc:
                outcomes.append(exc)
            assert _sent_key(fault_server, auth_header), kind
            fault_server.clear()
        outcomes += [
            client,
            client.with_options(timeout=3.0),
            chute,
            client.usage,
            client._caller.config,
        ]
    assert sum(isinstance(o, chutes.ChutesError) for o in outcomes) >= 12
    assert len(caplog.records) >= 20
    _assert_no_key([text for outcome in outcomes for text in _texts_of(outcome)])
    _assert_no_key([record.getMessage() for record in caplog.records] + [caplog.text])


@pytest.mark.parametrize("auth_header", AUTH_HEADERS)
async def test_key_never_in_logs_reprs_or_errors_async(
    auth_header: str, fault_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Across the fault sweep, no log record, repr, message or pickled error holds the key."""
    caplog.set_level(logging.DEBUG, logger="chutes")
    timeout = chutes.Timeout(connect=1.0, read=0.2, write=1.0, pool=1.0)
    outcomes: list[Any] = []
    async with chutes.AsyncClient(
        api_key=KEY, auth_header=auth_header, timeout=timeout, retry_policy=NO_SLEEP
    ) as client:
        chute = client.chute(url=fault_server.url)
        for _, script, kind in SWEEP:
            fault_server.queue(*script(fault_server))
            try:
                outcomes.append(await _async_call(chute, kind))
            except chutes.ChutesError as exc:
                outcomes.append(exc)
            assert _sent_key(fault_server, auth_header), kind
            fault_server.clear()
        outcomes += [
            client,
            client.with_options(timeout=3.0),
            chute,
            client.usage,
            client._caller.config,
        ]
    assert sum(isinstance(o, chutes.ChutesError) for o in outcomes) >= 12
    assert len(caplog.records) >= 20
    _assert_no_key([text for outcome in outcomes for text in _texts_of(outcome)])
    _assert_no_key([record.getMessage() for record in caplog.records] + [caplog.text])


def test_key_never_in_configuration_errors() -> None:
    """Errors about a malformed key or a refused auth header never echo the key."""
    texts: list[str | bytes] = []
    for attempt in (
        lambda: chutes.Client(api_key=KEY + "\r\n"),
        lambda: chutes.Client(api_key=KEY, auth_header="x-key"),
        lambda: chutes.Client(api_key=KEY, default_headers={"Authorization": f"Bearer {KEY}"}),
        lambda: chutes.Client(api_key=KEY, default_headers={"X-API-Key": KEY}),
    ):
        with pytest.raises(chutes.ConfigurationError) as info:
            attempt()
        texts += _texts_of(info.value)
    _assert_no_key(texts)


# --- redirects ---------------------------------------------------------------------------


REDIRECTS = [
    pytest.param("sync", False, 302, id="sync-302"),
    pytest.param("sync", False, 301, id="sync-301"),
    pytest.param("sync", False, 307, id="sync-307"),
    pytest.param("sync", False, 308, id="sync-308"),
    pytest.param("sync", True, 302, id="sync-borrowed-follow-redirects-302"),
    pytest.param("async", False, 302, id="async-302"),
    pytest.param("async", True, 307, id="async-borrowed-follow-redirects-307"),
]


@pytest.mark.parametrize(("facade", "borrowed", "status"), REDIRECTS)
async def test_redirect_to_another_host_is_not_followed(
    facade: str, borrowed: bool, status: int, make_fault_server: Callable[..., Any]
) -> None:
    """A redirect to another host raises APIStatusError; the other host sees nothing."""
    origin = make_fault_server("127.0.0.1")
    thief = make_fault_server("127.0.0.2")
    location = f"http://127.0.0.2:{thief.port}/steal"
    origin.fallback = origin.respond(status, b"", headers=[("Location", location)])
    started = time.monotonic()
    if facade == "sync":
        with httpx.Client(follow_redirects=True) as http:
            options = {"http_client": http} if borrowed else {}
            with (
                chutes.Client(api_key=KEY, retry_policy=NO_SLEEP, timeout=2.0, **options) as client,
                pytest.raises(chutes.APIStatusError) as info,
            ):
                client.chute(url=origin.url).post("/run", json={"x": 1})
    else:
        async with httpx.AsyncClient(follow_redirects=True) as ahttp:
            aoptions = {"http_client": ahttp} if borrowed else {}
            async with chutes.AsyncClient(
                api_key=KEY, retry_policy=NO_SLEEP, timeout=2.0, **aoptions
            ) as aclient:
                with pytest.raises(chutes.APIStatusError) as info:
                    await aclient.chute(url=origin.url).post("/run", json={"x": 1})
    assert time.monotonic() - started < 3.0
    assert type(info.value) is chutes.APIStatusError
    assert info.value.status_code == status
    assert origin.count("/run") == 1
    await asyncio.sleep(0.05)  # anything sent to the thief would have arrived by now
    assert thief.requests == []
    assert thief.connections_opened == 0


# --- TLS verification ------------------------------------------------------------------------


def _sync_owned() -> Any:
    return chutes.Client(api_key=KEY)


def _async_owned() -> Any:
    return chutes.AsyncClient(api_key=KEY)


def _pickled(make: Callable[[], Any]) -> Callable[[], Any]:
    def build() -> Any:
        original = make()
        copy = pickle.loads(pickle.dumps(original))  # noqa: S301 - our own bytes
        _close(original)
        return copy

    return build


def _close(client: Any) -> None:
    if isinstance(client, chutes.Client):
        client.close()
    else:
        asyncio.run(client.aclose())


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(_sync_owned, id="sync"),
        pytest.param(_async_owned, id="async"),
        pytest.param(_pickled(_sync_owned), id="sync-unpickled"),
        pytest.param(_pickled(_async_owned), id="async-unpickled"),
    ],
)
def test_tls_verification_on_by_default(make: Callable[[], Any]) -> None:
    """An owned pool verifies certificates and host names (CERT_REQUIRED, check_hostname)."""
    client = make()
    try:
        context = client._caller.pool.http._transport._pool._ssl_context
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname is True
    finally:
        _close(client)

"""Headers the client owns, header spelling, the key's origin on downloads, and protocol
errors that must not be resent."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import respx

import chutes
from chutes._core.config import make_config
from chutes._core.requests import Call, base_headers, build_download, build_request
from chutes._core.targets import resolve_target

BASE = "http://127.0.0.1:8000"


def _config(**options: object) -> chutes._core.config.ClientConfig:
    defaults: dict[str, object] = {
        "api_key": "k",
        "auth_header": "authorization",
        "api_url": None,
        "domain": "chutes.ai",
        "timeout": 5.0,
        "max_retries": 0,
        "retry_policy": None,
        "default_headers": None,
    }
    defaults.update(options)
    return make_config({}, **defaults)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["Host", "host", "Content-Length", "content-length"])
def test_default_headers_refuse_owned_headers(name: str) -> None:
    """default_headers cannot set Host or Content-Length, which decide where a request goes."""
    with pytest.raises(chutes.ConfigurationError, match=name):
        _config(default_headers={name: "evil.com" if "ost" in name else "1"})


def test_with_options_refuses_host() -> None:
    """with_options(default_headers=...) cannot set Host either."""
    with pytest.raises(chutes.ConfigurationError, match="Host"):
        _config().evolve(default_headers={"Host": "evil.com"})


def test_default_header_replaces_builtin_whatever_its_case() -> None:
    """A default 'user-agent' replaces the built-in User-Agent rather than adding a second."""
    headers = base_headers(_config(default_headers={"user-agent": "mine/1"}))
    assert [k for k in headers if k.lower() == "user-agent"] == ["user-agent"]
    assert headers["user-agent"] == "mine/1"


@pytest.mark.parametrize("name", ["content-type", "CONTENT-TYPE", "user-agent"])
def test_call_header_replaces_prepared_one_whatever_its_case(name: str) -> None:
    """A call's header replaces the prepared header of any spelling: one value is sent."""
    config = _config()
    target = resolve_target(url=BASE, domain="chutes.ai", api_url="https://api.chutes.ai")
    spec = build_request(
        config,
        base_headers(config),
        target,
        "POST",
        "/a",
        Call(json={}, headers={name: "x/y"}),
    )
    same = [k for k in spec.headers if k.lower() == name.lower()]
    assert same == [name]
    assert spec.headers[name] == "x/y"


@pytest.mark.parametrize(
    ("url", "keyed"),
    [
        pytest.param(f"{BASE}/img.png", True, id="same-origin"),
        pytest.param("http://127.0.0.1:9999/img.png", False, id="other-port"),
        pytest.param("https://127.0.0.1:8000/img.png", False, id="other-scheme"),
        pytest.param("http://127.0.0.2:8000/img.png", False, id="other-host"),
        pytest.param("http://127.0.0.1:80/img.png", False, id="default-port-differs"),
    ],
)
def test_download_carries_key_only_to_the_same_origin(url: str, keyed: bool) -> None:
    """An image download carries the key only to the chute's scheme, host and port."""
    config = _config()
    target = resolve_target(url=BASE, domain="chutes.ai", api_url="https://api.chutes.ai")
    spec = build_download(config, base_headers(config), target, url)
    assert ("Authorization" in spec.headers) is keyed


def test_download_on_default_port_matches_implicit_port() -> None:
    """https://host and https://host:443 are one origin, so the key goes to both."""
    config = _config()
    target = resolve_target(slug="me-x", domain="chutes.ai", api_url="https://api.chutes.ai")
    spec = build_download(config, base_headers(config), target, "https://me-x.chutes.ai:443/a")
    assert "Authorization" in spec.headers


def test_url_image_on_another_port_is_fetched_without_key(
    make_client: Callable[..., chutes.Client], router: respx.MockRouter
) -> None:
    """Through the client: a URL image on the chute's host but another port gets no key."""
    png = b"\x89PNG-bytes"
    router.post(f"{BASE}/v1/images/generations").respond(
        json={"created": 1, "data": [{"url": "http://127.0.0.1:9999/i.png"}]}
    )
    image_route = router.get("http://127.0.0.1:9999/i.png").respond(content=png)
    client = make_client()
    result = client.chute(url=BASE).images.generate(prompt="p")
    assert result.data[0].bytes() == png
    assert "authorization" not in image_route.calls.last.request.headers


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        pytest.param(
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            True,
            id="closed-before-answering",
        ),
        pytest.param(
            httpx.RemoteProtocolError("illegal status line: bytearray(b'garbage')"),
            False,
            id="answered-badly",
        ),
    ],
)
def test_protocol_errors_resent_only_when_nothing_answered(
    make_client: Callable[..., chutes.Client],
    router: respx.MockRouter,
    error: Exception,
    retried: bool,
) -> None:
    """A server that closed before answering is retried; one that answered badly is not."""
    route = router.post(f"{BASE}/a").mock(side_effect=[error, httpx.Response(200, json={})])
    client = make_client(max_retries=1, retry_policy=chutes.RetryPolicy(initial_delay=0))
    if retried:
        assert client.chute(url=BASE).post("/a", json={}).status_code == 200
        assert route.call_count == 2
    else:
        with pytest.raises(chutes.APIConnectionError) as caught:
            client.chute(url=BASE).post("/a", json={})
        assert caught.value.failure is chutes.ConnectionFailure.PROTOCOL
        assert route.call_count == 1

"""The blocking facade, ``chutes.Client``, against a respx router.

``tests/test_async_client.py`` mirrors this file test for test.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx

import chutes

NAME = "myuser/my-llm"
BASE = "https://myuser-my-llm.chutes.ai"
URL = f"{BASE}/x"
UUID = "5b1d2c3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
NO_JITTER = chutes.RetryPolicy(jitter=False)
MakeClient = Callable[..., chutes.Client]


def _raises(call: Callable[[], Any], expected: type[BaseException]) -> Any:
    with pytest.raises(expected) as info:
        call()
    return info.value


# --- key, auth header, user agent ---------------------------------------------------------


def test_missing_key_raises_configuration_error_naming_env_var(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without api_key and CHUTES_API_KEY, construction fails naming the variable."""
    monkeypatch.delenv("CHUTES_API_KEY", raising=False)
    with pytest.raises(chutes.ConfigurationError, match="CHUTES_API_KEY"):
        chutes.Client()


def test_key_falls_back_to_env_var(
    monkeypatch: pytest.MonkeyPatch, make_client: MakeClient, router: respx.MockRouter
) -> None:
    """CHUTES_API_KEY is used when no api_key is passed."""
    monkeypatch.setenv("CHUTES_API_KEY", "cpk_from_env")
    route = router.post(URL).respond(200)
    make_client(api_key=None).chute(NAME).post("/x")
    assert route.calls.last.request.headers["authorization"] == "Bearer cpk_from_env"


def test_key_sent_as_bearer_authorization(
    client: chutes.Client, router: respx.MockRouter, api_key: str
) -> None:
    """By default the key travels in ``Authorization: Bearer <key>``."""
    route = router.post(URL).respond(200)
    client.chute(NAME).post("/x")
    assert route.calls.last.request.headers["authorization"] == f"Bearer {api_key}"


def test_x_api_key_header_replaces_authorization(
    make_client: MakeClient, router: respx.MockRouter, api_key: str
) -> None:
    """auth_header="x-api-key" sends X-API-Key and no Authorization header."""
    route = router.post(URL).respond(200)
    make_client(auth_header="x-api-key").chute(NAME).post("/x")
    headers = route.calls.last.request.headers
    assert headers["x-api-key"] == api_key
    assert "authorization" not in headers


def test_user_agent_names_library_and_version(
    client: chutes.Client, router: respx.MockRouter
) -> None:
    """Requests carry ``User-Agent: chutes-client/<version>``."""
    route = router.get(URL).respond(200)
    client.chute(NAME).get("/x")
    assert route.calls.last.request.headers["user-agent"] == f"chutes-client/{chutes.__version__}"


# --- addressing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "path", "expected"),
    [
        pytest.param({"name": NAME}, "/x", "https://myuser-my-llm.chutes.ai/x", id="name"),
        pytest.param(
            {"name": "chutes/Qwen/Qwen3-32B"},
            "/v1/models",
            "https://chutes-qwen-qwen3-32b.chutes.ai/v1/models",
            id="name-with-slash",
        ),
        pytest.param(
            {"name": "myuser/My_Model.v2"},
            "/run",
            "https://myuser-my-model-v2.chutes.ai/run",
            id="name-slugified",
        ),
        pytest.param(
            {"slug": "myuser-my-llm-x7k2p"},
            "/x",
            "https://myuser-my-llm-x7k2p.chutes.ai/x",
            id="slug",
        ),
        pytest.param(
            {"id": UUID}, "/generate", f"https://api.chutes.ai/chutes/{UUID}/generate", id="id"
        ),
        pytest.param({"url": "http://127.0.0.1:8000"}, "/x", "http://127.0.0.1:8000/x", id="url"),
        pytest.param(
            {"url": "https://proxy.example.test/base/"},
            "x",
            "https://proxy.example.test/base/x",
            id="url-with-path",
        ),
    ],
)
def test_address_form_reaches_url(
    client: chutes.Client,
    router: respx.MockRouter,
    address: dict[str, str],
    path: str,
    expected: str,
) -> None:
    """Each addressing form sends the call to its documented URL."""
    route = router.route().respond(200)
    forms = dict(address)
    client.chute(forms.pop("name", None), **forms).post(path)
    assert str(route.calls.last.request.url) == expected


def test_llm_gateway_url(client: chutes.Client, router: respx.MockRouter) -> None:
    """client.llm is the https://llm.chutes.ai gateway."""
    route = router.route().respond(200, json={"data": []})
    client.llm.get("/v1/models")
    assert str(route.calls.last.request.url) == "https://llm.chutes.ai/v1/models"


def test_env_api_url_changes_id_base(
    monkeypatch: pytest.MonkeyPatch, make_client: MakeClient, router: respx.MockRouter
) -> None:
    """CHUTES_API_URL replaces https://api.chutes.ai in the id form."""
    monkeypatch.setenv("CHUTES_API_URL", "https://api.example.test")
    route = router.route().respond(200)
    make_client().chute(id=UUID).post("/run")
    assert str(route.calls.last.request.url) == f"https://api.example.test/chutes/{UUID}/run"


@pytest.mark.parametrize(
    "path", [pytest.param("v1/x", id="bare"), pytest.param("/v1/x", id="slash")]
)
def test_leading_slash_is_optional(
    client: chutes.Client, router: respx.MockRouter, path: str
) -> None:
    """ "v1/x" and "/v1/x" reach the same URL."""
    route = router.route().respond(200)
    client.chute(NAME).post(path)
    assert str(route.calls.last.request.url) == f"{BASE}/v1/x"


@pytest.mark.parametrize(
    "address",
    [
        pytest.param({"name": "evil.com#/x"}, id="fragment-in-name"),
        pytest.param({"name": "a@evil.com/x"}, id="userinfo-in-name"),
        pytest.param({"name": "x/../y"}, id="dotdot-in-name"),
        pytest.param({"name": "my user/x"}, id="space-in-name"),
        pytest.param({"name": "myuser/x\r\nHost: evil.com"}, id="crlf-in-name"),
        pytest.param({"name": "no-slash"}, id="name-without-user"),
        pytest.param({"slug": "Bad_Slug"}, id="slug-not-a-label"),
        pytest.param({"slug": "a" * 64}, id="slug-too-long"),
        pytest.param({"slug": "evil.com"}, id="slug-with-dot"),
        pytest.param({"id": "not-a-uuid"}, id="id-not-uuid"),
        pytest.param({"url": "ftp://example.test"}, id="url-not-http"),
        pytest.param({"url": "https://chutes.ai@evil.com"}, id="url-userinfo"),
        pytest.param({"url": "https://evil.com#chutes.ai"}, id="url-fragment"),
        pytest.param({"url": "example.test/x"}, id="url-relative"),
        pytest.param({}, id="no-form"),
        pytest.param({"name": NAME, "slug": "myuser-my-llm"}, id="two-forms"),
    ],
)
def test_invalid_target_refused_before_traffic(
    client: chutes.Client, router: respx.MockRouter, address: dict[str, str]
) -> None:
    """An invalid chute address raises ConfigurationError and sends nothing."""
    router.route().respond(200)
    forms = dict(address)
    with pytest.raises(chutes.ConfigurationError):
        client.chute(forms.pop("name", None), **forms).post("/x")
    assert router.calls.call_count == 0


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("https://evil.com/x", id="absolute-url"),
        pytest.param("http:x", id="scheme-only"),
        pytest.param("//evil.com/x", id="network-path"),
        pytest.param("/a/../b", id="dotdot"),
        pytest.param("../x", id="leading-dotdot"),
        pytest.param("/%2e%2e/x", id="encoded-dotdot"),
        pytest.param("/x\r\nHost: evil.com", id="crlf"),
        pytest.param("/x\x00", id="nul"),
        pytest.param("/x\ty", id="tab"),
        pytest.param("/x?y=1", id="query"),
        pytest.param("/x#frag", id="fragment"),
    ],
)
def test_invalid_path_refused_before_traffic(
    client: chutes.Client, router: respx.MockRouter, path: str
) -> None:
    """A path that is not a plain relative path raises ConfigurationError and sends nothing."""
    router.route().respond(200)
    with pytest.raises(chutes.ConfigurationError):
        client.chute(NAME).post(path)
    assert router.calls.call_count == 0


# --- calling a cord -------------------------------------------------------------------------


def test_json_body_and_params_sent(client: chutes.Client, router: respx.MockRouter) -> None:
    """json= is sent as a JSON body and params= as the query string."""
    route = router.post(URL).respond(200)
    client.chute(NAME).post("/x", json={"prompt": "hi"}, params={"n": 2})
    request = route.calls.last.request
    assert (request.url.params["n"], request.read()) == ("2", b'{"prompt":"hi"}')


def test_per_request_headers_sent(client: chutes.Client, router: respx.MockRouter) -> None:
    """headers= on a call adds its headers to the request."""
    route = router.post(URL).respond(200)
    client.chute(NAME).post("/x", headers={"X-Trace": "abc"})
    assert route.calls.last.request.headers["x-trace"] == "abc"


def test_default_headers_sent_on_every_call(
    make_client: MakeClient, router: respx.MockRouter
) -> None:
    """default_headers= on the client goes with every request."""
    route = router.route().respond(200)
    chute = make_client(default_headers={"X-Team": "ml"}).chute(NAME)
    chute.post("/x")
    chute.get("/y")
    assert [call.request.headers["x-team"] for call in route.calls] == ["ml", "ml"]


def test_response_exposes_body_and_platform_headers(
    client: chutes.Client, router: respx.MockRouter
) -> None:
    """A Response carries status, JSON, invocation id and quota from the X-Chutes-* headers."""
    router.post(URL).respond(
        200,
        json={"ok": True},
        headers={
            "X-Chutes-InvocationID": "inv-1",
            "X-Chutes-Quota-Total": "100",
            "X-Chutes-Quota-Used": "40",
            "X-Chutes-Quota-Remaining": "60",
        },
    )
    resp = client.chute(NAME).post("/x")
    assert (resp.status_code, resp.json(), resp.invocation_id, resp.quota) == (
        200,
        {"ok": True},
        "inv-1",
        chutes.Quota(total=100, used=40, remaining=60),
    )


# --- errors ---------------------------------------------------------------------------------

STATUS_CASES = [
    pytest.param(400, chutes.BadRequestError, id="400"),
    pytest.param(401, chutes.AuthenticationError, id="401"),
    pytest.param(402, chutes.PaymentRequiredError, id="402"),
    pytest.param(403, chutes.PermissionDeniedError, id="403"),
    pytest.param(404, chutes.NotFoundError, id="404"),
    pytest.param(418, chutes.APIStatusError, id="418-unlisted"),
    pytest.param(422, chutes.UnprocessableEntityError, id="422"),
    pytest.param(429, chutes.RateLimitError, id="429"),
    pytest.param(500, chutes.InternalServerError, id="500"),
    pytest.param(502, chutes.InternalServerError, id="502"),
    pytest.param(503, chutes.ServiceUnavailableError, id="503"),
    pytest.param(504, chutes.InternalServerError, id="504"),
]

HTML_504 = (
    "<html><head><title>504 Gateway Time-out</title></head><body>"
    "<center><h1>504 Gateway Time-out</h1></center><hr><center>nginx</center></body></html>"
)

BODY_CASES = [
    pytest.param(
        {"json": {"detail": "No matching cord found!"}},
        "No matching cord found!",
        {"detail": "No matching cord found!"},
        "No matching cord found!",
        id="detail-string",
    ),
    pytest.param(
        {"json": {"detail": {"message": "Quota exceeded", "quota_reset_timestamp": 1}}},
        {"message": "Quota exceeded", "quota_reset_timestamp": 1},
        {"detail": {"message": "Quota exceeded", "quota_reset_timestamp": 1}},
        "Quota exceeded",
        id="detail-object",
    ),
    pytest.param(
        {"json": {"error": {"message": "model not found: foo", "type": "invalid_request"}}},
        {"message": "model not found: foo", "type": "invalid_request"},
        {"error": {"message": "model not found: foo", "type": "invalid_request"}},
        "model not found: foo",
        id="openai-error-object",
    ),
    pytest.param(
        {"json": {"detail": [{"loc": ["body", "prompt"], "msg": "field required"}]}},
        [{"loc": ["body", "prompt"], "msg": "field required"}],
        {"detail": [{"loc": ["body", "prompt"], "msg": "field required"}]},
        "prompt: field required",
        id="fastapi-validation-list",
    ),
    pytest.param(
        {"text": "upstream exploded"},
        "upstream exploded",
        "upstream exploded",
        "upstream exploded",
        id="plain-text",
    ),
    pytest.param(
        {"html": HTML_504},
        "504 Gateway Time-out",
        HTML_504,
        "504 Gateway Time-out",
        id="html-page",
    ),
]


@pytest.mark.parametrize(("status", "error_class"), STATUS_CASES)
def test_status_maps_to_error_class(
    make_client: MakeClient,
    router: respx.MockRouter,
    status: int,
    error_class: type[chutes.APIStatusError],
) -> None:
    """Each error status raises its class from the tree, carrying the status and response."""
    router.post(URL).respond(status, json={"detail": "nope"})
    chute = make_client(max_retries=0).chute(NAME)
    exc = _raises(lambda: chute.post("/x"), chutes.APIStatusError)
    assert (type(exc), exc.status_code, exc.response.status_code) == (error_class, status, status)


@pytest.mark.parametrize(("body", "detail", "parsed", "message"), BODY_CASES)
def test_error_carries_server_words(
    client: chutes.Client,
    router: respx.MockRouter,
    body: dict[str, Any],
    detail: Any,
    parsed: Any,
    message: str,
) -> None:
    """An error's detail, body and message come from the body, whatever its shape."""
    router.post(URL).respond(400, **body)
    exc = _raises(lambda: client.chute(NAME).post("/x"), chutes.BadRequestError)
    assert (exc.detail, exc.body, exc.message) == (detail, parsed, message)


def test_error_carries_invocation_id(client: chutes.Client, router: respx.MockRouter) -> None:
    """An error's invocation_id comes from the X-Chutes-InvocationID header."""
    router.post(URL).respond(404, json={"detail": "x"}, headers={"X-Chutes-InvocationID": "i-9"})
    exc = _raises(lambda: client.chute(NAME).post("/x"), chutes.NotFoundError)
    assert exc.invocation_id == "i-9"


def test_error_without_invocation_header_has_none(
    client: chutes.Client, router: respx.MockRouter
) -> None:
    """An error with no X-Chutes-InvocationID header has invocation_id None."""
    router.post(URL).respond(404, json={"detail": "x"})
    exc = _raises(lambda: client.chute(NAME).post("/x"), chutes.NotFoundError)
    assert exc.invocation_id is None


def test_empty_error_body_message_names_status(
    client: chutes.Client, router: respx.MockRouter
) -> None:
    """An error with an empty body still has a message naming the status."""
    router.post(URL).respond(400)
    exc = _raises(lambda: client.chute(NAME).post("/x"), chutes.BadRequestError)
    assert "400" in str(exc)


def test_payment_required_exposes_quota_reset(
    client: chutes.Client, router: respx.MockRouter
) -> None:
    """A 402's quota_reset is the detail's quota_reset_timestamp as a UTC datetime."""
    router.post(URL).respond(
        402,
        json={
            "detail": {"message": "Quota exceeded", "quota_reset_timestamp": "2030-01-02T03:04:05Z"}
        },
    )
    exc = _raises(lambda: client.chute(NAME).post("/x"), chutes.PaymentRequiredError)
    assert exc.quota_reset == dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)


# --- retries --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        pytest.param(408, chutes.APIStatusError, id="408"),
        pytest.param(429, chutes.RateLimitError, id="429"),
        pytest.param(500, chutes.InternalServerError, id="500"),
        pytest.param(502, chutes.InternalServerError, id="502"),
        pytest.param(503, chutes.ServiceUnavailableError, id="503"),
    ],
)
def test_retryable_status_retried_max_retries_times(
    make_client: MakeClient,
    router: respx.MockRouter,
    status: int,
    error_class: type[chutes.APIStatusError],
) -> None:
    """A retryable status is sent max_retries+1 times in all, then raised (a 429 of the
    capacity kind: a JSON body)."""
    route = router.post(URL).respond(status, json={"detail": "busy"})
    chute = make_client(max_retries=2).chute(NAME)
    _raises(lambda: chute.post("/x"), error_class)
    assert route.call_count == 3


def test_success_after_two_503s_is_returned(
    client: chutes.Client, router: respx.MockRouter
) -> None:
    """Two 503s then a 200 return the 200."""
    route = router.post(URL)
    route.side_effect = [
        httpx.Response(503),
        httpx.Response(503),
        httpx.Response(200, json={"ok": 1}),
    ]
    resp = client.chute(NAME).post("/x")
    assert (resp.status_code, resp.json(), route.call_count) == (200, {"ok": 1}, 3)


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(httpx.ConnectError("[Errno 111] Connection refused"), id="connect-error"),
        pytest.param(
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            id="server-disconnected",
        ),
        pytest.param(httpx.ConnectTimeout("timed out"), id="connect-timeout"),
        pytest.param(httpx.PoolTimeout("timed out"), id="pool-timeout"),
    ],
)
def test_failure_before_response_is_retried(
    client: chutes.Client, router: respx.MockRouter, failure: Exception
) -> None:
    """A transport failure where the request surely did not run is retried."""
    route = router.post(URL)
    route.side_effect = [failure, httpx.Response(200)]
    resp = client.chute(NAME).post("/x")
    assert (resp.status_code, route.call_count) == (200, 2)


def test_read_timeout_not_retried_and_is_timeout_error(
    client: chutes.Client, router: respx.MockRouter
) -> None:
    """A read timeout is raised at once as APITimeoutError, also a built-in TimeoutError."""
    route = router.post(URL)
    route.side_effect = httpx.ReadTimeout
    exc = _raises(lambda: client.chute(NAME).post("/x"), chutes.APITimeoutError)
    assert (isinstance(exc, TimeoutError), route.call_count) == (True, 1)


def test_read_timeout_retried_when_policy_allows(
    make_client: MakeClient, router: respx.MockRouter
) -> None:
    """RetryPolicy(retry_read_timeouts=True) retries a read timeout."""
    route = router.post(URL)
    route.side_effect = [httpx.ReadTimeout("slow"), httpx.Response(200)]
    client = make_client(retry_policy=chutes.RetryPolicy(retry_read_timeouts=True))
    assert client.chute(NAME).post("/x").status_code == 200
    assert route.call_count == 2


def test_504_not_retried(client: chutes.Client, router: respx.MockRouter) -> None:
    """A 504 (the work may have run) is raised without retrying."""
    route = router.post(URL).respond(504, text=HTML_504)
    _raises(lambda: client.chute(NAME).post("/x"), chutes.InternalServerError)
    assert route.call_count == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_error_never_retried(
    client: chutes.Client, router: respx.MockRouter, status: int
) -> None:
    """Other 4xx statuses are raised on the first attempt."""
    route = router.post(URL).respond(status, json={"detail": "no"})
    _raises(lambda: client.chute(NAME).post("/x"), chutes.APIStatusError)
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("headers", "delay"),
    [
        pytest.param({"Retry-After": "2"}, 2.0, id="retry-after-seconds"),
        pytest.param({"retry-after-ms": "1500"}, 1.5, id="retry-after-ms"),
    ],
)
def test_retry_after_header_sets_delay(
    client: chutes.Client,
    router: respx.MockRouter,
    sleeps: list[float],
    headers: dict[str, str],
    delay: float,
) -> None:
    """A Retry-After or retry-after-ms header sets the delay before the next attempt."""
    router.post(URL).side_effect = [
        httpx.Response(429, headers=headers, json={"detail": "busy"}),
        httpx.Response(200),
    ]
    client.chute(NAME).post("/x")
    assert sleeps == [delay]


def test_retry_after_http_date_sets_delay(
    client: chutes.Client, router: respx.MockRouter, sleeps: list[float]
) -> None:
    """A Retry-After HTTP date sets the delay to the time left until that date."""
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=5)
    retry_after = email.utils.format_datetime(when, usegmt=True)  # whole seconds
    router.post(URL).side_effect = [
        httpx.Response(503, headers={"Retry-After": retry_after}),
        httpx.Response(200),
    ]
    client.chute(NAME).post("/x")
    assert len(sleeps) == 1
    assert 3.0 < sleeps[0] <= 5.0


def test_retry_after_beyond_cap_raises_with_retry_after(
    client: chutes.Client, router: respx.MockRouter, sleeps: list[float]
) -> None:
    """A Retry-After beyond max_delay raises RateLimitError with .retry_after, without sleeping."""
    route = router.post(URL).respond(429, headers={"Retry-After": "120"})
    exc = _raises(lambda: client.chute(NAME).post("/x"), chutes.RateLimitError)
    assert (exc.retry_after, sleeps, route.call_count) == (120.0, [], 1)


def test_max_retries_zero_disables_retries(
    make_client: MakeClient, router: respx.MockRouter
) -> None:
    """max_retries=0 on the client sends each call once."""
    route = router.post(URL).respond(503)
    chute = make_client(max_retries=0).chute(NAME)
    _raises(lambda: chute.post("/x"), chutes.ServiceUnavailableError)
    assert route.call_count == 1


@pytest.mark.parametrize(("per_call", "calls"), [(0, 1), (1, 2), (4, 5)])
def test_per_request_max_retries_overrides_client(
    client: chutes.Client, router: respx.MockRouter, per_call: int, calls: int
) -> None:
    """max_retries= on a call overrides the client's count."""
    route = router.post(URL).respond(503)
    _raises(lambda: client.chute(NAME).post("/x", max_retries=per_call), chutes.APIStatusError)
    assert route.call_count == calls


@pytest.mark.parametrize(
    ("timeout", "expected"),
    [
        pytest.param(5, dict.fromkeys(("connect", "read", "write", "pool"), 5.0), id="number"),
        pytest.param(
            chutes.Timeout(connect=1, read=2, write=3, pool=4),
            {"connect": 1, "read": 2, "write": 3, "pool": 4},
            id="timeout-object",
        ),
    ],
)
def test_per_request_timeout_reaches_httpx(
    client: chutes.Client, router: respx.MockRouter, timeout: Any, expected: dict[str, float]
) -> None:
    """timeout= on a call becomes the httpx request's timeout."""
    route = router.post(URL).respond(200)
    client.chute(NAME).post("/x", timeout=timeout)
    assert route.calls.last.request.extensions["timeout"] == expected


def test_default_timeout_reaches_httpx(client: chutes.Client, router: respx.MockRouter) -> None:
    """The default timeout is connect 10 s, read 600 s, write 60 s, pool 30 s."""
    route = router.post(URL).respond(200)
    client.chute(NAME).post("/x")
    expected = {"connect": 10.0, "read": 600.0, "write": 60.0, "pool": 30.0}
    assert route.calls.last.request.extensions["timeout"] == expected


def test_backoff_delays_without_jitter(
    make_client: MakeClient, router: respx.MockRouter, sleeps: list[float]
) -> None:
    """Without jitter the delays are exactly 0.5 s then 1.0 s."""
    router.post(URL).respond(503)
    chute = make_client(retry_policy=NO_JITTER).chute(NAME)
    _raises(lambda: chute.post("/x"), chutes.ServiceUnavailableError)
    assert sleeps == [0.5, 1.0]


def test_backoff_delays_with_jitter_stay_in_range(
    client: chutes.Client, router: respx.MockRouter, sleeps: list[float]
) -> None:
    """With the default jitter each delay lies in [half, all] of 0.5 s, 1.0 s."""
    router.post(URL).respond(503)
    _raises(lambda: client.chute(NAME).post("/x"), chutes.ServiceUnavailableError)
    assert len(sleeps) == 2
    assert 0.25 <= sleeps[0] <= 0.5
    assert 0.5 <= sleeps[1] <= 1.0


def test_zero_initial_delay_never_sleeps(
    make_client: MakeClient, router: respx.MockRouter, sleeps: list[float]
) -> None:
    """RetryPolicy(initial_delay=0) retries without any nonzero sleep."""
    route = router.post(URL).respond(503)
    chute = make_client(retry_policy=chutes.RetryPolicy(initial_delay=0)).chute(NAME)
    _raises(lambda: chute.post("/x"), chutes.ServiceUnavailableError)
    assert route.call_count == 3
    assert all(delay == 0 for delay in sleeps)


def test_with_options_shares_the_pool(client: chutes.Client) -> None:
    """with_options returns a client on the same connection pool."""
    clone = client.with_options(max_retries=0)
    assert clone._caller.pool is client._caller.pool
    assert clone._caller.pool.http is client._caller.pool.http


def test_with_options_changes_only_the_copy(
    client: chutes.Client, router: respx.MockRouter
) -> None:
    """with_options(max_retries=0) applies to the copy, not to the parent."""
    route = router.post(URL).respond(503)
    clone = client.with_options(max_retries=0)
    _raises(lambda: clone.chute(NAME).post("/x"), chutes.ServiceUnavailableError)
    _raises(lambda: client.chute(NAME).post("/x"), chutes.ServiceUnavailableError)
    assert (clone.max_retries, client.max_retries, route.call_count) == (0, 2, 1 + 3)


def test_with_options_timeout_reaches_httpx(
    client: chutes.Client, router: respx.MockRouter
) -> None:
    """with_options(timeout=...) sets the copy's request timeout."""
    route = router.post(URL).respond(200)
    client.with_options(timeout=7).chute(NAME).post("/x")
    assert route.calls.last.request.extensions["timeout"]["read"] == 7.0


def test_closing_parent_closes_copy(client: chutes.Client, router: respx.MockRouter) -> None:
    """Closing a client also closes the copies made by with_options."""
    router.post(URL).respond(200)
    clone = client.with_options(max_retries=0)
    client.close()
    with pytest.raises(RuntimeError, match="closed"):
        clone.chute(NAME).post("/x")
    assert (clone.is_closed, router.calls.call_count) == (True, 0)


def test_usage_counts_retries_of_successful_call(
    client: chutes.Client, router: respx.MockRouter
) -> None:
    """A call that succeeded after two retries counts one request, no failure, two retries."""
    router.post(URL).side_effect = [httpx.Response(503), httpx.Response(503), httpx.Response(200)]
    client.chute(NAME).post("/x")
    usage = client.usage
    assert (usage.requests, usage.failures, usage.retries) == (1, 0, 2)


def test_usage_counts_failed_call(client: chutes.Client, router: respx.MockRouter) -> None:
    """A call that failed after its retries counts one request, one failure, two retries."""
    router.post(URL).respond(503)
    _raises(lambda: client.chute(NAME).post("/x"), chutes.ServiceUnavailableError)
    usage = client.usage
    assert (usage.requests, usage.failures, usage.retries) == (1, 1, 2)


def test_usage_is_kept_per_chute(client: chutes.Client, router: respx.MockRouter) -> None:
    """usage.by_chute counts calls under each chute's base URL."""
    router.route().respond(200)
    client.chute(NAME).post("/x")
    client.llm.get("/v1/models")
    client.llm.get("/v1/models")
    by_chute = client.usage.by_chute
    assert (by_chute[BASE].requests, by_chute["https://llm.chutes.ai"].requests) == (1, 2)


# --- no httpx exception escapes -------------------------------------------------------------

TRANSPORT_ERRORS = [
    pytest.param(httpx.ConnectError, chutes.APIConnectionError, id="ConnectError"),
    pytest.param(httpx.ConnectTimeout, chutes.APITimeoutError, id="ConnectTimeout"),
    pytest.param(httpx.ReadTimeout, chutes.APITimeoutError, id="ReadTimeout"),
    pytest.param(httpx.WriteTimeout, chutes.APITimeoutError, id="WriteTimeout"),
    pytest.param(httpx.PoolTimeout, chutes.APITimeoutError, id="PoolTimeout"),
    pytest.param(httpx.ReadError, chutes.APIConnectionError, id="ReadError"),
    pytest.param(httpx.WriteError, chutes.APIConnectionError, id="WriteError"),
    pytest.param(httpx.RemoteProtocolError, chutes.APIConnectionError, id="RemoteProtocolError"),
    pytest.param(httpx.LocalProtocolError, chutes.APIConnectionError, id="LocalProtocolError"),
    pytest.param(httpx.UnsupportedProtocol, chutes.APIConnectionError, id="UnsupportedProtocol"),
]


@pytest.mark.parametrize(("httpx_error", "chutes_error"), TRANSPORT_ERRORS)
def test_transport_error_becomes_chutes_error(
    client: chutes.Client,
    router: respx.MockRouter,
    httpx_error: type[httpx.HTTPError],
    chutes_error: type[chutes.ChutesError],
) -> None:
    """Every httpx transport error reaches the caller as a chutes error, never as httpx's."""
    router.post(URL).side_effect = httpx_error
    exc = _raises(lambda: client.chute(NAME).post("/x"), chutes_error)
    assert not isinstance(exc, httpx.HTTPError)


# --- lifecycle ------------------------------------------------------------------------------


def test_context_manager_closes_owned_pool(api_key: str) -> None:
    """Leaving ``with Client()`` closes the pool the client made itself."""
    with chutes.Client(api_key=api_key) as client:
        pool = client._caller.pool.http
    assert (client.is_closed, pool.is_closed) == (True, True)


def test_close_leaves_borrowed_http_client_open(
    client: chutes.Client, http_client: httpx.Client
) -> None:
    """close() never closes an http_client passed in by the caller."""
    client.close()
    assert (client.is_closed, http_client.is_closed) == (True, False)


def test_context_manager_leaves_borrowed_http_client_open(
    api_key: str, http_client: httpx.Client
) -> None:
    """Leaving ``with Client(http_client=...)`` never closes the caller's http_client."""
    with chutes.Client(api_key=api_key, http_client=http_client):
        pass
    assert http_client.is_closed is False


def test_closed_client_refuses_calls(client: chutes.Client, router: respx.MockRouter) -> None:
    """A call on a closed client raises RuntimeError saying it is closed, and sends nothing."""
    router.post(URL).respond(200)
    client.close()
    with pytest.raises(RuntimeError, match="closed"):
        client.chute(NAME).post("/x")
    assert router.calls.call_count == 0


def test_close_is_idempotent(api_key: str) -> None:
    """Closing a client twice is harmless."""
    client = chutes.Client(api_key=api_key)
    client.close()
    client.close()
    assert client.is_closed


def test_wrong_http_client_type_refused(api_key: str) -> None:
    """Client refuses an httpx.AsyncClient as its http_client."""
    with pytest.raises(chutes.ConfigurationError, match=r"httpx\.Client"):
        chutes.Client(api_key=api_key, http_client=httpx.AsyncClient())  # type: ignore[arg-type]


# --- Jupyter --------------------------------------------------------------------------------


async def test_sync_client_works_inside_running_loop(
    client: chutes.Client, router: respx.MockRouter
) -> None:
    """The sync client answers while an asyncio loop runs in the same thread (Jupyter)."""
    asyncio.get_running_loop()  # raises unless a loop is running here
    router.get(URL).respond(200, json={"ok": True})
    assert client.chute(NAME).get("/x").json() == {"ok": True}

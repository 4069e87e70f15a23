"""The exception tree, the status -> class table, error messages, and pickling."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from chutes._core.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ChutesError,
    ConfigurationError,
    ConnectionFailure,
    DecodeError,
    InternalServerError,
    NotFoundError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    StreamError,
    UnprocessableEntityError,
    status_error,
)

RECORDED = Path(__file__).parent.parent / "data" / "recorded"
UTC = dt.timezone.utc


@dataclasses.dataclass(frozen=True)
class FakeResponse:
    """The little of a response the core reads; header keys are lower-case."""

    status_code: int
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    content: bytes = b""


def json_response(status: int, body: Any, **headers: str) -> FakeResponse:
    """A JSON error response."""
    return FakeResponse(
        status,
        {"content-type": "application/json", **headers},
        json.dumps(body).encode(),
    )


# --- the status table -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        pytest.param(400, BadRequestError, id="400"),
        pytest.param(401, AuthenticationError, id="401"),
        pytest.param(402, PaymentRequiredError, id="402"),
        pytest.param(403, PermissionDeniedError, id="403"),
        pytest.param(404, NotFoundError, id="404"),
        pytest.param(422, UnprocessableEntityError, id="422"),
        pytest.param(429, RateLimitError, id="429"),
        pytest.param(500, InternalServerError, id="500"),
        pytest.param(501, InternalServerError, id="501"),
        pytest.param(502, InternalServerError, id="502"),
        pytest.param(503, ServiceUnavailableError, id="503"),
        pytest.param(504, InternalServerError, id="504"),
        pytest.param(599, InternalServerError, id="599"),
        pytest.param(409, APIStatusError, id="409-plain"),
        pytest.param(418, APIStatusError, id="418-plain"),
        pytest.param(302, APIStatusError, id="302-plain"),
    ],
)
def test_status_maps_to_class(status: int, cls: type[APIStatusError]) -> None:
    """Each status gets exactly the class the contract's tree gives it."""
    assert type(status_error(FakeResponse(status))) is cls


def test_503_is_an_internal_server_error() -> None:
    """ServiceUnavailableError (503) is also an InternalServerError."""
    assert isinstance(status_error(FakeResponse(503)), InternalServerError)


@pytest.mark.parametrize(
    "cls",
    [
        BadRequestError,
        AuthenticationError,
        PaymentRequiredError,
        PermissionDeniedError,
        NotFoundError,
        UnprocessableEntityError,
        RateLimitError,
        InternalServerError,
        ServiceUnavailableError,
    ],
)
def test_status_classes_are_api_status_errors(cls: type[Exception]) -> None:
    """Every status class is an APIStatusError and a ChutesError."""
    assert issubclass(cls, APIStatusError)
    assert issubclass(cls, ChutesError)


def test_timeout_error_is_builtin_timeout_and_connection_error() -> None:
    """APITimeoutError is both a TimeoutError and an APIConnectionError."""
    assert issubclass(APITimeoutError, TimeoutError)
    assert issubclass(APITimeoutError, APIConnectionError)


def test_configuration_error_is_value_error() -> None:
    """ConfigurationError is a ValueError and a ChutesError."""
    assert issubclass(ConfigurationError, ValueError)
    assert issubclass(ConfigurationError, ChutesError)


@pytest.mark.parametrize("cls", [APIConnectionError, APIStatusError, StreamError, DecodeError])
def test_top_level_errors_are_chutes_errors(cls: type[Exception]) -> None:
    """The other branches of the tree hang off ChutesError."""
    assert issubclass(cls, ChutesError)


# --- attributes -------------------------------------------------------------------------------


def test_attributes() -> None:
    """status_error fills status_code, detail, body, invocation_id and response."""
    response = json_response(
        404, {"detail": "No matching chute found!"}, **{"x-chutes-invocationid": "inv-42"}
    )
    error = status_error(response)
    assert (error.status_code, error.detail, error.body, error.invocation_id) == (
        404,
        "No matching chute found!",
        {"detail": "No matching chute found!"},
        "inv-42",
    )
    assert error.response is response


def test_invocation_id_absent() -> None:
    """Without X-Chutes-InvocationID the attribute is None."""
    assert status_error(json_response(500, {"detail": "x"})).invocation_id is None


def test_retry_after_passed_through() -> None:
    """The Retry-After the retry logic found is kept on the error."""
    assert status_error(FakeResponse(429), retry_after=90.0).retry_after == 90.0


def test_retry_after_defaults_to_none() -> None:
    """Without a server wait, retry_after is None."""
    assert status_error(FakeResponse(429)).retry_after is None


# --- messages ---------------------------------------------------------------------------------

HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
HTML_504_NO_TITLE = (
    "<html><body><script>var x = '<b>';</script><h1>504 Gateway Time-out</h1>\n"
    "<p>The server didn&#39;t respond in time &amp; gave up.</p></body></html>"
)

FASTAPI_422 = {
    "detail": [
        {"type": "missing", "loc": ["body", "messages"], "msg": "Field required", "input": {}},
        {
            "type": "int_parsing",
            "loc": ["body", "max_tokens"],
            "msg": "Input should be a valid integer",
            "input": "x",
        },
    ]
}


@pytest.mark.parametrize(
    ("response", "message"),
    [
        pytest.param(
            json_response(404, {"detail": "No matching cord found!"}),
            "No matching cord found!",
            id="detail-string",
        ),
        pytest.param(
            json_response(
                402,
                {"detail": {"message": "Quota exceeded", "quota_reset_timestamp": 1}},
            ),
            "Quota exceeded",
            id="detail-object-message",
        ),
        pytest.param(
            json_response(400, {"error": {"message": "bad model", "type": "invalid"}}),
            "bad model",
            id="openai-error-message",
        ),
        pytest.param(
            json_response(500, {"error": "model crashed"}), "model crashed", id="error-string"
        ),
        pytest.param(
            json_response(422, FASTAPI_422),
            "messages: Field required; max_tokens: Input should be a valid integer",
            id="fastapi-422-list",
        ),
        pytest.param(
            FakeResponse(500, {"content-type": "text/plain"}, b"Internal Server Error"),
            "Internal Server Error",
            id="plain-text",
        ),
        pytest.param(
            FakeResponse(502, {"content-type": "text/html"}, HTML_502.encode()),
            "502 Bad Gateway",
            id="html-title",
        ),
        pytest.param(
            FakeResponse(502, {}, HTML_502.encode()),
            "502 Bad Gateway",
            id="html-without-content-type",
        ),
        pytest.param(
            FakeResponse(
                504, {"content-type": "text/html; charset=utf-8"}, HTML_504_NO_TITLE.encode()
            ),
            "504 Gateway Time-out The server didn't respond in time & gave up.",
            id="html-stripped",
        ),
        pytest.param(FakeResponse(503), "HTTP 503", id="empty-body"),
        pytest.param(FakeResponse(503, {}, b"  \r\n "), "HTTP 503", id="blank-body"),
        pytest.param(
            FakeResponse(500, {"content-type": "application/json"}, b"{not json"),
            "{not json",
            id="broken-json-as-text",
        ),
    ],
)
def test_message(response: FakeResponse, message: str) -> None:
    """str(error) is the server's own words, never the raw body or HTML tags."""
    assert str(status_error(response)) == message


@pytest.mark.parametrize(
    "body",
    [pytest.param(HTML_502, id="with-title"), pytest.param(HTML_504_NO_TITLE, id="no-title")],
)
def test_html_message_has_no_tags(body: str) -> None:
    """An HTML error page never leaks markup into the message."""
    error = status_error(FakeResponse(504, {"content-type": "text/html"}, body.encode()))
    assert "<" not in str(error)
    assert ">" not in str(error)


def test_long_message_shortened() -> None:
    """A huge plain-text body gives a message of at most 1000 characters."""
    error = status_error(FakeResponse(500, {"content-type": "text/plain"}, b"x" * 5000))
    assert 0 < len(str(error)) <= 1000


def test_long_body_kept_whole() -> None:
    """The body attribute keeps the whole text even when the message is shortened."""
    error = status_error(FakeResponse(500, {"content-type": "text/plain"}, b"x" * 5000))
    assert error.body == "x" * 5000


def test_detail_object_kept() -> None:
    """An object detail is kept as the object, not its message."""
    detail = {"message": "Quota exceeded", "quota_reset_timestamp": "2026-11-27T00:00:00Z"}
    assert status_error(json_response(402, {"detail": detail})).detail == detail


def test_fastapi_detail_list_kept() -> None:
    """FastAPI's 422 list detail is kept as the list."""
    error = status_error(json_response(422, FASTAPI_422))
    assert error.detail == FASTAPI_422["detail"]


def test_repr_shows_class_status_and_message() -> None:
    """repr names the class, the status and the message."""
    error = status_error(json_response(404, {"detail": "No matching chute found!"}))
    assert repr(error) == "NotFoundError(status_code=404, message='No matching chute found!')"


# --- recorded bodies from real servers --------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status", "content_type", "cls", "message"),
    [
        pytest.param(
            "litellm/error-429.body",
            429,
            "application/json",
            RateLimitError,
            "litellm.RateLimitError: this is a mock rate limit error\n\nLiteLLM: model group "
            "'mock-429' failed with the error above. No fallback was attempted.",
            id="litellm-429",
        ),
        pytest.param(
            "litellm/error-500.body",
            500,
            "application/json",
            InternalServerError,
            "litellm.InternalServerError: this is a mock internal server error\n\nLiteLLM: "
            "model group 'mock-500' failed with the error above. No fallback was attempted.",
            id="litellm-500",
        ),
        pytest.param(
            "litellm/error-400-unknown-model.body",
            400,
            "application/json",
            BadRequestError,
            "/chat/completions: Invalid model name passed in model=no-such-model. "
            "Call `/v1/models` to view available models for your key.",
            id="litellm-400",
        ),
        pytest.param(
            "llamacpp/error-invalid-json.body",
            500,
            "text/plain; charset=utf-8",
            InternalServerError,
            "Internal Server Error",
            id="llamacpp-500-plain",
        ),
        pytest.param(
            "llamacpp/error-unknown-path.body",
            404,
            "application/json",
            NotFoundError,
            "Not Found",
            id="llamacpp-404-detail",
        ),
    ],
)
def test_recorded_error(
    path: str, status: int, content_type: str, cls: type[APIStatusError], message: str
) -> None:
    """Real servers' error bodies give the right class and their own message."""
    error = status_error(
        FakeResponse(status, {"content-type": content_type}, (RECORDED / path).read_bytes())
    )
    assert type(error) is cls
    assert str(error) == message


def test_recorded_litellm_429_detail_is_error_object() -> None:
    """For OpenAI's shape, detail is the error object and body the whole JSON."""
    content = (RECORDED / "litellm" / "error-429.body").read_bytes()
    error = status_error(FakeResponse(429, {"content-type": "application/json"}, content))
    assert error.body == json.loads(content)
    assert error.detail == json.loads(content)["error"]


# --- 402 quota reset --------------------------------------------------------------------------

RESET = dt.datetime(2026, 11, 27, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "stamp",
    [
        pytest.param("2026-11-27T00:00:00Z", id="iso-z"),
        pytest.param("2026-11-27T00:00:00+00:00", id="iso-offset"),
        pytest.param("2026-11-27T01:00:00+01:00", id="iso-other-offset"),
        pytest.param("2026-11-27T00:00:00", id="iso-naive-is-utc"),
        pytest.param(int(RESET.timestamp()), id="epoch-int"),
        pytest.param(RESET.timestamp(), id="epoch-float"),
        pytest.param(str(int(RESET.timestamp())), id="epoch-str"),
        pytest.param(int(RESET.timestamp()) * 1000, id="epoch-ms"),
    ],
)
def test_quota_reset_parsed(stamp: Any) -> None:
    """quota_reset_timestamp (ISO string or epoch number) becomes the reset instant."""
    detail = {"message": "Quota exceeded", "quota_reset_timestamp": stamp}
    error = status_error(json_response(402, {"detail": detail}))
    assert isinstance(error, PaymentRequiredError)
    assert error.quota_reset == RESET


@pytest.mark.parametrize(
    "stamp",
    [
        pytest.param("2026-11-27T00:00:00Z", id="iso"),
        pytest.param("2026-11-27T00:00:00", id="iso-naive"),
        pytest.param(int(RESET.timestamp()), id="epoch"),
    ],
)
def test_quota_reset_is_aware_utc(stamp: Any) -> None:
    """quota_reset is a timezone-aware datetime in UTC."""
    detail = {"message": "Quota exceeded", "quota_reset_timestamp": stamp}
    reset = status_error(json_response(402, {"detail": detail})).quota_reset  # type: ignore[attr-defined]
    assert reset.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"detail": "Quota exceeded"}, id="string-detail"),
        pytest.param({"detail": {"message": "Quota exceeded"}}, id="no-timestamp"),
        pytest.param({"detail": {"quota_reset_timestamp": "soon"}}, id="garbage"),
        pytest.param({"detail": {"quota_reset_timestamp": True}}, id="bool"),
        pytest.param({"detail": {"quota_reset_timestamp": None}}, id="null"),
    ],
)
def test_quota_reset_absent(body: Any) -> None:
    """Without a usable quota_reset_timestamp, quota_reset is None."""
    assert status_error(json_response(402, body)).quota_reset is None  # type: ignore[attr-defined]


# --- pickling ---------------------------------------------------------------------------------


def _errors() -> list[Any]:
    return [
        pytest.param(ConfigurationError("bad target"), id="configuration"),
        pytest.param(
            APIConnectionError(
                "could not connect", failure=ConnectionFailure.CONNECT, url="https://x.chutes.ai/"
            ),
            id="connection",
        ),
        pytest.param(
            APITimeoutError(
                "timed out", failure=ConnectionFailure.READ_TIMEOUT, url="https://x.chutes.ai/a"
            ),
            id="timeout",
        ),
        pytest.param(
            status_error(
                json_response(404, {"detail": "nope"}, **{"x-chutes-invocationid": "inv-1"})
            ),
            id="not-found",
        ),
        pytest.param(
            status_error(
                json_response(402, {"detail": {"message": "q", "quota_reset_timestamp": 1}})
            ),
            id="payment-required",
        ),
        pytest.param(status_error(FakeResponse(429), retry_after=12.5), id="rate-limit"),
        pytest.param(status_error(FakeResponse(503, {}, b"cold")), id="service-unavailable"),
        pytest.param(status_error(FakeResponse(409, {}, b"conflict")), id="plain-status"),
        pytest.param(
            StreamError("boom", partial_text="Hello", detail={"message": "boom"}), id="stream"
        ),
        pytest.param(
            DecodeError("not JSON", body=b"<html>", content_type="text/html"), id="decode"
        ),
    ]


def round_trip(error: ChutesError) -> Any:
    """``error`` pickled and unpickled."""
    return pickle.loads(pickle.dumps(error))  # noqa: S301 - bytes we just made ourselves


@pytest.mark.parametrize("error", _errors())
def test_pickle_round_trip(error: ChutesError) -> None:
    """Every error survives pickle with its type, message and attributes."""
    restored = round_trip(error)
    assert type(restored) is type(error)
    assert str(restored) == str(error)
    assert restored.args == error.args
    assert vars(restored) == vars(error)


def test_pickled_timeout_still_catchable_as_timeout_error() -> None:
    """An unpickled APITimeoutError is still a TimeoutError with its failure kind."""
    error = APITimeoutError("t", failure=ConnectionFailure.CONNECT_TIMEOUT, url="https://x/")
    restored = round_trip(error)
    assert restored.failure is ConnectionFailure.CONNECT_TIMEOUT
    assert isinstance(restored, TimeoutError)


def test_pickled_402_keeps_quota_reset() -> None:
    """An unpickled PaymentRequiredError still parses its quota reset."""
    detail = {"message": "q", "quota_reset_timestamp": "2026-11-27T00:00:00Z"}
    error = status_error(json_response(402, {"detail": detail}))
    assert round_trip(error).quota_reset == RESET

"""Response metadata from headers (quota, invocation id) and JSON body decoding."""

from __future__ import annotations

import pytest

from chutes._core.decoding import decode_json
from chutes._core.errors import DecodeError
from chutes._core.models import Quota, invocation_id, quota_from_headers

TOTAL = "x-chutes-quota-total"
USED = "x-chutes-quota-used"
REMAINING = "x-chutes-quota-remaining"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param(
            {TOTAL: "1000", USED: "250", REMAINING: "750"}, Quota(1000, 250, 750), id="ints"
        ),
        pytest.param(
            {TOTAL: "10.5", USED: "0.25", REMAINING: "10.25"}, Quota(10.5, 0.25, 10.25), id="floats"
        ),
        pytest.param({TOTAL: " 100 ", USED: "1", REMAINING: "99"}, Quota(100, 1, 99), id="padded"),
        pytest.param({REMAINING: "5"}, Quota(None, None, 5), id="only-remaining"),
        pytest.param(
            {TOTAL: "100", USED: "lots", REMAINING: "7"}, Quota(100, None, 7), id="garbage"
        ),
        pytest.param({TOTAL: "100", USED: "nan", REMAINING: "7"}, Quota(100, None, 7), id="nan"),
        pytest.param({TOTAL: "100", USED: "", REMAINING: "7"}, Quota(100, None, 7), id="empty"),
    ],
)
def test_quota_from_headers(headers: dict[str, str], expected: Quota) -> None:
    """Each X-Chutes-Quota-* header becomes a number, or None when absent or unreadable."""
    assert quota_from_headers(headers) == expected


def test_quota_ints_stay_ints() -> None:
    """Integral header values are kept as int."""
    quota = quota_from_headers({TOTAL: "1000", USED: "250", REMAINING: "750"})
    assert quota is not None
    assert [type(v) for v in (quota.total, quota.used, quota.remaining)] == [int, int, int]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="none-sent"),
        pytest.param({"content-type": "application/json"}, id="other-headers"),
        pytest.param({TOTAL: "x", USED: "y", REMAINING: "z"}, id="all-garbage"),
    ],
)
def test_quota_absent(headers: dict[str, str]) -> None:
    """Without any readable quota header the quota is None."""
    assert quota_from_headers(headers) is None


def test_invocation_id() -> None:
    """invocation_id reads X-Chutes-InvocationID (looked up lower-case)."""
    assert invocation_id({"x-chutes-invocationid": "inv-123"}) == "inv-123"


def test_invocation_id_absent() -> None:
    """invocation_id is None when the header was not sent."""
    assert invocation_id({"x-other": "1"}) is None


def test_quota_is_frozen() -> None:
    """A Quota cannot be changed in place."""
    quota = Quota(1, 2, 3)
    with pytest.raises(AttributeError):
        quota.used = 5  # type: ignore[misc]


# --- decode_json ------------------------------------------------------------------------------


def test_decode_json() -> None:
    """A JSON body is parsed."""
    assert decode_json(b'{"a": [1, "\xc3\xa9"]}', "application/json") == {"a": [1, "\u00e9"]}


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        pytest.param(b"<html><body>502</body></html>", "text/html", id="html"),
        pytest.param(b"", "application/json", id="empty"),
        pytest.param(b'{"a": ', "application/json", id="truncated"),
        pytest.param(b"\xff\xfe", None, id="not-utf8-no-type"),
    ],
)
def test_decode_json_error_carries_body_and_type(content: bytes, content_type: str | None) -> None:
    """A body that is not JSON raises DecodeError with the body and the content type."""
    with pytest.raises(DecodeError) as info:
        decode_json(content, content_type)
    assert (info.value.body, info.value.content_type) == (content, content_type)


def test_decode_json_error_names_content_type() -> None:
    """The DecodeError message names the content type received."""
    with pytest.raises(DecodeError, match="text/html"):
        decode_json(b"<html></html>", "text/html")

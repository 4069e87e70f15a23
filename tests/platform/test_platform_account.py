"""Warm-up status and events, the account's endpoints and the platform's pricing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from chutes._core.errors import ConfigurationError, DecodeError
from chutes._core.platform import (
    AccountInfo,
    Amount,
    Instance,
    QuotaRule,
    QuotaUsage,
    Subscription,
    SubscriptionWindow,
    UsageBucket,
    UsagePage,
    WarmupEvent,
    account_info,
    chute_status,
    is_cold_start,
    pricing,
    quota_usage,
    quotas,
    subscription,
    usage_page,
    usage_params,
    warmup_event,
)

CHUTE_ID = "5b1d0c2e-aaaa-4bbb-8ccc-ddddeeeeffff"
UTC = dt.timezone.utc


# --- warm-up --------------------------------------------------------------------------------


def status_json(**changes: Any) -> dict[str, Any]:
    """A quick warm-up status as the platform answers it."""
    data: dict[str, Any] = {
        "chute_id": CHUTE_ID,
        "status": "hot",
        "instance_count": 2,
        "bounty": None,
        "instances": [
            {"instance_id": "i-1", "active": True, "gpu_count": 8, "gpu_model_name": "h100"},
            {"instance_id": "i-2", "active": False, "gpu_count": 8, "gpu_model_name": "h200"},
        ],
    }
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("status", "hot"),
    [pytest.param("hot", True, id="hot"), pytest.param("cold", False, id="cold")],
)
def test_chute_status_hot_is_status_hot(status: str, hot: bool) -> None:
    """``hot`` is whether the platform said ``"hot"``."""
    assert chute_status(status_json(status=status)).hot is hot


def test_chute_status_reads_counts_and_instances() -> None:
    """Instance count and the instances' GPUs are read."""
    st = chute_status(status_json())
    assert (st.chute_id, st.instance_count, st.bounty) == (CHUTE_ID, 2, None)
    assert st.instances[0] == Instance(
        instance_id="i-1", active=True, gpu_count=8, gpu_model_name="h100"
    )


def test_chute_status_reads_a_bounty() -> None:
    """A numeric bounty is read as a number."""
    assert chute_status(status_json(status="cold", bounty=300)).bounty == 300.0


def test_chute_status_count_defaults_to_instances() -> None:
    """Without ``instance_count``, the count is the number of instances listed."""
    data = status_json()
    del data["instance_count"]
    assert chute_status(data).instance_count == 2


def test_chute_status_keeps_raw() -> None:
    """The status JSON is kept in ``raw``."""
    data = status_json(extra=1)
    assert chute_status(data).raw == data


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"status": None}, "status", id="no-status"),
        pytest.param({"chute_id": 5}, "chute_id", id="id-int"),
        pytest.param({"instance_count": "2"}, "instance_count", id="count-str"),
        pytest.param({"instances": [{"active": True}]}, "instance_id", id="instance-no-id"),
    ],
)
def test_chute_status_names_the_bad_field(changes: dict[str, Any], field: str) -> None:
    """A missing or mistyped field raises ``DecodeError`` naming it."""
    with pytest.raises(DecodeError, match=field):
        chute_status(status_json(**changes))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            '{"status": "cold", "log": "waiting for instances ..."}',
            WarmupEvent("cold", "waiting for instances ..."),
            id="cold",
        ),
        pytest.param(
            '{"status": "hot", "log": "chute is hot, 2 instances available"}',
            WarmupEvent("hot", "chute is hot, 2 instances available"),
            id="hot",
        ),
        pytest.param('{"status": "cold"}', WarmupEvent("cold", None), id="no-log"),
    ],
)
def test_warmup_event_reads_status_and_log(text: str, expected: WarmupEvent) -> None:
    """A warm-up event's data becomes its status and log."""
    assert warmup_event(text) == expected


@pytest.mark.parametrize(
    ("text", "hot"),
    [
        pytest.param('{"status": "hot"}', True, id="hot"),
        pytest.param('{"status": "cold"}', False, id="cold"),
    ],
)
def test_warmup_event_hot(text: str, hot: bool) -> None:
    """``event.hot`` is true only for the hot event."""
    assert warmup_event(text).hot is hot


def test_warmup_event_keeps_raw() -> None:
    """The event's JSON is kept in ``raw``."""
    assert warmup_event('{"status": "cold", "n": 1}').raw == {"status": "cold", "n": 1}


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param("not json", "not JSON", id="not-json"),
        pytest.param("[DONE]", "not JSON", id="done"),
        pytest.param('{"log": "x"}', "status", id="no-status"),
        pytest.param('{"status": 1}', "status", id="status-int"),
    ],
)
def test_warmup_event_refuses_bad_data(text: str, match: str) -> None:
    """Data that is not a status event raises ``DecodeError``."""
    with pytest.raises(DecodeError, match=match):
        warmup_event(text)


@pytest.mark.parametrize(
    ("detail", "cold"),
    [
        pytest.param("No instances available (yet) for chute_id='abc'", True, id="platform"),
        pytest.param("No instances available", True, id="short"),
        pytest.param({"message": "No instances available"}, True, id="object"),
        pytest.param("This chute is currently disabled.", False, id="disabled"),
        pytest.param("Infrastructure is at maximum capacity, try again later", False, id="busy"),
    ],
)
def test_is_cold_start(detail: Any, cold: bool) -> None:
    """Only the platform's "No instances available" detail means a cold chute."""
    assert is_cold_start(detail) is cold


# --- account --------------------------------------------------------------------------------

ME = {
    "username": "myuser",
    "user_id": "dff3e6bb-3a6b-5a2b-9c48-da3abcd5ca5f",
    "logo_id": None,
    "created_at": "2024-01-01T00:00:00",
    "hotkey": "5F...",
    "coldkey": "5G...",
    "payment_address": "5Hpay",
    "permissions_bitmask": 0,
    "balance": 12.5,
    "permissions": ["free_account"],
    "quotas": [],
}


def test_account_info_reads_fields() -> None:
    """Username, id, balance, payment address and permissions are read."""
    assert account_info(ME) == AccountInfo(
        username="myuser",
        user_id="dff3e6bb-3a6b-5a2b-9c48-da3abcd5ca5f",
        balance=12.5,
        payment_address="5Hpay",
        permissions=["free_account"],
    )


def test_account_info_keeps_raw() -> None:
    """``/users/me``'s JSON is kept in ``raw``."""
    assert account_info(ME).raw["hotkey"] == "5F..."


def test_account_info_integer_balance() -> None:
    """An integer balance reads as a float."""
    assert account_info({**ME, "balance": 0}).balance == 0.0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"username": None}, "username", id="no-username"),
        pytest.param({"user_id": 3}, "user_id", id="id-int"),
        pytest.param({"balance": "12"}, "balance", id="balance-str"),
        pytest.param({"permissions": "all"}, "permissions", id="permissions-str"),
    ],
)
def test_account_info_names_the_bad_field(changes: dict[str, Any], field: str) -> None:
    """A missing or mistyped field raises ``DecodeError`` naming it."""
    with pytest.raises(DecodeError, match=field):
        account_info({**ME, **changes})


RULE = {
    "user_id": "u",
    "chute_id": "*",
    "quota": 200,
    "is_default": True,
    "effective_date": "2025-03-01T00:00:00Z",
    "payment_refresh_date": None,
    "updated_at": "2025-03-01T00:00:00",
}

QUOTA_SHAPES = [
    pytest.param({}, [], id="free-or-invoiced"),
    pytest.param(
        [RULE, {**RULE, "chute_id": CHUTE_ID, "quota": 5, "is_default": False}],
        [
            QuotaRule("*", 200.0, True, dt.datetime(2025, 3, 1, tzinfo=UTC)),
            QuotaRule(CHUTE_ID, 5.0, False, dt.datetime(2025, 3, 1, tzinfo=UTC)),
        ],
        id="list",
    ),
    pytest.param({"*": 0}, [QuotaRule("*", 0.0, True, None)], id="no-requests"),
    pytest.param(
        {"*": 200, CHUTE_ID: 10},
        [QuotaRule("*", 200.0, True, None), QuotaRule(CHUTE_ID, 10.0, True, None)],
        id="default-mapping",
    ),
    pytest.param([], [], id="empty-list"),
]


@pytest.mark.parametrize(("data", "expected"), QUOTA_SHAPES)
def test_quotas_normalise_every_shape(data: Any, expected: list[QuotaRule]) -> None:
    """Each of the three shapes of ``/users/me/quotas`` becomes a list of rules."""
    assert quotas(data) == expected


def test_quota_rule_without_date() -> None:
    """A rule without ``effective_date`` has it None and ``is_default`` False."""
    assert quotas([{"chute_id": "*", "quota": 1}]) == [QuotaRule("*", 1.0)]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        pytest.param({"*": "many"}, r"'\*'", id="mapping-value-str"),
        pytest.param([{"quota": 1}], "chute_id", id="rule-no-chute"),
        pytest.param([{"chute_id": "*", "quota": "x"}], "quota", id="rule-quota-str"),
        pytest.param(
            [{"chute_id": "*", "quota": 1, "effective_date": "soon"}], "effective_date", id="date"
        ),
        pytest.param("none", "list or an object", id="str"),
    ],
)
def test_quotas_name_the_bad_field(data: Any, match: str) -> None:
    """A shape that is none of the three, or a bad rule, raises ``DecodeError``."""
    with pytest.raises(DecodeError, match=match):
        quotas(data)


@pytest.mark.parametrize(
    ("data", "expected", "remaining"),
    [
        pytest.param({"quota": 200, "used": 12.0}, QuotaUsage(200.0, 12.0), 188.0, id="limited"),
        pytest.param(
            {"quota": "unlimited", "used": 0}, QuotaUsage(None, 0.0), None, id="unlimited"
        ),
        pytest.param({"quota": 5, "used": 9}, QuotaUsage(5.0, 9.0), 0.0, id="over"),
        pytest.param({"quota": 5}, QuotaUsage(5.0, 0.0), 5.0, id="no-used"),
    ],
)
def test_quota_usage(data: Any, expected: QuotaUsage, remaining: float | None) -> None:
    """``quota_usage`` reads quota (None when unlimited), used and what remains."""
    usage = quota_usage(data)
    assert (usage, usage.remaining) == (expected, remaining)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        pytest.param({"quota": "lots", "used": 0}, "quota", id="quota-str"),
        pytest.param({"used": 0}, "quota", id="no-quota"),
        pytest.param({"quota": 1, "used": "0"}, "used", id="used-str"),
    ],
)
def test_quota_usage_names_the_bad_field(data: Any, field: str) -> None:
    """A bad quota usage raises ``DecodeError`` naming the field."""
    with pytest.raises(DecodeError, match=field):
        quota_usage(data)


WINDOW = {"usage": 1.5, "cap": 10.0, "remaining": 8.5, "reset_at": "2025-03-01T04:00:00Z"}


def test_subscription_inactive() -> None:
    """``{"subscription": false}`` is an inactive subscription with no windows."""
    assert subscription({"subscription": False}) == Subscription(active=False)


def test_subscription_active_windows() -> None:
    """The active shape gives both windows, with amounts and reset time."""
    sub = subscription({"four_hour": WINDOW, "monthly": {**WINDOW, "cap": 100.0}})
    assert sub.active is True
    assert sub.four_hour == SubscriptionWindow(
        1.5, 10.0, 8.5, dt.datetime(2025, 3, 1, 4, tzinfo=UTC)
    )
    assert sub.monthly is not None
    assert sub.monthly.cap == 100.0


def test_subscription_keeps_raw() -> None:
    """The subscription JSON is kept in ``raw``."""
    data = {"four_hour": WINDOW, "monthly": WINDOW, "plan": "pro"}
    assert subscription(data).raw == data


def test_subscription_epoch_reset() -> None:
    """A reset time sent as epoch seconds is read as UTC."""
    sub = subscription({"four_hour": {**WINDOW, "reset_at": 0}, "monthly": None})
    assert sub.four_hour is not None
    assert sub.four_hour.reset_at == dt.datetime(1970, 1, 1, tzinfo=UTC)
    assert sub.monthly is None


def test_subscription_bad_window_names_the_field() -> None:
    """A window whose cap is not a number raises ``DecodeError`` naming it."""
    with pytest.raises(DecodeError, match=r"four_hour\.cap"):
        subscription({"four_hour": {**WINDOW, "cap": "ten"}})


USAGE = {
    "total": 30,
    "page": 0,
    "limit": 2,
    "items": [
        {
            "bucket": "2025-03-01T10:00:00",
            "amount": 0.25,
            "count": 3,
            "input_tokens": 100,
            "output_tokens": 50,
        },
        {"bucket": "2025-03-01T09:00:00", "amount": 1, "count": 1},
    ],
}


def test_usage_page_reads_buckets() -> None:
    """Buckets read as UTC times, USD amounts, counts and tokens."""
    page = usage_page(USAGE)
    assert page.items[0] == UsageBucket(
        bucket=dt.datetime(2025, 3, 1, 10, tzinfo=UTC),
        amount_usd=0.25,
        count=3,
        input_tokens=100,
        output_tokens=50,
    )
    assert page.items[1].amount_usd == 1.0


def test_usage_page_reads_paging() -> None:
    """Total, page and limit are read, and ``has_more`` follows them."""
    page = usage_page(USAGE)
    assert isinstance(page, UsagePage)
    assert (page.total, page.page, page.limit, page.has_more) == (30, 0, 2, True)


def test_usage_page_per_chute() -> None:
    """Per-chute buckets carry their ``chute_id``."""
    item = {"bucket": "2025-03-01T10:00:00", "chute_id": CHUTE_ID, "amount": 0.5, "count": 2}
    assert usage_page({"items": [item]}).items[0].chute_id == CHUTE_ID


def test_usage_page_empty() -> None:
    """An empty page has no items and nothing more."""
    assert usage_page({"total": 0, "page": 0, "limit": 24, "items": []}) == UsagePage([], 0, 0, 24)


@pytest.mark.parametrize(
    ("item", "field"),
    [
        pytest.param({"amount": 1}, r"items\[0\]\.bucket", id="no-bucket"),
        pytest.param({"bucket": "yesterday", "amount": 1}, r"items\[0\]\.bucket", id="bad-bucket"),
        pytest.param(
            {"bucket": "2025-03-01T10:00:00", "amount": "1"}, r"items\[0\]\.amount", id="amount-str"
        ),
    ],
)
def test_usage_page_names_the_bad_field(item: dict[str, Any], field: str) -> None:
    """A bad bucket raises ``DecodeError`` naming its path."""
    with pytest.raises(DecodeError, match=field):
        usage_page({"items": [item]})


def test_usage_params_format_dates_and_flags() -> None:
    """Dates become ISO 8601 and flags ``true``/``false``."""
    params = usage_params(
        start=dt.date(2025, 3, 1),
        end=dt.datetime(2025, 3, 2, 12, tzinfo=UTC),
        per_chute=True,
        chute_id=CHUTE_ID,
        page=1,
        limit=10,
    )
    assert params == {
        "start_date": "2025-03-01",
        "end_date": "2025-03-02T12:00:00+00:00",
        "per_chute": "true",
        "chute_id": CHUTE_ID,
        "page": "1",
        "limit": "10",
    }


def test_usage_params_leave_out_unset() -> None:
    """Only the options given become parameters."""
    assert usage_params() == {}


@pytest.mark.parametrize(
    "options",
    [pytest.param({"page": -1}, id="page"), pytest.param({"limit": 0}, id="limit")],
)
def test_usage_params_refuse_bad_paging(options: dict[str, Any]) -> None:
    """A negative page or a limit below 1 raises ``ConfigurationError``."""
    with pytest.raises(ConfigurationError):
        usage_params(**options)


# --- pricing --------------------------------------------------------------------------------

PRICING = {
    "tao_usd": 400.0,
    "compute_unit_estimate": {"usd": 0.0001, "tao": 0.00000025, "description": "a second"},
    "gpu_price_estimates": {
        "h100": {
            "usd": {"hour": 2.0, "second": 2.0 / 3600},
            "tao": {"hour": 0.005, "second": 1e-6},
        },
        "a6000": {
            "usd": {"hour": 0.5, "second": 0.5 / 3600},
            "tao": {"hour": 0.00125, "second": 1e-7},
        },
    },
}


def test_pricing_reads_tao_price_and_unit() -> None:
    """The TAO price and the compute unit's price are read."""
    found = pricing(PRICING)
    assert (found.tao_usd, found.compute_unit_estimate) == (400.0, Amount(0.0001, 0.00000025))


def test_pricing_gpus_are_hourly() -> None:
    """Each GPU's price is its hourly USD and TAO price."""
    assert pricing(PRICING).gpu_price_estimates == {
        "h100": Amount(2.0, 0.005),
        "a6000": Amount(0.5, 0.00125),
    }


def test_pricing_keeps_raw() -> None:
    """``/pricing``'s JSON is kept in ``raw``."""
    assert pricing(PRICING).raw == PRICING


@pytest.mark.parametrize(
    ("data", "field"),
    [
        pytest.param({**PRICING, "tao_usd": "400"}, "tao_usd", id="tao-str"),
        pytest.param(
            {**PRICING, "gpu_price_estimates": {"h100": 2}}, "gpu_price_estimates.h100", id="gpu"
        ),
        pytest.param({**PRICING, "gpu_price_estimates": []}, "gpu_price_estimates", id="gpus-list"),
    ],
)
def test_pricing_names_the_bad_field(data: Any, field: str) -> None:
    """A mistyped pricing field raises ``DecodeError`` naming it."""
    with pytest.raises(DecodeError, match=field.replace(".", r"\.")):
        pricing(data)

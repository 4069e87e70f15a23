"""The fake's account endpoints, pricing, and scoped keys."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from chutes._core.platform import (
    Subscription,
    account_info,
    pricing,
    quota_usage,
    quotas,
    subscription,
    usage_page,
)
from chutes.testing import FakeChutes

API = "https://api.chutes.ai"
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
SCOPED = "cpk_scoped"


def get(http: httpx.Client, path: str, **params: Any) -> Any:
    """``GET {API}{path}``, its JSON (a 200 is required)."""
    resp = http.get(f"{API}{path}", params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


# --- /users/me --------------------------------------------------------------------------------


def test_me_describes_the_account(fake: FakeChutes, http: httpx.Client) -> None:
    """``/users/me`` answers the account's name, id, balance and payment address."""
    fake.balance = 12.5
    me = account_info(get(http, "/users/me"))
    assert (me.username, me.user_id, me.balance, me.payment_address) == (
        "myuser",
        fake.user_id,
        12.5,
        fake.payment_address,
    )


def test_me_carries_permissions_and_quotas(fake: FakeChutes, http: httpx.Client) -> None:
    """``/users/me`` carries the permissions and the quotas too."""
    fake.permissions = ["free_account"]
    fake.quotas = {"*": 0}
    body = get(http, "/users/me")
    assert (body["permissions"], body["quotas"]) == (["free_account"], {"*": 0})


def test_account_needs_a_key(anon: httpx.Client) -> None:
    """The account endpoints answer 401 without a key."""
    assert anon.get(f"{API}/users/me").status_code == 401


ACCOUNT_PATHS = [
    pytest.param("/users/me", id="me"),
    pytest.param("/users/me/quotas", id="quotas"),
    pytest.param("/users/me/quota_usage/x", id="quota-usage"),
    pytest.param("/users/me/subscription_usage", id="subscription"),
    pytest.param("/users/me/usage", id="usage"),
]


@pytest.mark.parametrize("path", ACCOUNT_PATHS)
def test_scoped_key_is_refused_by_the_account(path: str) -> None:
    """A scoped key gets the platform's 401 on every account endpoint."""
    fake = FakeChutes(api_key="k", scoped_keys={SCOPED})
    with httpx.Client(transport=fake, headers={"Authorization": f"Bearer {SCOPED}"}) as http:
        resp = http.get(f"{API}{path}")
    assert (resp.status_code, resp.json()) == (401, {"detail": "Invalid token or user not found"})


def test_scoped_key_still_calls_chutes() -> None:
    """A scoped key may still call the chutes."""
    fake = FakeChutes(api_key="k", scoped_keys={SCOPED})
    fake.add_chute("me/llm")
    with httpx.Client(transport=fake, headers={"X-API-Key": SCOPED}) as http:
        resp = http.post("https://me-llm.chutes.ai/v1/chat/completions", json=CHAT)
    assert resp.status_code == 200


def test_own_key_can_be_scoped() -> None:
    """Listing the fake's own key as scoped makes ``fake.client()`` a scoped client."""
    fake = FakeChutes(api_key="k", scoped_keys={"k"})
    with httpx.Client(transport=fake, headers={"Authorization": "Bearer k"}) as http:
        assert http.get(f"{API}/users/me").status_code == 401


# --- quotas -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "count"),
    [
        pytest.param({}, 0, id="free-or-invoiced"),
        pytest.param(
            [{"chute_id": "*", "quota": 5, "is_default": False, "effective_date": None}],
            1,
            id="list",
        ),
        pytest.param({"*": 0}, 1, id="no-requests"),
    ],
)
def test_quotas_answer_each_shape(
    fake: FakeChutes, http: httpx.Client, shape: Any, count: int
) -> None:
    """``/users/me/quotas`` answers the shape set, which the core normalises."""
    fake.quotas = shape
    body = get(http, "/users/me/quotas")
    assert body == shape
    assert len(quotas(body)) == count


def test_default_quota_is_one_global_rule(fake: FakeChutes, http: httpx.Client) -> None:
    """By default the account has one global rule of ``quota_total`` requests."""
    (rule,) = quotas(get(http, "/users/me/quotas"))
    assert (rule.chute_id, rule.quota) == ("*", float(fake.quota_total))


def test_quota_usage_unlimited_for_free_accounts(fake: FakeChutes, http: httpx.Client) -> None:
    """With quotas ``{}`` a chute's quota is ``"unlimited"``."""
    fake.quotas = {}
    usage = quota_usage(get(http, "/users/me/quota_usage/abc"))
    assert (usage.quota, usage.remaining) == (None, None)


def test_quota_usage_counts_calls_of_the_chute(fake: FakeChutes, http: httpx.Client) -> None:
    """A chute with its own rule counts its own calls."""
    ident = fake.add_chute("myuser/llm")
    fake.add_chute("myuser/other")
    fake.quotas = [{"chute_id": ident, "quota": 10}, {"chute_id": "*", "quota": 100}]
    for _ in range(2):
        http.post("https://myuser-llm.chutes.ai/v1/chat/completions", json=CHAT)
    http.post("https://myuser-other.chutes.ai/v1/chat/completions", json=CHAT)
    usage = quota_usage(get(http, f"/users/me/quota_usage/{ident}"))
    assert (usage.quota, usage.used, usage.remaining) == (10.0, 2.0, 8.0)


def test_quota_usage_of_the_global_rule_counts_every_call(
    fake: FakeChutes, http: httpx.Client
) -> None:
    """A chute under the ``*`` rule counts every call of the account."""
    fake.add_chute("myuser/llm")
    fake.add_chute("myuser/other")
    fake.quotas = {"*": 50}
    http.post("https://myuser-llm.chutes.ai/v1/chat/completions", json=CHAT)
    http.post("https://myuser-other.chutes.ai/v1/chat/completions", json=CHAT)
    usage = quota_usage(get(http, "/users/me/quota_usage/anything"))
    assert (usage.quota, usage.used) == (50.0, 2.0)


# --- subscription ---------------------------------------------------------------------------------


def test_subscription_inactive_by_default(http: httpx.Client) -> None:
    """By default there is no subscription."""
    assert subscription(get(http, "/users/me/subscription_usage")) == Subscription(active=False)


def test_subscription_active_shape(fake: FakeChutes, http: httpx.Client) -> None:
    """An active subscription's windows come back as set."""
    window = {"usage": 1.0, "cap": 5.0, "remaining": 4.0, "reset_at": "2030-01-01T04:00:00Z"}
    fake.subscription = {"four_hour": window, "monthly": {**window, "cap": 50.0}}
    sub = subscription(get(http, "/users/me/subscription_usage"))
    assert sub.active is True
    assert sub.monthly is not None
    assert sub.monthly.cap == 50.0


# --- usage ----------------------------------------------------------------------------------------

BUCKETS = [
    {
        "bucket": f"2025-03-01T{h:02d}:00:00",
        "chute_id": c,
        "amount": 0.5,
        "count": 2,
        "input_tokens": 10,
        "output_tokens": 5,
    }
    for h in range(4)
    for c in ("a", "b")
]


def test_usage_sums_per_bucket(fake: FakeChutes, http: httpx.Client) -> None:
    """Without ``per_chute``, each bucket sums every chute's spending, newest first."""
    fake.usage_buckets = BUCKETS
    page = usage_page(get(http, "/users/me/usage"))
    assert [b.bucket.hour for b in page.items] == [3, 2, 1, 0]
    assert (page.items[0].amount_usd, page.items[0].count, page.items[0].input_tokens) == (
        1.0,
        4,
        20,
    )


def test_usage_per_chute(fake: FakeChutes, http: httpx.Client) -> None:
    """With ``per_chute`` each chute's bucket comes separately, with its id."""
    fake.usage_buckets = BUCKETS
    page = usage_page(get(http, "/users/me/usage", per_chute="true"))
    assert page.total == 8
    assert {b.chute_id for b in page.items} == {"a", "b"}


def test_usage_filters_chute_and_dates(fake: FakeChutes, http: httpx.Client) -> None:
    """``chute_id``, ``start_date`` and ``end_date`` narrow the buckets."""
    fake.usage_buckets = BUCKETS
    body = get(
        http,
        "/users/me/usage",
        chute_id="a",
        start_date="2025-03-01T01:00:00",
        end_date="2025-03-01T02:00:00Z",
    )
    assert [b.bucket for b in usage_page(body).items] == [
        dt.datetime(2025, 3, 1, h, tzinfo=dt.timezone.utc) for h in (2, 1)
    ]


def test_usage_pages(fake: FakeChutes, http: httpx.Client) -> None:
    """``page`` and ``limit`` page through the buckets."""
    fake.usage_buckets = BUCKETS
    page = usage_page(get(http, "/users/me/usage", page=1, limit=3))
    assert (len(page.items), page.total, page.has_more) == (1, 4, False)


def test_usage_refuses_a_bad_date(fake: FakeChutes, http: httpx.Client) -> None:
    """A date that is not one answers 422."""
    assert http.get(f"{API}/users/me/usage", params={"start_date": "soon"}).status_code == 422


# --- pricing --------------------------------------------------------------------------------------


def test_pricing_needs_no_key(anon: httpx.Client) -> None:
    """``/pricing`` answers without a key, in the platform's shape."""
    found = pricing(get(anon, "/pricing"))
    assert found.tao_usd is not None
    assert found.tao_usd > 0
    assert found.gpu_price_estimates["h100"].usd == 2.0


def test_pricing_is_settable(fake: FakeChutes, http: httpx.Client) -> None:
    """``fake.pricing`` is what ``/pricing`` answers."""
    fake.pricing = {"tao_usd": 321.0, "compute_unit_estimate": None, "gpu_price_estimates": {}}
    assert pricing(get(http, "/pricing")).tao_usd == 321.0

"""The fake's gateways (route by model), its strictness, its client factory and fault kinds."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

import chutes
from chutes._core.errors import classify_429, parse_model_not_found
from chutes._core.platform import (
    ModelPrice,
    chute_id,
    gateway_models,
    is_cold_start,
)
from chutes.testing import FakeChutes

LLM = "https://llm.chutes.ai"
MODEL = "deepseek-ai/DeepSeek-V3"
MESSAGES = [{"role": "user", "content": "Hello gateway"}]


def chat(http: httpx.Client, model: Any = MODEL, base: str = LLM) -> httpx.Response:
    """One plain chat completion on a gateway."""
    body: dict[str, Any] = {"messages": MESSAGES}
    if model is not None:
        body["model"] = model
    return http.post(f"{base}/v1/chat/completions", json=body)


# --- routing by model --------------------------------------------------------------------------


def test_gateway_routes_by_model_to_its_chute(fake: FakeChutes, http: httpx.Client) -> None:
    """The body's model picks the chute that serves it."""
    ident = fake.add_model(MODEL, chute="chutes/deepseek-v3")
    assert chat(http).status_code == 200
    assert fake.requests[-1].chute_id == ident == chute_id("chutes/deepseek-v3")


def test_add_model_default_chute(fake: FakeChutes) -> None:
    """Without ``chute``, the model's chute is ``chutes/{model}``, like the platform's own."""
    assert fake.add_model(MODEL) == chute_id(f"chutes/{MODEL}")


def test_add_model_uses_an_added_chute(fake: FakeChutes, http: httpx.Client) -> None:
    """A model can be served by a chute added before, keeping its settings."""
    fake.add_chute("myuser/mine", public=False)
    fake.add_model("mine-v1", chute="myuser/mine")
    api = http.get("https://api.chutes.ai/chutes/myuser/mine").json()
    assert api["public"] is False


def test_gateway_reply_comes_from_the_models_chute(fake: FakeChutes, http: httpx.Client) -> None:
    """``reply`` on the model's chute sets the gateway's answer for that model."""
    fake.add_model(MODEL, chute="chutes/deepseek-v3")
    fake.reply("chutes/deepseek-v3", "From the chute.")
    assert chat(http).json()["choices"][0]["message"]["content"] == "From the chute."


def test_gateway_reply_is_the_fallback(fake: FakeChutes, http: httpx.Client) -> None:
    """``reply("llm", ...)`` answers for models whose chute has no reply of its own."""
    fake.add_model(MODEL)
    fake.reply("llm", "From the gateway.")
    assert chat(http).json()["choices"][0]["message"]["content"] == "From the gateway."


def test_unknown_model_is_not_found(fake: FakeChutes, http: httpx.Client) -> None:
    """A model nobody added answers 404 ``model not found: X``, which the core parses."""
    fake.add_model(MODEL)
    resp = chat(http, model="deepseek-ai/DeepSeek-V2")
    assert (resp.status_code, resp.json()) == (
        404,
        {"detail": "model not found: deepseek-ai/DeepSeek-V2"},
    )
    assert parse_model_not_found(resp.json()["detail"]) == "deepseek-ai/DeepSeek-V2"


def test_client_raises_not_found_for_unknown_model(fake: FakeChutes) -> None:
    """Through the client, an unknown model raises ``NotFoundError`` with the detail."""
    with fake.client() as client, pytest.raises(chutes.NotFoundError, match="model not found"):
        client.llm.chat.completions.create(model="nope/nothing", messages=MESSAGES)


def test_gateway_without_model_is_a_bad_request(http: httpx.Client) -> None:
    """A gateway request without a model answers 400."""
    assert chat(http, model=None).status_code == 400


def test_gateway_refuses_models_of_another_kind(fake: FakeChutes, http: httpx.Client) -> None:
    """The llm gateway answers "model not found" for a diffusion chute's model."""
    fake.add_chute("chutes/flux", template="diffusion")
    fake.add_model("flux-dev", chute="chutes/flux")
    assert chat(http, model="flux-dev").status_code == 404


def test_embed_gateway_serves_embedding_models(fake: FakeChutes, http: httpx.Client) -> None:
    """The embed gateway serves a model whose chute is an embedding chute."""
    fake.add_chute("chutes/bge", template="embedding")
    fake.add_model("BAAI/bge-m3", chute="chutes/bge")
    resp = http.post(
        "https://embed.chutes.ai/v1/embeddings", json={"model": "BAAI/bge-m3", "input": "x"}
    )
    assert resp.status_code == 200


def test_cold_models_chute_answers_503(fake: FakeChutes, http: httpx.Client) -> None:
    """A model whose chute is cold answers the cold 503 naming that chute."""
    ident = fake.add_chute("chutes/deepseek-v3", hot=False)
    fake.add_model(MODEL, chute="chutes/deepseek-v3")
    resp = chat(http)
    assert resp.status_code == 503
    assert is_cold_start(resp.json()["detail"])
    assert str(ident) in resp.json()["detail"]


def test_any_chute_serves_any_model() -> None:
    """With ``any_chute=True`` the gateway answers any model."""
    fake = FakeChutes(api_key="k", any_chute=True)
    with httpx.Client(transport=fake, headers={"Authorization": "Bearer k"}) as http:
        assert chat(http, model="whatever/model").status_code == 200


def test_any_chute_serves_any_name() -> None:
    """With ``any_chute=True`` every chute name answers."""
    fake = FakeChutes(api_key="k", any_chute=True)
    with httpx.Client(transport=fake, headers={"Authorization": "Bearer k"}) as http:
        assert chat(http, base="https://someone-anything.chutes.ai").status_code == 200


def test_strict_is_the_default() -> None:
    """A fake made with no options is strict: an unknown chute answers 404."""
    fake = FakeChutes(api_key="k")
    with httpx.Client(transport=fake, headers={"Authorization": "Bearer k"}) as http:
        resp = chat(http, base="https://someone-anything.chutes.ai")
    assert (resp.status_code, resp.json()) == (404, {"detail": "No matching chute found!"})


# --- /v1/models -------------------------------------------------------------------------------


def test_models_list_carries_chute_and_price(fake: FakeChutes, http: httpx.Client) -> None:
    """``/v1/models`` lists each model with its chute id and price per million tokens."""
    ident = fake.add_model(MODEL, price_in=0.3, price_out=1.2)
    (model,) = gateway_models(http.get(f"{LLM}/v1/models").json())
    assert (model.id, model.chute_id) == (MODEL, ident)
    assert model.price is not None
    assert (model.price.input_usd, model.price.output_usd) == (0.3, 1.2)
    assert model.raw["pricing"] == {"prompt": 0.3, "completion": 1.2}


def test_models_list_tao_follows_pricing(fake: FakeChutes, http: httpx.Client) -> None:
    """The TAO prices are the USD ones over ``/pricing``'s ``tao_usd``."""
    fake.pricing = {**fake.pricing, "tao_usd": 200.0}
    fake.add_model(MODEL, price_in=0.4, price_out=2.0)
    (model,) = gateway_models(http.get(f"{LLM}/v1/models").json())
    assert model.price == ModelPrice(0.4, 2.0, 0.002, 0.01)


def test_models_list_model_without_price(fake: FakeChutes, http: httpx.Client) -> None:
    """A model added with no price is listed without one."""
    fake.add_model(MODEL, price_in=None)
    (model,) = gateway_models(http.get(f"{LLM}/v1/models").json())
    assert model.price is None


def test_models_list_empty_when_strict(http: httpx.Client) -> None:
    """A strict fake with no models lists none."""
    assert http.get(f"{LLM}/v1/models").json() == {"object": "list", "data": []}


def test_models_list_is_per_gateway(fake: FakeChutes, http: httpx.Client) -> None:
    """Each gateway lists the models of its kind."""
    fake.add_model(MODEL)
    fake.add_chute("chutes/bge", template="embedding")
    fake.add_model("BAAI/bge-m3", chute="chutes/bge")
    llm = [m.id for m in gateway_models(http.get(f"{LLM}/v1/models").json())]
    embed = [m.id for m in gateway_models(http.get("https://embed.chutes.ai/v1/models").json())]
    assert (llm, embed) == ([MODEL], ["BAAI/bge-m3"])


def test_models_chute_lists_its_model(fake: FakeChutes, http: httpx.Client) -> None:
    """The model's chute lists that model on its own ``/v1/models``."""
    fake.add_model(MODEL, chute="chutes/deepseek-v3")
    body = http.get("https://chutes-deepseek-v3.chutes.ai/v1/models").json()
    assert [m["id"] for m in body["data"]] == [MODEL]


# --- the client factory ---------------------------------------------------------------------


def test_client_owns_its_http_client() -> None:
    """``fake.client()`` makes a client that owns (and closes) its httpx client."""
    fake = FakeChutes(api_key="k")
    client = fake.client()
    client.close()
    assert client.is_closed


async def test_async_client_owns_its_http_client() -> None:
    """``fake.async_client()`` makes a client that closes cleanly."""
    fake = FakeChutes(api_key="k")
    client = fake.async_client()
    await client.aclose()
    assert client.is_closed


def test_client_uses_the_fakes_domain_and_api() -> None:
    """A fake on another domain gives clients that address it."""
    fake = FakeChutes(api_key="k", domain="example.test", api_url="https://api.example.test")
    fake.add_chute("me/llm")
    with fake.client() as client:
        client.chute("me/llm").chat.completions.create(model="m", messages=MESSAGES)
        client.chute(id=chute_id("me/llm")).chat.completions.create(model="m", messages=MESSAGES)
    assert [r.chute for r in fake.requests] == [
        "https://me-llm.example.test",
        f"https://api.example.test/chutes/{chute_id('me/llm')}",
    ]


# --- fault kinds ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        pytest.param(None, "capacity", id="default"),
        pytest.param("capacity", "capacity", id="capacity"),
        pytest.param("daily_limit", "daily_limit", id="daily-limit"),
        pytest.param("rate_limited", "rate_limited", id="rate-limited"),
    ],
)
def test_429_kinds_classify_as_their_reason(
    fake: FakeChutes, http: httpx.Client, kind: str | None, reason: str
) -> None:
    """Each 429 kind the fake answers is told apart by the core's ``classify_429``."""
    fake.fail_next(429, kind=kind)
    resp = chat(http)
    assert resp.status_code == 429
    assert classify_429(resp.content, resp.headers.get("content-type")) == reason


def test_rate_limited_is_an_html_page(fake: FakeChutes, http: httpx.Client) -> None:
    """The edge's 429 is an HTML page, not the platform's JSON."""
    fake.fail_next(429, kind="rate_limited")
    resp = chat(http)
    assert resp.headers["content-type"] == "text/html"
    assert b"<title>429 Too Many Requests</title>" in resp.content


def test_rate_limited_can_be_empty(fake: FakeChutes, http: httpx.Client) -> None:
    """``detail=""`` makes the edge's 429 an empty body."""
    fake.fail_next(429, kind="rate_limited", detail="")
    resp = chat(http)
    assert (resp.status_code, resp.content) == (429, b"")
    assert classify_429(resp.content, resp.headers.get("content-type")) == "rate_limited"


def test_daily_limit_detail(fake: FakeChutes, http: httpx.Client) -> None:
    """The daily-limit 429 is the platform's "Free models limit reached for today..."."""
    fake.fail_next(429, kind="daily_limit")
    assert chat(http).json()["detail"].startswith("Free models limit reached for today")


def test_402_quota_object(fake: FakeChutes) -> None:
    """The default 402 is the quota object, whose reset time the client parses."""
    fake.fail_next(402)
    with fake.client() as client, pytest.raises(chutes.PaymentRequiredError) as caught:
        client.llm.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert set(caught.value.detail) == {"message", "quota_reset_timestamp"}
    assert caught.value.quota_reset == dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)


def test_402_balance_string(fake: FakeChutes, http: httpx.Client) -> None:
    """``kind="balance"`` answers the balance text, a string detail."""
    fake.fail_next(402, kind="balance")
    assert chat(http).json()["detail"].startswith("Account balance is $")


@pytest.mark.parametrize(
    ("kind", "cold"),
    [pytest.param("cold", True, id="cold"), pytest.param("disabled", False, id="disabled")],
)
def test_503_kinds(fake: FakeChutes, http: httpx.Client, kind: str, cold: bool) -> None:
    """503 answers either the cold-start detail or the disabled one."""
    fake.add_model(MODEL)
    fake.fail_next(503, kind=kind)
    assert is_cold_start(chat(http).json()["detail"]) is cold


def test_503_cold_names_the_models_chute(fake: FakeChutes, http: httpx.Client) -> None:
    """An injected cold 503 names the chute the request was for."""
    ident = fake.add_model(MODEL)
    fake.fail_next(503)
    assert str(ident) in chat(http).json()["detail"]


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        pytest.param(429, "busy", id="unknown-429-kind"),
        pytest.param(500, "capacity", id="no-kinds-for-500"),
    ],
)
def test_fail_next_refuses_unknown_kinds(fake: FakeChutes, status: int, kind: str) -> None:
    """A kind the status does not have raises ``ValueError`` naming the known ones."""
    with pytest.raises(ValueError, match="kind"):
        fake.fail_next(status, kind=kind)


def test_faults_apply_to_the_platform_api(fake: FakeChutes, http: httpx.Client) -> None:
    """An injected fault answers the next request even when it is a platform API call."""
    fake.fail_next(500)
    assert http.get("https://api.chutes.ai/pricing").status_code == 500
    assert http.get("https://api.chutes.ai/pricing").status_code == 200

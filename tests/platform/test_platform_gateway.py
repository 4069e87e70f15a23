"""The gateway's models and prices, cost estimates, and what a 429 or 404 means."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chutes._core.errors import DecodeError, classify_429, parse_model_not_found
from chutes._core.platform import (
    GatewayModel,
    ModelPrice,
    close_model_names,
    estimate_cost_usd,
    gateway_models,
)

PAYLOADS = Path(__file__).resolve().parent.parent / "data" / "payloads"
CHUTE_ID = "154ad01c-a431-5744-83c8-651215124360"


def model_json(**changes: Any) -> dict[str, Any]:
    """A gateway ``/v1/models`` item with the platform's ``price`` and ``pricing``."""
    data: dict[str, Any] = {
        "id": "deepseek-ai/DeepSeek-V3",
        "object": "model",
        "created": 1742947200,
        "owned_by": "sglang",
        "root": "deepseek-ai/DeepSeek-V3",
        "max_model_len": 163840,
        "chute_id": CHUTE_ID,
        "price": {"input": {"usd": 0.3, "tao": 0.00075}, "output": {"usd": 1.2, "tao": 0.003}},
        "pricing": {"prompt": 0.3, "completion": 1.2},
        "confidential_compute": False,
    }
    data.update(changes)
    return data


# --- gateway models -------------------------------------------------------------------------


def test_gateway_models_read_id_chute_and_price() -> None:
    """Each item gives its id, chute id and price per million tokens."""
    (model,) = gateway_models({"object": "list", "data": [model_json()]})
    assert model == GatewayModel(
        id="deepseek-ai/DeepSeek-V3",
        chute_id=CHUTE_ID,
        price=ModelPrice(input_usd=0.3, output_usd=1.2, input_tao=0.00075, output_tao=0.003),
    )


def test_gateway_models_fall_back_to_pricing() -> None:
    """Without ``price``, the OpenRouter-style ``pricing`` gives the USD prices."""
    data = model_json()
    del data["price"]
    (model,) = gateway_models({"data": [data]})
    assert model.price == ModelPrice(input_usd=0.3, output_usd=1.2)


def test_gateway_models_without_any_price() -> None:
    """An item with neither ``price`` nor ``pricing`` has ``price`` None."""
    (model,) = gateway_models({"data": [{"id": "m"}]})
    assert (model.price, model.chute_id) == (None, None)


def test_gateway_models_keep_raw() -> None:
    """Each item's JSON is kept in ``raw``."""
    (model,) = gateway_models({"data": [model_json()]})
    assert model.raw["confidential_compute"] is False


def test_gateway_models_accept_a_bare_list() -> None:
    """A bare list of items is read like the ``data`` list."""
    assert [m.id for m in gateway_models([model_json(), model_json(id="b")])] == [
        "deepseek-ai/DeepSeek-V3",
        "b",
    ]


def test_gateway_models_read_the_recorded_payload() -> None:
    """The recorded gateway payload (``pricing`` only) decodes with prices."""
    data = json.loads((PAYLOADS / "gateway-models.json").read_text(encoding="utf-8"))
    models = gateway_models(data)
    assert [m.id for m in models] == ["deepseek-ai/DeepSeek-V3-0324", "Qwen/Qwen3-32B"]
    assert models[0].price == ModelPrice(input_usd=0.24, output_usd=0.84)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        pytest.param({"data": [{"chute_id": "x"}]}, "id", id="no-id"),
        pytest.param(
            {"data": [model_json(price={"input": {"usd": "x"}})]}, r"price\.input", id="usd"
        ),
        pytest.param({"data": [model_json(chute_id=3)]}, "chute_id", id="chute-int"),
        pytest.param({"data": "all"}, "data", id="data-str"),
        pytest.param({"data": ["m"]}, "JSON object", id="item-str"),
    ],
)
def test_gateway_models_name_the_bad_field(data: Any, field: str) -> None:
    """A bad item raises ``DecodeError`` naming the field."""
    with pytest.raises(DecodeError, match=field):
        gateway_models(data)


# --- cost -----------------------------------------------------------------------------------

PRICES = {
    "a": ModelPrice(input_usd=0.3, output_usd=1.2),
    "b": ModelPrice(input_usd=1.0, output_usd=2.0),
    "half": ModelPrice(input_usd=0.5, output_usd=None),
}


@pytest.mark.parametrize(
    ("tokens", "cost"),
    [
        pytest.param({"a": (1_000_000, 1_000_000)}, 1.5, id="one-model"),
        pytest.param({"a": (2_000_000, 0), "b": (0, 500_000)}, 0.6 + 1.0, id="two-models"),
        pytest.param({}, 0.0, id="nothing"),
        pytest.param({"unknown": (0, 0)}, 0.0, id="unused-unknown"),
        pytest.param({"half": (1_000_000, 0)}, 0.5, id="unused-side-unknown"),
    ],
)
def test_estimate_cost(tokens: dict[str, tuple[int, int]], cost: float) -> None:
    """The cost is each model's tokens times its price per million."""
    assert estimate_cost_usd(tokens, PRICES) == pytest.approx(cost)


@pytest.mark.parametrize(
    "tokens",
    [
        pytest.param({"a": (10, 10), "unknown": (1, 0)}, id="unknown-model"),
        pytest.param({"half": (10, 1)}, id="unknown-output-price"),
    ],
)
def test_estimate_cost_is_none_when_a_price_is_unknown(tokens: dict[str, tuple[int, int]]) -> None:
    """A used model without a known price makes the estimate None."""
    assert estimate_cost_usd(tokens, PRICES) is None


# --- suggestions ----------------------------------------------------------------------------

KNOWN = [
    "deepseek-ai/DeepSeek-V3-0324",
    "deepseek-ai/DeepSeek-R1",
    "Qwen/Qwen3-32B",
    "Qwen/Qwen3-235B-A22B",
    "unsloth/gemma-3-12b-it",
]


@pytest.mark.parametrize(
    ("name", "first"),
    [
        pytest.param("deepseek-ai/DeepSeek-V3", "deepseek-ai/DeepSeek-V3-0324", id="suffix"),
        pytest.param("DeepSeek-V3", "deepseek-ai/DeepSeek-V3-0324", id="no-owner"),
        pytest.param("qwen/qwen3-32b", "Qwen/Qwen3-32B", id="case"),
        pytest.param("unsloth/gemma-3-12b", "unsloth/gemma-3-12b-it", id="gemma"),
    ],
)
def test_close_model_names_best_first(name: str, first: str) -> None:
    """The closest known name comes first, in its own spelling."""
    assert close_model_names(name, KNOWN)[0] == first


def test_close_model_names_at_most_n() -> None:
    """No more than ``n`` suggestions are returned."""
    assert len(close_model_names("Qwen/Qwen3", KNOWN, n=1)) == 1


def test_close_model_names_none_when_far() -> None:
    """A name like no known one gets no suggestions."""
    assert close_model_names("zzzzzz", KNOWN) == []


def test_close_model_names_dedupes() -> None:
    """A known name listed twice is suggested once."""
    assert close_model_names("Qwen/Qwen3-32B", ["Qwen/Qwen3-32B", "Qwen/Qwen3-32B"]) == [
        "Qwen/Qwen3-32B"
    ]


# --- errors that share a status ---------------------------------------------------------------

REASONS = [
    pytest.param(
        b'{"detail": "Free models limit reached for today, upgrade or use a paid model."}',
        "application/json",
        "daily_limit",
        id="free-limit",
    ),
    pytest.param(
        b'{"detail": "Invalid free model, please use one of the free models."}',
        "application/json",
        "daily_limit",
        id="invalid-free-model",
    ),
    pytest.param(
        b'{"detail": "Infrastructure is at maximum capacity, try again later"}',
        "application/json",
        "capacity",
        id="capacity",
    ),
    pytest.param(b'{"detail": "model is under maintenance"}', None, "capacity", id="other-json"),
    pytest.param(b'{"error": "busy"}', "application/json", "capacity", id="error-key"),
    pytest.param(b"[1]", "application/json", "capacity", id="json-list"),
    pytest.param(
        b"<html><head><title>429 Too Many Requests</title></head></html>",
        "text/html",
        "rate_limited",
        id="html",
    ),
    pytest.param(b"", None, "rate_limited", id="empty"),
    pytest.param(b"   \n", "text/plain", "rate_limited", id="blank"),
    pytest.param(b"Too Many Requests", "text/plain", "rate_limited", id="plain-text"),
    pytest.param(b'{"detail": "x"}', "text/html", "rate_limited", id="declared-html"),
]


@pytest.mark.parametrize(("body", "content_type", "reason"), REASONS)
def test_classify_429(body: bytes, content_type: str | None, reason: str) -> None:
    """A 429's body tells a daily limit, the edge's rate limit and busy capacity apart."""
    assert classify_429(body, content_type) == reason


@pytest.mark.parametrize(
    ("detail", "model"),
    [
        pytest.param("model not found: deepseek-ai/DeepSeek-V3", "deepseek-ai/DeepSeek-V3", id="x"),
        pytest.param("model not found:   spaced  ", "spaced", id="spaces"),
        pytest.param({"message": "model not found: m"}, "m", id="object"),
        pytest.param("model not found: ", None, id="empty-name"),
        pytest.param("No matching chute found!", None, id="other-404"),
        pytest.param("Model not found: X", None, id="other-case"),
    ],
)
def test_parse_model_not_found(detail: Any, model: str | None) -> None:
    """The model name is read from the gateway's ``model not found: X`` only."""
    assert parse_model_not_found(detail) == model

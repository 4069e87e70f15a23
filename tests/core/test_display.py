"""How values are shown to people (``chutes._core.display`` and the price, status and cord
rows of ``chutes._core.platform``): pure text, tested without I/O."""

from __future__ import annotations

from typing import Any

import pytest

from chutes._core.display import (
    BodyField,
    body_fields,
    markdown_cell,
    markdown_table,
    text_table,
    type_text,
    usd,
)
from chutes._core.platform import Amount, ChuteInfo, Cord, Instance, Price, cord_rows, price_text
from chutes._core.platform import status_text as status_of


@pytest.mark.parametrize(
    ("prop", "shown"),
    [
        pytest.param({"type": "string"}, "string", id="plain"),
        pytest.param(
            {"type": "array", "items": {"type": "integer"}}, "array of integer", id="array"
        ),
        pytest.param({"type": "array"}, "array", id="array-of-anything"),
        pytest.param({"type": ["string", "null"]}, "string | null", id="type-list"),
        pytest.param(
            {"anyOf": [{"type": "integer"}, {"type": "null"}]}, "integer | null", id="any-of"
        ),
        pytest.param({"enum": ["af", "bf"]}, '"af" | "bf"', id="enum"),
        pytest.param({"enum": list(range(8))}, "0 | 1 | 2 | 3 | 4 | 5 | ...", id="long-enum"),
        pytest.param({"$ref": "#/definitions/Voice"}, "Voice", id="unresolved-ref"),
        pytest.param({"properties": {"a": {}}}, "object", id="object"),
        pytest.param({}, "any", id="no-type"),
        pytest.param("nonsense", "any", id="not-a-schema"),
    ],
)
def test_type_text(prop: Any, shown: str) -> None:
    """A property's type reads as a few words."""
    assert type_text(prop) == shown


def test_type_text_is_bounded_in_depth() -> None:
    """A deeply nested array type is cut after a few levels, not followed forever."""
    prop: dict[str, Any] = {"type": "string"}
    for _ in range(50):
        prop = {"type": "array", "items": prop}
    assert type_text(prop).endswith("array of ...")


def test_body_fields_in_schema_order_with_required_and_defaults() -> None:
    """Each property is a field: its type, whether required, its default as JSON."""
    schema = {
        "properties": {
            "text": {"type": "string"},
            "voice": {"type": "string", "default": "af"},
            "speed": {"type": "number", "default": 1.0},
            "x" * 3: {"type": "string", "default": "y" * 100},
        },
        "required": ["text"],
    }
    fields = body_fields(schema)
    assert fields[:3] == [
        BodyField("text", "string", True, None),
        BodyField("voice", "string", False, '"af"'),
        BodyField("speed", "number", False, "1.0"),
    ]
    assert len(fields[3].default or "") == 40
    assert [f.text() for f in fields[:2]] == ["text: string (required)", 'voice: string = "af"']


@pytest.mark.parametrize("schema", [None, {}, {"properties": "no"}, {"type": "object"}])
def test_no_schema_no_fields(schema: Any) -> None:
    """No schema, or one without properties, has no fields."""
    assert body_fields(schema) == []


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0, "$0.00"),
        (0.3, "$0.30"),
        (1234.5, "$1,234.50"),
        (0.000416, "$0.000416"),
        (0.0000207, "$0.000021"),
        (0.002, "$0.002"),
        (1e-9, "<$0.000001"),
        (-0.005, "-$0.005"),
    ],
)
def test_usd(value: float, shown: str) -> None:
    """Dollars show cents, and small amounts up to six decimals, never an exponent."""
    assert usd(value) == shown


def test_text_table_aligns_columns_without_trailing_spaces() -> None:
    """Columns line up under upper-case headers; a cell's newlines become spaces."""
    table = text_table(("a", "long header"), [("x", "1"), ("longer\ncell", "")])
    assert table.splitlines() == ["A            LONG HEADER", "x            1", "longer cell"]


def test_markdown_cells_are_escaped() -> None:
    """HTML and the ``|`` that would split a cell are escaped; newlines joined."""
    assert markdown_cell("<b>a|b</b>\nc & d") == "&lt;b&gt;a\\|b&lt;/b&gt; c &amp; d"


def test_markdown_table() -> None:
    """A header row, a rule, then one row per item."""
    assert markdown_table(("a", "b"), [("1", "x|y")]) == "| a | b |\n|---|---|\n| 1 | x\\|y |"


# --- prices, status and cords ---------------------------------------------------------------


def test_price_text_of_an_llm() -> None:
    """Per-million token prices, then the hourly price."""
    price = Price(
        per_million_input=Amount(usd=0.3),
        per_million_output=Amount(usd=1.2),
        hourly_min=Amount(usd=1.5),
        hourly_max=Amount(usd=1.5),
    )
    assert price_text(price) == "$0.30/M input tokens, $1.20/M output tokens, $1.50/hour"


def test_price_text_of_a_range_and_steps() -> None:
    """A per-step price and an hourly range."""
    price = Price(per_step=Amount(usd=0.002), hourly_min=Amount(usd=1), hourly_max=Amount(usd=3))
    assert price_text(price) == "$0.002/step, $1.00 to $3.00/hour"


def test_price_text_when_unknown() -> None:
    """No price (or one only in TAO): said so."""
    assert price_text(Price(per_request=Amount(tao=0.1))) == "price unknown"


@pytest.mark.parametrize(
    ("hot", "count", "shown"),
    [(True, 2, "hot, 2 instances"), (True, 1, "hot, 1 instance"), (False, 0, "cold, no instances")],
)
def test_status_text(hot: bool, count: int, shown: str) -> None:
    """Hot or cold, and how many instances."""
    info = ChuteInfo(
        chute_id="c", name="n", hot=hot, instances=[Instance(f"i{n}") for n in range(count)]
    )
    assert status_of(info) == shown


def test_cord_rows() -> None:
    """One row per cord: method, path, streams, answer type, body fields (``-`` if none)."""
    speak = Cord(
        method="POST",
        path="/speak",
        output_content_type="audio/wav",
        body_schema={"properties": {"text": {"type": "string"}}, "required": ["text"]},
    )
    chat = Cord(method="POST", path="/v1/chat/completions", stream=True)
    info = ChuteInfo(chute_id="c", name="n", cords=[speak, chat])
    assert cord_rows(info) == [
        ("POST", "/speak", "no", "audio/wav", "text: string (required)"),
        ("POST", "/v1/chat/completions", "yes", "-", "-"),
    ]

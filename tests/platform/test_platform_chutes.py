"""Chute records from the platform API: info, cords and their body schemas, prices, pages."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from chutes._core.errors import ConfigurationError, DecodeError
from chutes._core.platform import (
    Amount,
    ChuteInfo,
    ChutePage,
    Cord,
    Instance,
    Price,
    body_schema,
    chute_info,
    chute_list_params,
    chute_page,
    price,
)

CHUTE_ID = "5b1d0c2e-aaaa-4bbb-8ccc-ddddeeeeffff"

LLM_CORDS: list[dict[str, Any]] = [
    {
        "method": "POST",
        "path": "/chat_stream",
        "function": "chat_stream",
        "stream": True,
        "passthrough": True,
        "public_api_path": "/v1/chat/completions",
        "public_api_method": "POST",
        "input_schema": {},
        "minimal_input_schema": {},
        "output_schema": {},
        "output_content_type": None,
    },
    {
        "method": "POST",
        "path": "/chat",
        "function": "chat",
        "stream": False,
        "passthrough": True,
        "public_api_path": "/v1/chat/completions",
        "public_api_method": "POST",
        "input_schema": {},
        "output_content_type": None,
    },
]

SPEAK_SCHEMA: dict[str, Any] = {
    "title": "speakArgs",
    "type": "object",
    "properties": {"input_args": {"$ref": "#/definitions/InputArgs"}},
    "required": ["input_args"],
    "definitions": {
        "InputArgs": {
            "title": "InputArgs",
            "type": "object",
            "properties": {
                "text": {"type": "string"},
                "voice": {"$ref": "#/definitions/Voice"},
                "speed": {"type": "number", "default": 1.0},
            },
            "required": ["text"],
        },
        "Voice": {"title": "Voice", "enum": ["af", "am"], "type": "string"},
    },
}

SPEAK_BODY = {
    "title": "InputArgs",
    "type": "object",
    "properties": {
        "text": {"type": "string"},
        "voice": {"title": "Voice", "enum": ["af", "am"], "type": "string"},
        "speed": {"type": "number", "default": 1.0},
    },
    "required": ["text"],
}


def chute_json(**changes: Any) -> dict[str, Any]:
    """A chute as ``GET /chutes/{id}`` answers it (PLATFORM.md's fields)."""
    data: dict[str, Any] = {
        "chute_id": CHUTE_ID,
        "name": "my-llm",
        "tagline": "",
        "slug": "myuser-my-llm",
        "standard_template": "vllm",
        "public": True,
        "tee": False,
        "user": {"username": "myuser", "user_id": "u-1", "logo": None},
        "concurrency": 16,
        "max_instances": 4,
        "shutdown_after_seconds": 300,
        "bounty": None,
        "instances": [
            {
                "instance_id": "i-1",
                "region": "us",
                "active": True,
                "verified": True,
                "last_verified_at": "2025-01-01T00:00:00Z",
            }
        ],
        "hot": True,
        "current_estimated_price": {
            "per_million_tokens": {
                "input": {"usd": 0.3, "tao": 0.00075},
                "output": {"usd": 1.2, "tao": 0.003},
            },
            "usd": {"hour": 2.0, "second": 2.0 / 3600},
            "tao": {"hour": 0.005, "second": 0.005 / 3600},
        },
        "cords": copy.deepcopy(LLM_CORDS),
        "invocation_count": 7,
    }
    data.update(changes)
    return data


# --- chute_info -----------------------------------------------------------------------------


def test_chute_info_reads_identity() -> None:
    """Id, name, slug, owner and template come from the record."""
    info = chute_info(chute_json())
    assert (info.chute_id, info.name, info.slug, info.owner, info.template) == (
        CHUTE_ID,
        "my-llm",
        "myuser-my-llm",
        "myuser",
        "vllm",
    )


def test_chute_info_full_name_joins_owner() -> None:
    """``full_name`` is ``owner/name``, the form ``chute_id`` takes."""
    assert chute_info(chute_json()).full_name == "myuser/my-llm"


def test_chute_info_reads_flags_and_scaling() -> None:
    """Public, tee, hot, concurrency and max_instances are read as typed values."""
    info = chute_info(chute_json(tee=True))
    assert (info.public, info.tee, info.hot, info.concurrency, info.max_instances) == (
        True,
        True,
        True,
        16,
        4,
    )


def test_chute_info_reads_instances() -> None:
    """Instances become ``Instance`` values."""
    (instance,) = chute_info(chute_json()).instances
    assert instance == Instance(
        instance_id="i-1",
        active=True,
        verified=True,
        region="us",
        last_verified_at="2025-01-01T00:00:00Z",
    )


def test_chute_info_keeps_raw() -> None:
    """The server's JSON is kept in ``raw``, unknown fields included."""
    data = chute_json(surprise={"new": 1})
    assert chute_info(data).raw["surprise"] == {"new": 1}


def test_chute_info_ignores_unknown_fields() -> None:
    """Unknown fields never fail decoding."""
    assert chute_info(chute_json(brand_new=[1, 2], logo="x")).name == "my-llm"


@pytest.mark.parametrize(
    ("instances", "hot"),
    [
        pytest.param([{"instance_id": "a", "active": True, "verified": True}], True, id="hot"),
        pytest.param([{"instance_id": "a", "active": True, "verified": False}], False, id="unv"),
        pytest.param([{"instance_id": "a", "active": False, "verified": True}], False, id="inact"),
        pytest.param([], False, id="none"),
    ],
)
def test_chute_info_hot_follows_instances_when_not_sent(
    instances: list[dict[str, Any]], hot: bool
) -> None:
    """Without ``hot``, a chute is hot when any instance is active and verified."""
    data = chute_json(instances=instances)
    del data["hot"]
    assert chute_info(data).hot is hot


def test_chute_info_prefers_the_platforms_hot() -> None:
    """A sent ``hot`` wins over the instances."""
    assert chute_info(chute_json(hot=False)).hot is False


def test_chute_info_minimal_record() -> None:
    """A record with only id and name decodes, everything else defaulted."""
    info = chute_info({"chute_id": CHUTE_ID, "name": "x"})
    assert info == ChuteInfo(chute_id=CHUTE_ID, name="x")
    assert info.price == Price()


def test_chute_info_nulls_are_absent() -> None:
    """``null`` fields (cords, price, user, instances) decode as absent."""
    info = chute_info(
        chute_json(cords=None, current_estimated_price=None, user=None, instances=None, slug=None)
    )
    assert (info.cords, info.price, info.owner, info.instances, info.slug) == (
        [],
        Price(),
        None,
        [],
        None,
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"chute_id": None}, "chute_id", id="missing-id"),
        pytest.param({"name": 3}, "name", id="name-int"),
        pytest.param({"public": "yes"}, "public", id="public-str"),
        pytest.param({"hot": "true"}, "hot", id="hot-str"),
        pytest.param({"concurrency": "16"}, "concurrency", id="concurrency-str"),
        pytest.param({"cords": {"a": 1}}, "cords", id="cords-object"),
        pytest.param({"instances": [{"active": True}]}, "instance_id", id="instance-no-id"),
        pytest.param({"instances": [{"instance_id": 5}]}, "instance_id", id="instance-id-int"),
        pytest.param({"user": "me"}, "user", id="user-str"),
    ],
)
def test_chute_info_names_the_bad_field(changes: dict[str, Any], field: str) -> None:
    """A missing or mistyped field raises ``DecodeError`` naming it."""
    with pytest.raises(DecodeError, match=field):
        chute_info(chute_json(**changes))


@pytest.mark.parametrize(
    "data",
    [
        pytest.param([], id="list"),
        pytest.param("chute", id="str"),
        pytest.param(None, id="null"),
    ],
)
def test_chute_info_refuses_non_objects(data: Any) -> None:
    """Anything but a JSON object raises ``DecodeError``."""
    with pytest.raises(DecodeError, match="JSON object"):
        chute_info(data)


def test_decode_error_carries_the_json() -> None:
    """The ``DecodeError`` carries the offending JSON as its body."""
    with pytest.raises(DecodeError) as caught:
        chute_info({"chute_id": 1, "name": "x"})
    assert b'"chute_id": 1' in caught.value.body


# --- cords ----------------------------------------------------------------------------------


def test_llm_cords_use_the_public_path() -> None:
    """LLM cords are sent to their ``public_api_path``, not their internal path."""
    cords = chute_info(chute_json()).cords
    assert [(c.method, c.path, c.stream) for c in cords] == [
        ("POST", "/v1/chat/completions", True),
        ("POST", "/v1/chat/completions", False),
    ]


def test_cord_keeps_internal_path_in_raw() -> None:
    """The internal path and function stay available."""
    cord = chute_info(chute_json()).cords[0]
    assert (cord.raw["path"], cord.function, cord.passthrough) == (
        "/chat_stream",
        "chat_stream",
        True,
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            {"method": "POST", "path": "/speak", "function": "speak", "stream": False},
            ("POST", "/speak"),
            id="plain",
        ),
        pytest.param(
            {"method": "post", "path": "/x", "public_api_method": None, "public_api_path": None},
            ("POST", "/x"),
            id="null-public-lower-method",
        ),
        pytest.param(
            {"method": "POST", "path": "/x", "public_api_method": "GET", "public_api_path": "/y"},
            ("GET", "/y"),
            id="public-wins",
        ),
    ],
)
def test_cord_method_and_path_are_what_a_caller_sends(
    raw: dict[str, Any], expected: tuple[str, str]
) -> None:
    """A cord's method and path are the public ones when given, else its own."""
    (cord,) = chute_info(chute_json(cords=[raw])).cords
    assert (cord.method, cord.path) == expected


def test_cord_output_content_type() -> None:
    """The declared output content type is read."""
    raw = {"method": "POST", "path": "/speak", "output_content_type": "audio/wav"}
    assert chute_info(chute_json(cords=[raw])).cords[0].output_content_type == "audio/wav"


def test_cord_body_schema_is_flat() -> None:
    """A cord's ``body_schema`` is the unwrapped, resolved body model."""
    raw = {"method": "POST", "path": "/speak", "input_schema": SPEAK_SCHEMA}
    cord = chute_info(chute_json(cords=[raw])).cords[0]
    assert cord.body_schema == SPEAK_BODY
    assert cord.input_schema == SPEAK_SCHEMA


def test_cord_without_schema_has_no_body_schema() -> None:
    """An empty or missing input schema gives ``body_schema`` None."""
    assert [c.body_schema for c in chute_info(chute_json()).cords] == [None, None]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        pytest.param({"path": "/x"}, "method", id="no-method"),
        pytest.param({"method": "POST"}, "path", id="no-path"),
        pytest.param({"method": "POST", "path": "/x", "stream": "no"}, "stream", id="stream-str"),
        pytest.param("/x", "cords", id="not-object"),
    ],
)
def test_bad_cord_names_the_field(raw: Any, field: str) -> None:
    """A cord without method or path, or with a mistyped field, names the field."""
    with pytest.raises(DecodeError, match=field):
        chute_info(chute_json(cords=[raw]))


# --- body_schema ----------------------------------------------------------------------------


def test_body_schema_unwraps_input_args() -> None:
    """The ``input_args`` wrapper is removed and its ``$ref`` resolved."""
    assert body_schema(SPEAK_SCHEMA) == SPEAK_BODY


def test_body_schema_reads_defs() -> None:
    """Pydantic v2's ``$defs`` resolve like ``definitions``."""
    schema = {
        "properties": {"input_args": {"$ref": "#/$defs/M"}},
        "$defs": {"M": {"type": "object", "properties": {"n": {"type": "integer"}}}},
    }
    assert body_schema(schema) == {"type": "object", "properties": {"n": {"type": "integer"}}}


def test_body_schema_of_flat_schema_is_itself() -> None:
    """A schema without the wrapper is the body schema already."""
    flat = {"type": "object", "properties": {"prompt": {"type": "string"}}}
    assert body_schema(flat) == flat


def test_body_schema_resolves_refs_in_lists() -> None:
    """``$ref`` inside ``anyOf`` lists and nested items are resolved."""
    schema = {
        "properties": {"input_args": {"$ref": "#/definitions/M"}},
        "definitions": {
            "M": {"properties": {"x": {"anyOf": [{"$ref": "#/definitions/N"}, {"type": "null"}]}}},
            "N": {"type": "integer"},
        },
    }
    resolved = body_schema(schema)
    assert resolved is not None
    assert resolved["properties"]["x"]["anyOf"] == [{"type": "integer"}, {"type": "null"}]


def test_body_schema_keeps_sibling_keys_of_a_ref() -> None:
    """Keys next to a ``$ref`` (a description, a default) are kept over the expansion."""
    schema = {
        "properties": {"input_args": {"$ref": "#/definitions/M"}},
        "definitions": {
            "M": {"properties": {"v": {"$ref": "#/definitions/V", "default": "af"}}},
            "V": {"enum": ["af", "am"]},
        },
    }
    resolved = body_schema(schema)
    assert resolved is not None
    assert resolved["properties"]["v"] == {"enum": ["af", "am"], "default": "af"}


def test_body_schema_guards_cycles() -> None:
    """A recursive model keeps its inner ``$ref`` instead of expanding forever."""
    schema = {
        "properties": {"input_args": {"$ref": "#/definitions/Node"}},
        "definitions": {
            "Node": {
                "type": "object",
                "properties": {"child": {"$ref": "#/definitions/Node"}},
            }
        },
    }
    assert body_schema(schema) == {
        "type": "object",
        "properties": {"child": {"$ref": "#/definitions/Node"}},
    }


def test_body_schema_guards_mutual_cycles() -> None:
    """Two models referring to each other stop at the first repeat."""
    schema = {
        "properties": {"input_args": {"$ref": "#/definitions/A"}},
        "definitions": {
            "A": {"properties": {"b": {"$ref": "#/definitions/B"}}},
            "B": {"properties": {"a": {"$ref": "#/definitions/A"}}},
        },
    }
    assert body_schema(schema) == {
        "properties": {"b": {"properties": {"a": {"$ref": "#/definitions/A"}}}}
    }


def test_body_schema_bounds_deep_chains() -> None:
    """A very long chain of distinct refs stops expanding (the result stays finite)."""
    definitions = {
        f"D{i}": {"properties": {"n": {"$ref": f"#/definitions/D{i + 1}"}}} for i in range(100)
    }
    schema = {
        "properties": {"input_args": {"$ref": "#/definitions/D0"}},
        "definitions": definitions,
    }
    resolved = body_schema(schema)
    depth = 0
    node: Any = resolved
    while isinstance(node, dict) and "properties" in node:
        node = node["properties"]["n"]
        depth += 1
    assert 0 < depth < 100
    assert "$ref" in node


def test_body_schema_bounds_shared_submodels() -> None:
    """Models that use the next one twice (doubling per level) stop at the expansion budget."""
    definitions = {
        f"D{i}": {
            "properties": {
                "a": {"$ref": f"#/definitions/D{i + 1}"},
                "b": {"$ref": f"#/definitions/D{i + 1}"},
            }
        }
        for i in range(30)
    }
    definitions["D30"] = {"type": "integer"}
    schema = {
        "properties": {"input_args": {"$ref": "#/definitions/D0"}},
        "definitions": definitions,
    }
    resolved = body_schema(schema)
    assert resolved is not None
    assert len(json.dumps(resolved)) < 1_000_000
    assert '"$ref"' in json.dumps(resolved)


def test_body_schema_leaves_unknown_refs() -> None:
    """A ``$ref`` to a missing or remote definition stays as it is."""
    schema = {
        "properties": {
            "x": {"$ref": "https://example.com/s.json"},
            "y": {"$ref": "#/definitions/Z"},
        }
    }
    assert body_schema(schema) == schema


@pytest.mark.parametrize(
    "schema",
    [pytest.param(None, id="none"), pytest.param({}, id="empty")],
)
def test_body_schema_of_nothing_is_none(schema: Any) -> None:
    """No schema gives ``None``."""
    assert body_schema(schema) is None


def test_body_schema_does_not_change_its_input() -> None:
    """Resolving leaves the platform's schema untouched."""
    schema = copy.deepcopy(SPEAK_SCHEMA)
    body_schema(schema)
    assert schema == SPEAK_SCHEMA


# --- price ----------------------------------------------------------------------------------

PRICES = [
    pytest.param(
        {"per_million_tokens": {"input": {"usd": 0.3, "tao": 0.1}, "output": {"usd": 1.2}}},
        Price(per_million_input=Amount(0.3, 0.1), per_million_output=Amount(1.2, None)),
        id="llm",
    ),
    pytest.param(
        {"per_step": {"usd": 0.0005, "tao": 0.000001}},
        Price(per_step=Amount(0.0005, 0.000001)),
        id="diffusion",
    ),
    pytest.param({"per_request": {"usd": 0.01}}, Price(per_request=Amount(0.01, None)), id="req"),
    pytest.param(
        {"usd": {"hour": 2.0, "second": 0.0005}, "tao": {"hour": 0.01, "second": 0.000003}},
        Price(hourly_min=Amount(2.0, 0.01), hourly_max=Amount(2.0, 0.01)),
        id="legacy-hourly",
    ),
    pytest.param(
        {"hourly_price_range": {"usd": {"min": 1.0, "max": 3.0}, "tao": {"min": 0.1, "max": 0.3}}},
        Price(hourly_min=Amount(1.0, 0.1), hourly_max=Amount(3.0, 0.3)),
        id="range-by-currency",
    ),
    pytest.param(
        {"hourly_price_range": {"usd": [1.0, 3.0]}},
        Price(hourly_min=Amount(1.0, None), hourly_max=Amount(3.0, None)),
        id="range-list",
    ),
    pytest.param(
        {"hourly_price_range": {"min": {"usd": 1.0, "tao": 0.1}, "max": {"usd": 3.0}}},
        Price(hourly_min=Amount(1.0, 0.1), hourly_max=Amount(3.0, None)),
        id="range-by-end",
    ),
    pytest.param({}, Price(), id="empty"),
    pytest.param(None, Price(), id="null"),
    pytest.param({"per_request": 0.02}, Price(per_request=Amount(0.02, None)), id="bare-number"),
]


@pytest.mark.parametrize(("data", "expected"), PRICES)
def test_price_normalises_each_shape(data: Any, expected: Price) -> None:
    """Every price shape the platform sends becomes the same ``Price`` fields."""
    assert price(data) == expected


def test_price_keeps_raw() -> None:
    """The price's JSON is kept in ``raw``."""
    data = {"per_step": {"usd": 1.0}, "other": True}
    assert price(data).raw == data


@pytest.mark.parametrize(
    ("data", "field"),
    [
        pytest.param({"per_step": {"usd": "cheap"}}, "per_step.usd", id="usd-str"),
        pytest.param({"per_million_tokens": {"input": "x"}}, "per_million_tokens.input", id="in"),
        pytest.param({"per_million_tokens": [1]}, "per_million_tokens", id="tokens-list"),
    ],
)
def test_bad_price_names_the_field(data: Any, field: str) -> None:
    """A price that is not a number raises ``DecodeError`` naming the field."""
    with pytest.raises(DecodeError, match=field.replace(".", r"\.")):
        price(data)


def test_chute_info_price_is_normalised() -> None:
    """A chute's ``price`` is its normalised ``current_estimated_price``."""
    info = chute_info(chute_json())
    assert info.price.per_million_input == Amount(0.3, 0.00075)
    assert info.price.hourly_min == Amount(2.0, 0.005)


# --- pages ----------------------------------------------------------------------------------


def page_json() -> dict[str, Any]:
    """A ``GET /chutes/`` page: two items sharing one cord ref, one with its own."""
    first = chute_json(cords=None, cord_ref_id="ref-llm")
    second = chute_json(
        chute_id="b" * 8 + CHUTE_ID[8:], name="other", cords=None, cord_ref_id="ref-llm"
    )
    third = chute_json(
        chute_id="c" * 8 + CHUTE_ID[8:], name="tts", cords=None, cord_ref_id="ref-tts"
    )
    return {
        "total": 7,
        "page": 1,
        "limit": 3,
        "items": [first, second, third],
        "cord_refs": {
            "ref-llm": copy.deepcopy(LLM_CORDS),
            "ref-tts": [{"method": "POST", "path": "/speak", "function": "speak", "stream": False}],
        },
    }


def test_chute_page_joins_cords_from_refs() -> None:
    """Each item's cords are ``cord_refs[cord_ref_id]``."""
    items = chute_page(page_json()).items
    assert [[c.path for c in item.cords] for item in items] == [
        ["/v1/chat/completions", "/v1/chat/completions"],
        ["/v1/chat/completions", "/v1/chat/completions"],
        ["/speak"],
    ]


def test_chute_page_reads_paging() -> None:
    """Total, page and limit are read from the page."""
    page = chute_page(page_json())
    assert isinstance(page, ChutePage)
    assert (page.total, page.page, page.limit, len(page.items)) == (7, 1, 3, 3)


def test_chute_page_unpacks_as_a_tuple() -> None:
    """A page unpacks as ``(items, total, page, limit)``."""
    items, total, page, limit = chute_page(page_json())
    assert (len(items), total, page, limit) == (3, 7, 1, 3)


@pytest.mark.parametrize(
    ("total", "page", "limit", "more"),
    [
        pytest.param(7, 1, 3, True, id="middle"),
        pytest.param(7, 2, 3, False, id="last"),
        pytest.param(6, 1, 3, False, id="exact"),
        pytest.param(0, 0, 25, False, id="empty"),
        pytest.param(5, 0, 0, False, id="zero-limit"),
    ],
)
def test_chute_page_has_more(total: int, page: int, limit: int, more: bool) -> None:
    """``has_more`` says whether a later page holds more chutes."""
    assert ChutePage([], total, page, limit).has_more is more


def test_chute_page_missing_ref_names_it() -> None:
    """A ``cord_ref_id`` missing from ``cord_refs`` raises ``DecodeError`` naming it."""
    data = page_json()
    del data["cord_refs"]["ref-tts"]
    with pytest.raises(DecodeError, match=r"items\[2\]\.cord_ref_id"):
        chute_page(data)


def test_chute_page_item_with_own_cords_keeps_them() -> None:
    """An item that carries its own cords keeps them."""
    data = {"items": [chute_json()], "cord_refs": {}}
    assert len(chute_page(data).items[0].cords) == 2


def test_chute_page_defaults_paging_to_the_page() -> None:
    """Without paging numbers, the page describes itself alone."""
    page = chute_page({"items": [chute_json()]})
    assert (page.total, page.page, page.limit) == (1, 0, 1)


def test_chute_page_bad_item_names_the_field() -> None:
    """A bad item raises ``DecodeError`` naming its field."""
    data = page_json()
    data["items"][1]["public"] = "yes"
    with pytest.raises(DecodeError, match="public"):
        chute_page(data)


# --- list parameters --------------------------------------------------------------------------


def test_chute_list_params_leave_out_unset() -> None:
    """Only the options given become parameters."""
    assert chute_list_params() == {}


def test_chute_list_params_format_values() -> None:
    """Booleans are ``true``/``false`` and numbers are text."""
    params = chute_list_params(
        include_public=True, name="qwen", template="vllm", page=2, limit=50, include_schemas=False
    )
    assert params == {
        "include_public": "true",
        "name": "qwen",
        "template": "vllm",
        "page": "2",
        "limit": "50",
        "include_schemas": "false",
    }


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"limit": 0}, id="limit-0"),
        pytest.param({"limit": 5001}, id="limit-5001"),
        pytest.param({"limit": True}, id="limit-bool"),
        pytest.param({"page": -1}, id="page-negative"),
        pytest.param({"page": 1.5}, id="page-float"),
    ],
)
def test_chute_list_params_refuse_bad_paging(options: dict[str, Any]) -> None:
    """A limit outside 1..5000 or a negative page raises ``ConfigurationError``."""
    with pytest.raises(ConfigurationError):
        chute_list_params(**options)


def test_cord_is_a_frozen_value() -> None:
    """Cords are frozen values that compare by content."""
    assert Cord("POST", "/x") == Cord("POST", "/x")
    with pytest.raises(AttributeError):
        Cord("POST", "/x").path = "/y"  # type: ignore[misc]

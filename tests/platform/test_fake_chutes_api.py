"""The fake's platform API for chutes: one chute, the paged list, and the chutes it serves."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import chutes
from chutes._core.platform import ChuteInfo, chute_id, chute_info, chute_page
from chutes.testing import FakeChutes

API = "https://api.chutes.ai"

SPEAK_SCHEMA = {
    "type": "object",
    "properties": {"text": {"type": "string"}, "voice": {"type": "string", "default": "af"}},
    "required": ["text"],
}
TTS_CORDS: list[Any] = [
    {"path": "/speak", "input_schema": SPEAK_SCHEMA, "output_content_type": "audio/wav"},
    {"method": "GET", "path": "/voices"},
]


def get_info(http: httpx.Client, ident: str) -> ChuteInfo:
    """``GET /chutes/{ident}``, decoded by the core's ``chute_info``."""
    resp = http.get(f"{API}/chutes/{ident}")
    assert resp.status_code == 200, resp.text
    return chute_info(resp.json())


# --- one chute ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ident",
    [
        pytest.param(chute_id("myuser/my-llm"), id="id"),
        pytest.param("myuser/my-llm", id="full-name"),
        pytest.param("MyUser/My-LLM", id="full-name-any-case"),
        pytest.param("my-llm", id="bare-name"),
    ],
)
def test_get_chute_by_id_or_name(fake: FakeChutes, http: httpx.Client, ident: str) -> None:
    """A chute is found by its id, its ``user/name`` or its bare name."""
    fake.add_chute("myuser/my-llm")
    assert get_info(http, ident).chute_id == chute_id("myuser/my-llm")


def test_get_chute_fields(fake: FakeChutes, http: httpx.Client) -> None:
    """The record carries name, owner, slug, template, flags and scaling as given."""
    fake.add_chute("myuser/my-llm", tee=True, concurrency=8, max_instances=3)
    info = get_info(http, "myuser/my-llm")
    assert (info.name, info.owner, info.slug, info.template, info.tee, info.public) == (
        "my-llm",
        "myuser",
        "myuser-my-llm",
        "vllm",
        True,
        True,
    )
    assert (info.concurrency, info.max_instances) == (8, 3)


def test_get_chute_llm_cords_by_default(fake: FakeChutes, http: httpx.Client) -> None:
    """A ``vllm`` chute has the two chat cords (streamed and not) at the public path."""
    fake.add_chute("myuser/my-llm")
    chat = [c for c in get_info(http, "myuser/my-llm").cords if c.path == "/v1/chat/completions"]
    assert sorted((c.method, c.stream) for c in chat) == [("POST", False), ("POST", True)]
    assert {c.raw["path"] for c in chat} == {"/chat", "/chat_stream"}


def test_get_chute_custom_cords_and_body_schema(fake: FakeChutes, http: httpx.Client) -> None:
    """Given cords are served back in the platform's form; the body schema round-trips flat."""
    fake.add_chute("myuser/tts", template=None, cords=TTS_CORDS)
    speak, voices = get_info(http, "myuser/tts").cords
    assert (speak.method, speak.path, speak.output_content_type) == ("POST", "/speak", "audio/wav")
    assert speak.input_schema is not None
    assert "input_args" in speak.input_schema["properties"]
    assert speak.body_schema == SPEAK_SCHEMA
    assert (voices.method, voices.path, voices.body_schema) == ("GET", "/voices", None)


def test_get_chute_hot_with_instances(fake: FakeChutes, http: httpx.Client) -> None:
    """A hot chute lists its instances, all active and verified."""
    fake.add_chute("myuser/my-llm", instances=3)
    info = get_info(http, "myuser/my-llm")
    assert info.hot is True
    assert len(info.instances) == 3
    assert all(i.active and i.verified for i in info.instances)


def test_get_chute_cold_has_no_instances(fake: FakeChutes, http: httpx.Client) -> None:
    """A cold chute is not hot and lists no instances."""
    fake.add_chute("myuser/my-llm", hot=False)
    info = get_info(http, "myuser/my-llm")
    assert (info.hot, info.instances) == (False, [])


@pytest.mark.parametrize(
    ("template", "field"),
    [
        pytest.param("vllm", "per_million_input", id="llm"),
        pytest.param("diffusion", "per_step", id="diffusion"),
    ],
)
def test_get_chute_price_per_template(
    fake: FakeChutes, http: httpx.Client, template: str, field: str
) -> None:
    """The price is the template's kind, in USD and TAO, plus the hourly price."""
    fake.add_chute("myuser/x", template=template)
    price = get_info(http, "myuser/x").price
    amount = getattr(price, field)
    assert amount.usd > 0
    assert amount.tao > 0
    assert price.hourly_min is not None


def test_get_chute_given_price(fake: FakeChutes, http: httpx.Client) -> None:
    """A price given to ``add_chute`` is what the API answers."""
    fake.add_chute("myuser/x", price={"per_request": {"usd": 0.02, "tao": 0.0001}})
    assert get_info(http, "myuser/x").price.per_request == chutes_amount(0.02, 0.0001)


def chutes_amount(usd: float, tao: float) -> Any:
    """An ``Amount`` (imported here so the table above stays short)."""
    from chutes._core.platform import Amount

    return Amount(usd, tao)


def test_get_public_chute_needs_no_key(fake: FakeChutes, anon: httpx.Client) -> None:
    """A public chute is answered without a key."""
    fake.add_chute("other/public-llm")
    assert anon.get(f"{API}/chutes/other/public-llm").status_code == 200


@pytest.mark.parametrize(
    "ident",
    [pytest.param("other/secret", id="name"), pytest.param(chute_id("other/secret"), id="id")],
)
def test_private_chute_is_not_found_without_key(
    fake: FakeChutes, anon: httpx.Client, ident: str
) -> None:
    """A private chute answers 404 "Chute not found, or does not belong to you" to no key."""
    fake.add_chute("other/secret", public=False)
    resp = anon.get(f"{API}/chutes/{ident}")
    assert (resp.status_code, resp.json()) == (
        404,
        {"detail": "Chute not found, or does not belong to you"},
    )


def test_private_chute_of_someone_else_is_not_found(fake: FakeChutes, http: httpx.Client) -> None:
    """Another user's private chute answers 404 to the account's key, like a missing one."""
    fake.add_chute("other/secret", public=False)
    assert http.get(f"{API}/chutes/other/secret").status_code == 404


@pytest.mark.parametrize(
    "options",
    [pytest.param({}, id="own"), pytest.param({"shared": True}, id="shared")],
)
def test_private_chute_seen_by_owner_or_shared_key(
    fake: FakeChutes, http: httpx.Client, options: dict[str, Any]
) -> None:
    """A private chute is answered to its owner's key, or to a key it is shared with."""
    owner = "myuser" if not options else "other"
    fake.add_chute(f"{owner}/secret", public=False, **options)
    assert get_info(http, f"{owner}/secret").public is False


def test_missing_chute_is_not_found(http: httpx.Client) -> None:
    """A chute nobody added answers 404 with the platform's detail."""
    resp = http.get(f"{API}/chutes/nobody/nothing")
    assert resp.json() == {"detail": "Chute not found, or does not belong to you"}


def test_bare_name_prefers_the_chutes_user(fake: FakeChutes, http: httpx.Client) -> None:
    """When two users own a name, the bare name finds the ``chutes`` user's chute."""
    fake.add_chute("someone/kokoro")
    fake.add_chute("chutes/kokoro")
    assert get_info(http, "kokoro").chute_id == chute_id("chutes/kokoro")


def test_wrong_key_is_refused_by_the_api(fake: FakeChutes) -> None:
    """A wrong key gets 401 even where no key is needed."""
    fake.add_chute("other/public-llm")
    with httpx.Client(transport=fake, headers={"Authorization": "Bearer nope"}) as http:
        assert http.get(f"{API}/chutes/other/public-llm").status_code == 401


def test_unknown_api_route_is_not_found(http: httpx.Client) -> None:
    """An API path the platform does not have answers FastAPI's 404."""
    assert http.get(f"{API}/nothing/here").json() == {"detail": "Not Found"}


# --- the list -----------------------------------------------------------------------------


def add_many(fake: FakeChutes, count: int, owner: str = "myuser", **options: Any) -> None:
    """Add ``count`` chutes named ``model-0``... owned by ``owner``."""
    for n in range(count):
        fake.add_chute(f"{owner}/model-{n}", **options)


def test_list_pages_through_every_chute(fake: FakeChutes, http: httpx.Client) -> None:
    """Following ``page`` until ``has_more`` is false visits every chute once."""
    add_many(fake, 7)
    seen: list[str] = []
    for page in range(10):
        found = chute_page(http.get(f"{API}/chutes/", params={"page": page, "limit": 3}).json())
        seen += [item.name for item in found.items]
        if not found.has_more:
            break
    assert sorted(seen) == sorted(f"model-{n}" for n in range(7))
    assert (found.total, found.page, found.limit) == (7, 2, 3)


def test_list_items_carry_cord_refs(fake: FakeChutes, http: httpx.Client) -> None:
    """Items have ``cords: null`` and a ``cord_ref_id`` into ``cord_refs``, shared by equals."""
    add_many(fake, 2)
    fake.add_chute("myuser/tts", template=None, cords=TTS_CORDS)
    body = http.get(f"{API}/chutes/").json()
    assert all(item["cords"] is None for item in body["items"])
    refs = {item["cord_ref_id"] for item in body["items"]}
    assert len(refs) == 2
    assert refs == set(body["cord_refs"])


def test_list_strips_schemas_by_default(fake: FakeChutes, http: httpx.Client) -> None:
    """Without ``include_schemas`` the cords come without their schemas."""
    fake.add_chute("myuser/tts", template=None, cords=TTS_CORDS)
    (item,) = chute_page(http.get(f"{API}/chutes/").json()).items
    assert [c.body_schema for c in item.cords] == [None, None]
    assert "input_schema" not in item.cords[0].raw


def test_list_keeps_schemas_when_asked(fake: FakeChutes, http: httpx.Client) -> None:
    """With ``include_schemas=true`` the cords keep their schemas."""
    fake.add_chute("myuser/tts", template=None, cords=TTS_CORDS)
    body = http.get(f"{API}/chutes/", params={"include_schemas": "true"}).json()
    assert chute_page(body).items[0].cords[0].body_schema == SPEAK_SCHEMA


def test_list_name_is_case_insensitive_substring(fake: FakeChutes, http: httpx.Client) -> None:
    """``name`` matches any chute whose name holds it, in any case."""
    fake.add_chute("myuser/Qwen3-32B")
    fake.add_chute("myuser/qwen-tiny")
    fake.add_chute("myuser/llama")
    names = [i.name for i in chute_page(http.get(f"{API}/chutes/?name=QWEN").json()).items]
    assert sorted(names) == ["Qwen3-32B", "qwen-tiny"]


def test_list_without_key_shows_public_only(fake: FakeChutes, anon: httpx.Client) -> None:
    """Without a key the list holds public chutes only."""
    fake.add_chute("myuser/open")
    fake.add_chute("myuser/closed", public=False)
    names = [i.name for i in chute_page(anon.get(f"{API}/chutes/").json()).items]
    assert names == ["open"]


@pytest.mark.parametrize(
    ("include_public", "expected"),
    [
        pytest.param(None, ["closed", "mine"], id="own-only"),
        pytest.param("true", ["closed", "mine", "theirs"], id="with-public"),
    ],
)
def test_list_with_key_shows_own_unless_include_public(
    fake: FakeChutes, http: httpx.Client, include_public: str | None, expected: list[str]
) -> None:
    """With a key the list holds your own chutes, and public ones with ``include_public``."""
    fake.add_chute("myuser/mine")
    fake.add_chute("myuser/closed", public=False)
    fake.add_chute("other/theirs")
    fake.add_chute("other/hidden", public=False)
    params = {} if include_public is None else {"include_public": include_public}
    names = [i.name for i in chute_page(http.get(f"{API}/chutes/", params=params).json()).items]
    assert sorted(names) == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({"template": "diffusion"}, ["flux"], id="template"),
        pytest.param({"template": "other"}, ["plain"], id="template-other"),
        pytest.param({"exclude": "LL"}, ["flux", "plain"], id="exclude"),
        pytest.param({"slug": "myuser-flux"}, ["flux"], id="slug"),
    ],
)
def test_list_filters(
    fake: FakeChutes, http: httpx.Client, params: dict[str, str], expected: list[str]
) -> None:
    """``template``, ``exclude`` and ``slug`` filter the list as on the platform."""
    fake.add_chute("myuser/llm")
    fake.add_chute("myuser/flux", template="diffusion")
    fake.add_chute("myuser/plain", template=None)
    names = [i.name for i in chute_page(http.get(f"{API}/chutes/", params=params).json()).items]
    assert sorted(names) == expected


def test_list_sorted_by_invocations(fake: FakeChutes, http: httpx.Client) -> None:
    """The most invoked chute comes first."""
    add_many(fake, 3)
    http.post(
        "https://myuser-model-2.chutes.ai/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "hi"}]},
    )
    names = [i.name for i in chute_page(http.get(f"{API}/chutes/").json()).items]
    assert names[0] == "model-2"


def test_list_offset(fake: FakeChutes, http: httpx.Client) -> None:
    """``offset`` starts the page at that item."""
    add_many(fake, 5)
    body = http.get(f"{API}/chutes/", params={"offset": 4, "limit": 2}).json()
    assert (len(body["items"]), body["total"]) == (1, 5)


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"limit": "5001"}, id="limit-too-big"),
        pytest.param({"limit": "0"}, id="limit-zero"),
        pytest.param({"page": "x"}, id="page-not-int"),
        pytest.param({"include_public": "maybe"}, id="bool-not-bool"),
    ],
)
def test_list_refuses_bad_parameters(http: httpx.Client, params: dict[str, str]) -> None:
    """Parameters FastAPI would refuse answer 422 with a list detail."""
    resp = http.get(f"{API}/chutes/", params=params)
    assert resp.status_code == 422
    assert isinstance(resp.json()["detail"], list)


# --- serving the chutes added ---------------------------------------------------------------


def chat_body(**more: Any) -> dict[str, Any]:
    """A chat completion body."""
    return {"model": "m", "messages": [{"role": "user", "content": "Hello there"}], **more}


def test_clash_slug_is_the_only_subdomain(fake: FakeChutes, http: httpx.Client) -> None:
    """A chute with a clash slug answers there, and not at the name's own slug."""
    fake.add_chute("myuser/my-llm", slug="myuser-my-llm-x7k2p")
    clash = http.post("https://myuser-my-llm-x7k2p.chutes.ai/v1/chat/completions", json=chat_body())
    plain = http.post("https://myuser-my-llm.chutes.ai/v1/chat/completions", json=chat_body())
    assert (clash.status_code, plain.status_code) == (200, 404)
    assert plain.json() == {"detail": "No matching chute found!"}


def test_clash_slug_is_in_the_record(fake: FakeChutes, http: httpx.Client) -> None:
    """The API answers the clash slug, so a client can find where the chute lives."""
    fake.add_chute("myuser/my-llm", slug="myuser-my-llm-x7k2p")
    assert get_info(http, "myuser/my-llm").slug == "myuser-my-llm-x7k2p"


def test_chute_is_served_at_its_api_id_url(fake: FakeChutes, http: httpx.Client) -> None:
    """A chute answers at ``{api_url}/chutes/{id}/{path}`` too."""
    ident = fake.add_chute("myuser/my-llm")
    resp = http.post(f"{API}/chutes/{ident}/v1/chat/completions", json=chat_body())
    assert resp.status_code == 200
    assert fake.requests[-1].chute_id == ident


def test_declared_cords_restrict_the_paths(fake: FakeChutes, http: httpx.Client) -> None:
    """A chute with cords answers only those: others are "No matching cord found!"."""
    fake.add_chute("myuser/tts", template=None, cords=TTS_CORDS)
    resp = http.post("https://myuser-tts.chutes.ai/v1/chat/completions", json=chat_body())
    assert (resp.status_code, resp.json()) == (404, {"detail": "No matching cord found!"})


def test_declared_cord_without_handler_answers_empty_json(
    fake: FakeChutes, http: httpx.Client
) -> None:
    """A declared cord with neither handler nor built-in answers ``{}``."""
    fake.add_chute("myuser/tts", template=None, cords=TTS_CORDS)
    resp = http.get("https://myuser-tts.chutes.ai/voices")
    assert (resp.status_code, resp.json()) == (200, {})


def test_handler_serves_a_declared_cord(fake: FakeChutes, http: httpx.Client) -> None:
    """``cord()`` on an added chute serves that cord."""
    fake.add_chute("myuser/tts", template=None, cords=TTS_CORDS)
    fake.cord("myuser/tts", "/speak", lambda r: {"said": r.json["text"]})
    resp = http.post("https://myuser-tts.chutes.ai/speak", json={"text": "hi"})
    assert resp.json() == {"said": "hi"}


def test_llm_template_serves_its_cords(fake: FakeChutes, http: httpx.Client) -> None:
    """A ``vllm`` chute serves chat, completions and models, and nothing else."""
    fake.add_chute("myuser/my-llm")
    base = "https://myuser-my-llm.chutes.ai"
    assert http.post(f"{base}/v1/chat/completions", json=chat_body()).status_code == 200
    assert http.post(f"{base}/v1/completions", json={"prompt": "x"}).status_code == 200
    assert http.get(f"{base}/v1/models").status_code == 200
    assert http.post(f"{base}/generate", json={"prompt": "x"}).status_code == 404


def test_private_chute_of_someone_else_is_not_served(fake: FakeChutes, http: httpx.Client) -> None:
    """Another user's private chute answers its cords 404 "No matching chute found!"."""
    fake.add_chute("other/secret", public=False)
    resp = http.post("https://other-secret.chutes.ai/v1/chat/completions", json=chat_body())
    assert resp.json() == {"detail": "No matching chute found!"}


def test_add_chute_again_replaces_it(fake: FakeChutes, http: httpx.Client) -> None:
    """Adding a name again replaces the chute (one record, the new settings)."""
    fake.add_chute("myuser/my-llm", public=True)
    fake.add_chute("myuser/my-llm", tee=True)
    assert chute_page(http.get(f"{API}/chutes/").json()).total == 1
    assert get_info(http, "myuser/my-llm").tee is True


@pytest.mark.parametrize(
    "cords",
    [
        pytest.param([{"method": "POST"}], id="no-path"),
        pytest.param([{"path": "/x", "methd": "GET"}], id="typo"),
        pytest.param([3], id="not-a-cord"),
    ],
)
def test_add_chute_refuses_bad_cords(fake: FakeChutes, cords: list[Any]) -> None:
    """A cord without a path or with an unknown key raises ``ValueError``."""
    with pytest.raises(ValueError, match="cord"):
        fake.add_chute("myuser/x", cords=cords)


@pytest.mark.parametrize(
    ("target", "options"),
    [
        pytest.param("nope", {}, id="bad-name"),
        pytest.param("myuser/x", {"slug": "Not A Slug"}, id="bad-slug"),
    ],
)
def test_add_chute_refuses_bad_targets(
    fake: FakeChutes, target: str, options: dict[str, Any]
) -> None:
    """An invalid name or slug raises ``ConfigurationError``."""
    with pytest.raises(chutes.ConfigurationError):
        fake.add_chute(target, **options)


def test_add_chute_returns_the_platform_id(fake: FakeChutes) -> None:
    """``add_chute`` returns the uuid5 id the platform gives the name."""
    assert fake.add_chute("chutes/kokoro") == chute_id("chutes/kokoro")


def test_add_chute_bare_url_returns_no_id(fake: FakeChutes, http: httpx.Client) -> None:
    """A bare URL has no platform id, and serves every built-in route."""
    assert fake.add_chute("http://127.0.0.1:8000") is None
    assert (
        http.post(
            "http://127.0.0.1:8000/generate", json={"prompt": "a", "width": 2, "height": 2}
        ).status_code
        == 200
    )

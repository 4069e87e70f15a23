"""The fake holds to PLATFORM.md: for one scripted scenario, the fake and the independent
socket server (``server.py``) answer every endpoint with the same status and JSON shape.

A shape is the JSON's keys and value types, recursively (lists element by element). The
fake may add keys only where PLATFORM.md says the platform sends more than it lists (a
chute record, its owner, ``/users/me``, FastAPI's error items). Where PLATFORM.md fixes the
words of an error, the ``detail`` must be the same text too.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import httpx
import pytest
from platform_server import (
    KEY,
    MODEL,
    SCOPED_KEY,
    SPEAK_SCHEMA,
    USERNAME,
    AsyncLoopbackTransport,
    LoopbackTransport,
    PlatformServer,
    platform_id,
)

import chutes
from chutes._core.platform import chute_info, chute_status, is_cold_start, warmup_event
from chutes.testing import FakeChutes, FakeClock

API = "https://api.chutes.ai"
LLM = "https://llm.chutes.ai"
MY_LLM = platform_id("myuser/my-llm")
COLD_LLM = platform_id("myuser/cold-llm")
CHAT: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": "Hello"}]}
HEADERS = {
    "key": {"Authorization": f"Bearer {KEY}"},
    "x-api-key": {"X-API-Key": KEY},
    "scoped": {"Authorization": f"Bearer {SCOPED_KEY}"},
    "none": {},
}
CHUTE_RECORD = frozenset({"$", "$.user"})
LIST_ITEMS = frozenset({"$.items[*]", "$.items[*].user"})
QUOTA_RULE = {
    "chute_id": "*",
    "quota": 200,
    "is_default": True,
    "effective_date": "2025-01-01T00:00:00Z",
}
WINDOW = {"usage": 1.25, "cap": 10.0, "remaining": 8.75, "reset_at": "2030-01-01T04:00:00Z"}
BUCKETS = [
    {
        "bucket": f"2025-03-01T{hour:02d}:00:00",
        "chute_id": MY_LLM,
        "amount": 0.5,
        "count": 2,
        "input_tokens": 100,
        "output_tokens": 40,
    }
    for hour in (3, 2, 1)
]


def scripted_fake(clock: FakeClock) -> FakeChutes:
    """The fake set up as the server's scenario: the same chutes, model, key and account."""
    fake = FakeChutes(api_key=KEY, scoped_keys={SCOPED_KEY}, username=USERNAME, clock=clock)
    fake.add_chute("myuser/my-llm", concurrency=16, max_instances=4)
    # The server sends 3 cold events before hot; on the fake's time that is 15 s of warm-up.
    fake.add_chute("myuser/cold-llm", hot=False, warmup_after=15)
    fake.add_chute(
        "myuser/tts",
        template=None,
        cords=[
            {"path": "/speak", "input_schema": SPEAK_SCHEMA, "output_content_type": "audio/wav"}
        ],
    )
    fake.add_chute("other/secret", public=False)
    fake.add_model(MODEL, chute="chutes/deepseek-v3", price_in=0.3, price_out=1.2)
    fake.quotas = copy.deepcopy([QUOTA_RULE])
    fake.permissions = ["developer"]
    return fake


@attrs.frozen
class Both:
    """The fake and the server, each with a raw httpx client per key kind."""

    fake: FakeChutes
    server: PlatformServer
    fake_clients: dict[str, httpx.Client]
    server_clients: dict[str, httpx.Client]

    def set(self, **account: Any) -> None:
        """Set the same account attribute on both."""
        for name, value in account.items():
            setattr(self.fake, name, copy.deepcopy(value))
            setattr(self.server, name, copy.deepcopy(value))

    def send(
        self, keys: str, method: str, url: str, **options: Any
    ) -> tuple[httpx.Response, httpx.Response]:
        """The same request to the fake and to the server."""
        return (
            self.fake_clients[keys].request(method, url, **options),
            self.server_clients[keys].request(method, url, **options),
        )


@pytest.fixture
def both(platform_server: PlatformServer, loopback: LoopbackTransport) -> Iterator[Both]:
    """The scripted fake and the socket server, side by side."""
    fake = scripted_fake(FakeClock())
    fake_clients = {k: httpx.Client(transport=fake, headers=h) for k, h in HEADERS.items()}
    server_clients = {k: httpx.Client(transport=loopback, headers=h) for k, h in HEADERS.items()}
    try:
        yield Both(fake, platform_server, fake_clients, server_clients)
    finally:
        for client in (*fake_clients.values(), *server_clients.values()):
            client.close()


def kind(value: Any) -> str:
    """The JSON type of a value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def shape_problems(fake: Any, server: Any, open_at: frozenset[str], path: str = "$") -> list[str]:
    """Where the fake's JSON differs in shape from the server's (empty: the same shape)."""
    general = re.sub(r"\[\d+\]", "[*]", path)
    if kind(fake) != kind(server):
        return [f"{path}: the fake has {kind(fake)}, the server {kind(server)}"]
    problems = []
    if isinstance(server, dict):
        missing, extra = set(server) - set(fake), set(fake) - set(server)
        if missing:
            problems.append(f"{path}: the fake lacks {sorted(missing)}")
        if extra and general not in open_at:
            problems.append(f"{path}: the fake adds {sorted(extra)}")
        for key in sorted(set(server) & set(fake)):
            problems += shape_problems(fake[key], server[key], open_at, f"{path}.{key}")
    elif isinstance(server, list):
        if len(fake) != len(server):
            problems.append(f"{path}: the fake has {len(fake)} items, the server {len(server)}")
        for index, (mine, theirs) in enumerate(zip(fake, server, strict=False)):
            problems += shape_problems(mine, theirs, open_at, f"{path}[{index}]")
    return problems


def with_cords_joined(page: Any) -> Any:
    """A list page with ``cord_refs`` replaced by each item's cords, in item order
    (the ids themselves are each side's own hashes)."""
    joined = dict(page)
    refs = joined.pop("cord_refs")
    joined["cords_of_items"] = [refs[item["cord_ref_id"]] for item in page["items"]]
    for item in joined["items"]:
        item["cord_ref_id"] = "ref"
    return joined


@attrs.frozen
class Case:
    """One request to compare, and how."""

    method: str
    url: str
    keys: str = "key"
    body: Any = None
    setup: Callable[[Both], None] | None = None
    open_at: frozenset[str] = frozenset()
    same_detail: bool = False
    prepare: Callable[[Any], Any] | None = None


CASES = [
    pytest.param(
        Case("GET", f"{API}/chutes/myuser/my-llm", open_at=CHUTE_RECORD), id="chute-by-name"
    ),
    pytest.param(Case("GET", f"{API}/chutes/{MY_LLM}", open_at=CHUTE_RECORD), id="chute-by-id"),
    pytest.param(
        Case("GET", f"{API}/chutes/my-llm", keys="none", open_at=CHUTE_RECORD),
        id="chute-public-no-key",
    ),
    pytest.param(
        Case("GET", f"{API}/chutes/myuser/cold-llm", open_at=CHUTE_RECORD), id="chute-cold"
    ),
    pytest.param(
        Case("GET", f"{API}/chutes/myuser/tts", open_at=CHUTE_RECORD), id="chute-with-schema"
    ),
    pytest.param(Case("GET", f"{API}/chutes/nobody/nothing", same_detail=True), id="chute-missing"),
    pytest.param(
        Case("GET", f"{API}/chutes/other/secret", keys="none", same_detail=True),
        id="chute-private-no-key",
    ),
    pytest.param(
        Case("GET", f"{API}/chutes/other/secret", same_detail=True), id="chute-private-not-mine"
    ),
    pytest.param(
        Case("GET", f"{API}/chutes/?limit=2&page=0", open_at=LIST_ITEMS, prepare=with_cords_joined),
        id="list-page-0",
    ),
    pytest.param(
        Case("GET", f"{API}/chutes/?limit=2&page=1", open_at=LIST_ITEMS, prepare=with_cords_joined),
        id="list-page-1",
    ),
    pytest.param(
        Case(
            "GET",
            f"{API}/chutes/?limit=10",
            keys="none",
            open_at=LIST_ITEMS,
            prepare=with_cords_joined,
        ),
        id="list-no-key",
    ),
    pytest.param(
        Case(
            "GET",
            f"{API}/chutes/?include_public=true&include_schemas=true",
            open_at=LIST_ITEMS,
            prepare=with_cords_joined,
        ),
        id="list-public-with-schemas",
    ),
    pytest.param(
        Case("GET", f"{API}/chutes/?name=LLM", open_at=LIST_ITEMS, prepare=with_cords_joined),
        id="list-by-name",
    ),
    pytest.param(
        Case(
            "GET",
            f"{API}/chutes/?template=vllm&include_public=1",
            open_at=LIST_ITEMS,
            prepare=with_cords_joined,
        ),
        id="list-by-template",
    ),
    pytest.param(
        Case("GET", f"{API}/chutes/?limit=5001", open_at=frozenset({"$.detail[*]"})),
        id="list-limit-too-big",
    ),
    pytest.param(Case("GET", f"{API}/chutes/warmup/myuser/my-llm?quick=true"), id="quick-hot"),
    pytest.param(Case("GET", f"{API}/chutes/warmup/{COLD_LLM}?quick=true"), id="quick-cold"),
    pytest.param(
        Case("GET", f"{API}/chutes/warmup/nobody/nothing?quick=true", same_detail=True),
        id="warmup-missing",
    ),
    pytest.param(
        Case("GET", f"{API}/chutes/warmup/myuser/my-llm", keys="none"), id="warmup-no-key"
    ),
    pytest.param(
        Case("GET", f"{API}/chutes/warmup/myuser/my-llm", setup=lambda b: b.set(balance=0)),
        id="warmup-no-balance",
    ),
    pytest.param(Case("GET", f"{API}/users/me", open_at=frozenset({"$", "$.quotas[*]"})), id="me"),
    pytest.param(
        Case("GET", f"{API}/users/me", keys="x-api-key", open_at=frozenset({"$", "$.quotas[*]"})),
        id="me-x-api-key",
    ),
    pytest.param(
        Case("GET", f"{API}/users/me", keys="scoped", same_detail=True), id="me-scoped-key"
    ),
    pytest.param(Case("GET", f"{API}/users/me", keys="none"), id="me-no-key"),
    pytest.param(Case("GET", f"{API}/users/me/quotas"), id="quotas-list"),
    pytest.param(
        Case("GET", f"{API}/users/me/quotas", setup=lambda b: b.set(quotas={})), id="quotas-free"
    ),
    pytest.param(
        Case("GET", f"{API}/users/me/quotas", setup=lambda b: b.set(quotas={"*": 0})),
        id="quotas-mapping",
    ),
    pytest.param(Case("GET", f"{API}/users/me/quota_usage/{MY_LLM}"), id="quota-usage"),
    pytest.param(
        Case("GET", f"{API}/users/me/quota_usage/{MY_LLM}", setup=lambda b: b.set(quotas={})),
        id="quota-usage-unlimited",
    ),
    pytest.param(Case("GET", f"{API}/users/me/subscription_usage"), id="subscription-none"),
    pytest.param(
        Case(
            "GET",
            f"{API}/users/me/subscription_usage",
            setup=lambda b: b.set(subscription={"four_hour": WINDOW, "monthly": WINDOW}),
        ),
        id="subscription-active",
    ),
    pytest.param(
        Case("GET", f"{API}/users/me/usage?limit=2", setup=lambda b: b.set(usage_buckets=BUCKETS)),
        id="usage",
    ),
    pytest.param(
        Case(
            "GET",
            f"{API}/users/me/usage?per_chute=true",
            setup=lambda b: b.set(usage_buckets=BUCKETS),
        ),
        id="usage-per-chute",
    ),
    pytest.param(
        Case("GET", f"{API}/pricing", keys="none", open_at=frozenset({"$.gpu_price_estimates"})),
        id="pricing",
    ),
    pytest.param(Case("GET", f"{API}/no/such/route", same_detail=True), id="api-unknown-route"),
    pytest.param(Case("GET", f"{LLM}/v1/models"), id="gateway-models"),
    pytest.param(Case("POST", f"{LLM}/v1/chat/completions", body=CHAT), id="gateway-chat"),
    pytest.param(
        Case(
            "POST", f"{LLM}/v1/chat/completions", body={**CHAT, "model": "nope/x"}, same_detail=True
        ),
        id="gateway-unknown-model",
    ),
    pytest.param(
        Case("POST", "https://myuser-my-llm.chutes.ai/v1/chat/completions", body=CHAT),
        id="chute-chat",
    ),
    pytest.param(
        Case("POST", f"{API}/chutes/{MY_LLM}/v1/chat/completions", body=CHAT), id="chute-chat-by-id"
    ),
    pytest.param(
        Case(
            "POST",
            "https://myuser-cold-llm.chutes.ai/v1/chat/completions",
            body=CHAT,
            same_detail=True,
        ),
        id="chute-cold-503",
    ),
    pytest.param(
        Case("POST", "https://myuser-my-llm.chutes.ai/nope", body={}, same_detail=True),
        id="chute-unknown-cord",
    ),
    pytest.param(
        Case(
            "POST",
            "https://nobody-nothing.chutes.ai/v1/chat/completions",
            body=CHAT,
            same_detail=True,
        ),
        id="chute-unknown",
    ),
    pytest.param(
        Case(
            "POST", "https://myuser-tts.chutes.ai/v1/chat/completions", body=CHAT, same_detail=True
        ),
        id="chute-undeclared-cord",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_same_status(both: Both, case: Case) -> None:
    """The fake answers the status the server (the platform) answers."""
    if case.setup is not None:
        case.setup(both)
    mine, theirs = both.send(case.keys, case.method, case.url, json=case.body)
    assert mine.status_code == theirs.status_code, (mine.text, theirs.text)


@pytest.mark.parametrize("case", CASES)
def test_same_json_shape(both: Both, case: Case) -> None:
    """The fake's JSON has the server's keys and value types."""
    if case.setup is not None:
        case.setup(both)
    mine, theirs = both.send(case.keys, case.method, case.url, json=case.body)
    fake_json, server_json = mine.json(), theirs.json()
    if case.prepare is not None and mine.status_code == 200:
        fake_json, server_json = case.prepare(fake_json), case.prepare(server_json)
    assert shape_problems(fake_json, server_json, case.open_at) == []


FIXED_WORDS = [p for p in CASES if isinstance(p.values[0], Case) and p.values[0].same_detail]


@pytest.mark.parametrize("case", FIXED_WORDS)
def test_same_error_words(both: Both, case: Case) -> None:
    """Where PLATFORM.md fixes an error's words, the fake's ``detail`` is the same text."""
    mine, theirs = both.send(case.keys, case.method, case.url, json=case.body)
    assert mine.json()["detail"] == theirs.json()["detail"]


# --- the warm-up stream -------------------------------------------------------------------------


def sse_blocks(resp: httpx.Response) -> list[str]:
    """The blocks of an event-stream body (between blank lines)."""
    return [block for block in resp.text.split("\n\n") if block]


def test_warmup_streams_are_event_streams(both: Both) -> None:
    """Both answer the warm-up stream as ``text/event-stream``."""
    mine, theirs = both.send("key", "GET", f"{API}/chutes/warmup/myuser/cold-llm")
    assert [r.headers["content-type"].split(";")[0] for r in (mine, theirs)] == [
        "text/event-stream",
        "text/event-stream",
    ]


def test_warmup_streams_frame_alike(both: Both) -> None:
    """Each event is one ``data: {json}`` line and the body ends with a blank line."""
    for resp in both.send("key", "GET", f"{API}/chutes/warmup/myuser/cold-llm"):
        assert resp.text.endswith("\n\n")
        for block in sse_blocks(resp):
            assert block.startswith("data: ")
            assert "\n" not in block


def test_warmup_streams_say_the_same(both: Both) -> None:
    """Both stream the same statuses (cold, cold, cold, hot) in the same words."""
    mine, theirs = both.send("key", "GET", f"{API}/chutes/warmup/myuser/cold-llm")
    events = [[warmup_event(b[len("data: ") :]).raw for b in sse_blocks(r)] for r in (mine, theirs)]
    assert events[0] == events[1]
    assert [e["status"] for e in events[0]] == ["cold", "cold", "cold", "hot"]


def test_warmup_leaves_both_hot(both: Both) -> None:
    """After its stream said hot, the chute's quick status is hot on both."""
    both.send("key", "GET", f"{API}/chutes/warmup/myuser/cold-llm")
    mine, theirs = both.send("key", "GET", f"{API}/chutes/warmup/myuser/cold-llm?quick=true")
    assert chute_status(mine.json()).hot is chute_status(theirs.json()).hot is True


def test_hot_chute_stream_is_one_event_on_both(both: Both) -> None:
    """A hot chute's stream is its one hot event on both."""
    mine, theirs = both.send("key", "GET", f"{API}/chutes/warmup/myuser/my-llm")
    assert [len(sse_blocks(r)) for r in (mine, theirs)] == [1, 1]


# --- decoded by the core, used by the client ------------------------------------------------------


def test_core_decodes_both_chute_records_alike(both: Both) -> None:
    """The core's ``chute_info`` reads the same values from both records."""
    mine, theirs = both.send("key", "GET", f"{API}/chutes/myuser/tts")
    fake_info, server_info = chute_info(mine.json()), chute_info(theirs.json())
    assert [(c.method, c.path, c.body_schema) for c in fake_info.cords] == [
        (c.method, c.path, c.body_schema) for c in server_info.cords
    ]
    assert fake_info.cords[0].body_schema == SPEAK_SCHEMA


@pytest.fixture
def clients(both: Both, loopback: LoopbackTransport) -> Iterator[list[chutes.Client]]:
    """A ``chutes.Client`` on the fake and one on the socket server."""
    with (
        both.fake.client(max_retries=0) as mine,
        chutes.Client(api_key=KEY, transport=loopback, max_retries=0) as theirs,
    ):
        yield [mine, theirs]


def test_client_chats_with_both(clients: list[chutes.Client]) -> None:
    """The client gets a chat completion from a chute of either."""
    for client in clients:
        reply = client.chute("myuser/my-llm").chat.completions.create(**CHAT)
        assert reply.choices[0].message.content
        assert reply.usage is not None


def test_client_gateway_with_both(clients: list[chutes.Client]) -> None:
    """The client gets a chat completion through the gateway of either."""
    for client in clients:
        assert client.llm.chat.completions.create(**CHAT).choices[0].finish_reason == "stop"


@pytest.mark.parametrize(
    ("call", "error"),
    [
        pytest.param(
            lambda c: c.chute("nobody/nothing").chat.completions.create(**CHAT),
            chutes.NotFoundError,
            id="unknown-chute",
        ),
        pytest.param(
            lambda c: c.llm.chat.completions.create(**{**CHAT, "model": "nope/x"}),
            chutes.NotFoundError,
            id="unknown-model",
        ),
        pytest.param(
            lambda c: c.chute("myuser/cold-llm").chat.completions.create(**CHAT),
            chutes.ServiceUnavailableError,
            id="cold",
        ),
    ],
)
def test_client_raises_alike(
    clients: list[chutes.Client], call: Callable[[chutes.Client], Any], error: type[Exception]
) -> None:
    """The client raises the same error class with the same message for either."""
    messages = []
    for client in clients:
        with pytest.raises(error) as caught:
            call(client)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]


def test_client_sees_cold_start_on_both(clients: list[chutes.Client]) -> None:
    """A cold chute's 503 is recognised as a cold start on either."""
    for client in clients:
        with pytest.raises(chutes.ServiceUnavailableError) as caught:
            client.chute("myuser/cold-llm").chat.completions.create(**CHAT)
        assert is_cold_start(caught.value.detail)


async def test_async_loopback_reaches_the_server(platform_server: PlatformServer) -> None:
    """The async loopback transport reaches the server over a real socket too."""
    transport = AsyncLoopbackTransport(platform_server.port)
    async with chutes.AsyncClient(api_key=KEY, transport=transport) as client:
        reply = await client.chute("myuser/my-llm").chat.completions.create(**CHAT)
    assert reply.choices[0].message.content == "Hello from the socket server."


def test_loopback_keeps_the_host(
    platform_server: PlatformServer, loopback: LoopbackTransport
) -> None:
    """The server routes by the request's own ``Host``: another chute's host answers 404."""
    with httpx.Client(transport=loopback, headers=HEADERS["key"]) as http:
        found = http.post("https://myuser-my-llm.chutes.ai/v1/chat/completions", json=CHAT)
        missing = http.post("https://someone-else.chutes.ai/v1/chat/completions", json=CHAT)
    assert (found.status_code, missing.status_code) == (200, 404)


# --- the comparison itself can fail ---------------------------------------------------------------

SHAPE_DIFFERENCES = [
    pytest.param({"a": 1}, {"a": 1, "b": 2}, frozenset(), "lacks", id="missing-key"),
    pytest.param({"a": 1, "b": 2}, {"a": 1}, frozenset(), "adds", id="extra-key"),
    pytest.param({"a": "1"}, {"a": 1}, frozenset(), "string", id="type"),
    pytest.param({"a": None}, {"a": 1}, frozenset(), "null", id="null-for-number"),
    pytest.param({"a": True}, {"a": 1}, frozenset(), "boolean", id="bool-for-number"),
    pytest.param([1, 2], [1], frozenset(), "items", id="list-length"),
    pytest.param(
        {"a": [{"x": 1}]}, {"a": [{"x": "s"}]}, frozenset(), r"\$\.a\[0\]\.x", id="nested"
    ),
    pytest.param(
        {"a": {"b": 1, "c": 2}}, {"a": {"b": 1}}, frozenset({"$"}), "adds", id="open-elsewhere"
    ),
]


@pytest.mark.parametrize(("fake", "server", "open_at", "found"), SHAPE_DIFFERENCES)
def test_shape_problems_finds_differences(
    fake: Any, server: Any, open_at: frozenset[str], found: str
) -> None:
    """The shape comparison reports each kind of difference, where it is."""
    problems = shape_problems(fake, server, open_at)
    assert len(problems) == 1
    assert re.search(found, problems[0])


@pytest.mark.parametrize(
    ("fake", "server", "open_at"),
    [
        pytest.param({"a": 1.5}, {"a": 2}, frozenset(), id="int-and-float-are-numbers"),
        pytest.param({"a": 1, "b": 2}, {"a": 1}, frozenset({"$"}), id="open-object"),
        pytest.param([{"a": 1, "b": 2}], [{"a": 1}], frozenset({"$[*]"}), id="open-items"),
    ],
)
def test_shape_problems_accepts_same_shapes(
    fake: Any, server: Any, open_at: frozenset[str]
) -> None:
    """Numbers are one type, and an open object may hold more keys."""
    assert shape_problems(fake, server, open_at) == []

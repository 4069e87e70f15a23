"""The client knows the platform (issue 12): chutes, warm-up, the account, 429 kinds,
model suggestions, byte-identical retries and the spend; blocking and asyncio, against the
fake platform and over real sockets against the platform server."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from platform_server import (
    KEY,
    MODEL,
    SCOPED_KEY,
    AsyncLoopbackTransport,
    LoopbackTransport,
    PlatformServer,
)

import chutes
from chutes.testing import FakeChutes, FakeClock

KOKORO_ID = "4be47dee"  # chute_id("chutes/kokoro") starts so (PLATFORM.md)
NO_SLEEP = chutes.RetryPolicy(initial_delay=0)


@pytest.fixture
def fake_client(fake: FakeChutes) -> Iterator[chutes.Client]:
    """A blocking client on the fake (strict, on a test clock)."""
    with fake.client(retry_policy=NO_SLEEP) as client:
        yield client


@pytest.fixture
def server_client(platform_server: PlatformServer) -> Iterator[chutes.Client]:
    """A blocking client reaching the socket server for every *.chutes.ai host."""
    http = httpx.Client(transport=LoopbackTransport(platform_server.port))
    with http, chutes.Client(api_key=KEY, http_client=http, retry_policy=NO_SLEEP) as client:
        yield client


def async_server_client(server: PlatformServer, **options: Any) -> chutes.AsyncClient:
    """An asyncio client reaching the socket server (its transport, owned and closed by it)."""
    options.setdefault("retry_policy", NO_SLEEP)
    return chutes.AsyncClient(api_key=KEY, transport=AsyncLoopbackTransport(server.port), **options)


# --- identity ------------------------------------------------------------------------------------


def test_chute_id_is_the_platform_s_uuid5() -> None:
    """chutes.chute_id gives the platform's id of a name, in either spelling."""
    assert chutes.chute_id("chutes/kokoro").startswith(KOKORO_ID)
    assert chutes.chute_id("chutes", "kokoro") == chutes.chute_id("chutes/kokoro")


def test_get_by_name_asks_for_the_id_with_no_name_lookup(
    fake: FakeChutes, fake_client: chutes.Client
) -> None:
    """chutes.get("chutes/kokoro") sends GET /chutes/4be47dee-..., one request, no search."""
    fake.add_chute("chutes/kokoro", template=None)
    info = fake_client.chutes.get("chutes/kokoro")
    assert [(r.method, r.path) for r in fake.requests] == [
        ("GET", f"/chutes/{chutes.chute_id('chutes/kokoro')}")
    ]
    assert (info.name, info.chute_id[:8]) == ("kokoro", KOKORO_ID)


def test_get_by_name_over_the_wire(
    platform_server: PlatformServer, server_client: chutes.Client
) -> None:
    """Over a real socket, a name lookup is one GET of its id on the API host."""
    info = server_client.chutes.get("myuser/my-llm")
    assert info.slug == "myuser-my-llm"
    assert [(m, h, t) for m, h, t, _ in platform_server.seen] == [
        ("GET", "api.chutes.ai", f"/chutes/{chutes.chute_id('myuser/my-llm')}")
    ]


async def test_get_async_over_the_wire(platform_server: PlatformServer) -> None:
    """The asyncio client reads a chute's details, cords with their body schema included."""
    async with async_server_client(platform_server) as client:
        info = await client.chutes.get("myuser/tts")
    speak = next(c for c in info.cords if c.path == "/speak")
    assert speak.method == "POST"
    assert speak.body_schema is not None
    assert set(speak.body_schema["properties"]) == {"text", "voice"}


def test_get_unknown_is_not_found(fake_client: chutes.Client) -> None:
    """An unknown chute is a NotFoundError with the platform's words."""
    with pytest.raises(chutes.NotFoundError, match="Chute not found"):
        fake_client.chutes.get("myuser/nothing-here")


def test_get_needs_exactly_one_of_name_and_id(fake_client: chutes.Client) -> None:
    """Neither or both of name and id= is a ConfigurationError, before any traffic."""
    with pytest.raises(chutes.ConfigurationError):
        fake_client.chutes.get()
    with pytest.raises(chutes.ConfigurationError):
        fake_client.chutes.get("a/b", id="00000000-0000-0000-0000-000000000000")


# --- list -----------------------------------------------------------------------------------


def test_list_is_lazy_and_joins_every_page(fake: FakeChutes, fake_client: chutes.Client) -> None:
    """list() walks every page, one request per page as it is needed, cords joined."""
    for n in range(7):
        fake.add_chute(f"myuser/llm-{n}")
    listed = fake_client.chutes.list(page_size=3)
    first = next(iter(listed))
    assert len(fake.requests) == 1
    rest = list(listed)
    assert len({first.name, *(i.name for i in rest)}) == 7
    assert all(i.cords for i in rest)
    assert [r.path for r in fake.requests] == ["/chutes/"] * 3


async def test_list_async_over_the_wire(platform_server: PlatformServer) -> None:
    """The asyncio client lists every page of the server's chutes with their cords."""
    async with async_server_client(platform_server) as client:
        names = [i.name async for i in client.chutes.list(include_public=True, page_size=2)]
    assert {"my-llm", "cold-llm", "tts", "deepseek-v3"} <= set(names)
    pages = [t for m, h, t, _ in platform_server.seen if t.startswith("/chutes/?")]
    assert len(pages) >= 2


# --- status and warm-up ------------------------------------------------------------------------


def test_status_is_the_quick_warm_up(fake: FakeChutes, fake_client: chutes.Client) -> None:
    """status() asks warmup?quick=true and tells hot and the instance count."""
    fake.add_chute("myuser/my-llm", hot=True)
    status = fake_client.chutes.status("myuser/my-llm")
    assert (status.hot, status.instance_count > 0) == (True, True)
    assert "quick=true" in fake.requests[-1].url


def test_warmup_follows_the_stream_until_hot(fake: FakeChutes, fake_client: chutes.Client) -> None:
    """warmup() follows the event stream, passing each status on, and returns the hot one."""
    fake.add_chute("myuser/cold", hot=False, warmup_after=12)
    seen: list[str] = []
    event = fake_client.chutes.warmup("myuser/cold", on_status=lambda e: seen.append(e.status))
    assert (event.hot, seen) == (True, ["cold", "cold", "cold", "hot"])
    assert fake_client.chutes.status("myuser/cold").hot


async def test_warmup_async_over_the_wire(platform_server: PlatformServer) -> None:
    """Over a real socket, the asyncio client follows a cold chute's warm-up to hot."""
    seen: list[str] = []
    async with async_server_client(platform_server) as client:
        event = await client.chute("myuser/cold-llm").warmup(
            on_status=lambda e: seen.append(e.status)
        )
    assert (event.hot, seen[-1], seen.count("cold")) == (True, "hot", 3)


def test_warmup_that_ends_cold_is_a_timeout(fake: FakeChutes, fake_client: chutes.Client) -> None:
    """A warm-up stream that ends without "hot" raises APITimeoutError."""
    fake.add_chute("myuser/never", hot=False, warmup_after=10_000)
    with pytest.raises(chutes.APITimeoutError, match="did not become hot"):
        fake_client.chutes.warmup("myuser/never")


def test_warmup_timeout_is_a_timeout(platform_server: PlatformServer) -> None:
    """A warm-up that takes longer than its timeout raises APITimeoutError."""
    platform_server.chutes[1].cold_events = 100
    http = httpx.Client(transport=LoopbackTransport(platform_server.port))
    with http, chutes.Client(api_key=KEY, http_client=http) as client:
        with pytest.raises(chutes.APITimeoutError):
            client.chutes.warmup("myuser/cold-llm", timeout=0.3)


def test_info_and_warmup_need_a_name_or_id(fake_client: chutes.Client) -> None:
    """A handle made from a slug or URL cannot be looked up: a clear error."""
    with pytest.raises(chutes.ConfigurationError, match="by name or id"):
        fake_client.chute(slug="some-slug").info()


# --- resolve=True --------------------------------------------------------------------------------


def test_resolve_uses_the_real_slug_looked_up_once(
    fake: FakeChutes, fake_client: chutes.Client
) -> None:
    """resolve=True reaches the chute at its real (clash-suffixed) slug, looked up once."""
    fake.add_chute("myuser/my-llm", slug="myuser-my-llm-x7k2p")
    chute = fake_client.chute("myuser/my-llm", resolve=True)
    for _ in range(2):
        chute.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    lookups = [r for r in fake.requests if r.path.startswith("/chutes/")]
    calls = [r.url for r in fake.requests if r.path == "/v1/chat/completions"]
    assert len(lookups) == 1
    assert calls == ["https://myuser-my-llm-x7k2p.chutes.ai/v1/chat/completions"] * 2


def test_without_resolve_the_computed_slug_misses(
    fake: FakeChutes, fake_client: chutes.Client
) -> None:
    """Without resolve=True the name's computed slug is used, which the fake does not serve."""
    fake.add_chute("myuser/my-llm", slug="myuser-my-llm-x7k2p")
    with pytest.raises(chutes.NotFoundError, match="No matching chute"):
        fake_client.chute("myuser/my-llm").post("/v1/chat/completions", json={})


async def test_resolve_async(fake: FakeChutes) -> None:
    """The asyncio client resolves the real slug too."""
    fake.add_chute("myuser/my-llm", slug="myuser-my-llm-x7k2p")
    async with fake.async_client() as client:
        chute = client.chute("myuser/my-llm", resolve=True)
        await chute.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert fake.requests[-1].url.startswith("https://myuser-my-llm-x7k2p.chutes.ai/")


# --- wait_for_hot ---------------------------------------------------------------------------


def test_wait_for_hot_on_the_gateway(fake: FakeChutes, caplog: pytest.LogCaptureFixture) -> None:
    """A gateway chat for a cold model with wait_for_hot=30 succeeds: one 503, the warm-up
    followed, then one success; logged at INFO."""
    fake.add_chute("acme/cold-model", hot=False, warmup_after=12)
    fake.add_model("acme/cold-model", chute="acme/cold-model")
    policy = chutes.RetryPolicy(initial_delay=0, wait_for_hot=30)
    caplog.set_level(logging.INFO, logger="chutes")
    with fake.client(retry_policy=policy) as client:
        reply = client.llm.chat.completions.create(
            model="acme/cold-model", messages=[{"role": "user", "content": "hi"}]
        )
    assert reply.choices[0].message.content
    steps = [(r.method, r.path.split("?")[0]) for r in fake.requests]
    warm = ("GET", f"/chutes/warmup/{chutes.chute_id('acme/cold-model')}")
    assert steps.count(("POST", "/v1/chat/completions")) == 2
    assert steps.index(warm) > steps.index(("POST", "/v1/chat/completions"))
    assert "is cold" in caplog.text
    assert "is hot" in caplog.text


async def test_wait_for_hot_async_over_the_wire(platform_server: PlatformServer) -> None:
    """Over a real socket, a cold chute's 503 waits for its warm-up, then one more send."""
    policy = chutes.RetryPolicy(initial_delay=0, wait_for_hot=30)
    async with async_server_client(platform_server, retry_policy=policy) as client:
        reply = await client.chute("myuser/cold-llm").chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
    assert reply.choices
    posts = [t for m, h, t, _ in platform_server.seen if m == "POST"]
    assert posts == ["/v1/chat/completions", "/v1/chat/completions"]


def test_without_wait_for_hot_a_cold_chute_is_a_503(
    fake: FakeChutes, fake_client: chutes.Client
) -> None:
    """By default a cold chute's 503 is retried as usual and raised."""
    fake.add_chute("myuser/cold", hot=False, warmup_after=1000)
    with pytest.raises(chutes.ServiceUnavailableError):
        fake_client.chute("myuser/cold").chat.completions.create(model="m", messages=[])


# --- 429 kinds ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "attempts"),
    [
        pytest.param("capacity", 3, id="capacity-retried"),
        pytest.param("daily_limit", 1, id="daily-limit-never-retried"),
        pytest.param("rate_limited", 1, id="edge-rate-limit-not-retried"),
    ],
)
def test_429_kinds(fake: FakeChutes, kind: str, attempts: int) -> None:
    """Each 429 carries its reason and is retried (or not) as the platform needs."""
    fake.add_chute("myuser/my-llm")
    fake.fail_next(429, times=3, kind=kind)
    with fake.client(retry_policy=NO_SLEEP, max_retries=2) as client:
        with pytest.raises(chutes.RateLimitError) as info:
            client.chute("myuser/my-llm").post("/v1/chat/completions", json={"messages": []})
    assert info.value.reason == kind
    assert len(fake.requests) == attempts
    if kind == "rate_limited":
        assert "rate_limit=" in str(info.value)


async def test_429_daily_limit_async(fake: FakeChutes) -> None:
    """The asyncio client never retries a daily limit."""
    fake.add_chute("myuser/my-llm")
    fake.fail_next(429, times=3, kind="daily_limit")
    async with fake.async_client(retry_policy=NO_SLEEP) as client:
        with pytest.raises(chutes.RateLimitError) as info:
            await client.chute("myuser/my-llm").post("/v1/chat/completions", json={})
    assert (info.value.reason, len(fake.requests)) == ("daily_limit", 1)


# --- model not found ---------------------------------------------------------------------


def test_a_typo_d_model_suggests_the_real_name(
    fake: FakeChutes, fake_client: chutes.Client
) -> None:
    """A typo'd model raises ModelNotFoundError whose suggestions hold the real name."""
    fake.add_model("deepseek-ai/DeepSeek-V3-0324")
    with pytest.raises(chutes.ModelNotFoundError) as info:
        fake_client.llm.chat.completions.create(
            model="deepseek-ai/DeepSeek-V3", messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.model == "deepseek-ai/DeepSeek-V3"
    assert "deepseek-ai/DeepSeek-V3-0324" in info.value.suggestions
    assert "did you mean" in str(info.value)
    assert isinstance(info.value, chutes.NotFoundError)


async def test_a_typo_d_model_async_over_the_wire(platform_server: PlatformServer) -> None:
    """Over a real socket, the suggestions come from the gateway's /v1/models."""
    async with async_server_client(platform_server) as client:
        with pytest.raises(chutes.ModelNotFoundError) as info:
            await client.llm.chat.completions.create(model="deepseek-ai/deepseek-v3", messages=[])
    assert info.value.suggestions == (MODEL,)


def test_suggestions_never_make_a_second_error(fake: FakeChutes) -> None:
    """If /v1/models fails too, the ModelNotFoundError still comes, without suggestions."""
    fake.add_model("a/b")
    with fake.client(retry_policy=NO_SLEEP, max_retries=0) as client:
        fake.fail_next(404, detail="model not found: x/y")
        fake.fail_next(500)
        with pytest.raises(chutes.ModelNotFoundError) as info:
            client.llm.chat.completions.create(model="x/y", messages=[])
    assert info.value.suggestions == ()


def test_no_matching_cord_names_the_known_cords(
    platform_server: PlatformServer, server_client: chutes.Client
) -> None:
    """Once a chute's details are known, "No matching cord found!" names its cords."""
    server_client.chutes.get("myuser/tts")
    with pytest.raises(chutes.NotFoundError, match=r"its cords: POST /speak"):
        server_client.chute("myuser/tts").post("/spek", json={"text": "x"})


async def test_no_matching_cord_names_the_known_cords_async(
    platform_server: PlatformServer,
) -> None:
    """The asyncio client names the chute's cords in "No matching cord found!" too."""
    async with async_server_client(platform_server) as client:
        await client.chutes.get("myuser/tts")
        with pytest.raises(chutes.NotFoundError, match=r"its cords: POST /speak"):
            await client.chute("myuser/tts").post("/spek", json={"text": "x"})


# --- retries resend the same bytes ------------------------------------------------------------


def test_a_retry_resends_byte_identical_bytes(platform_server: PlatformServer) -> None:
    """After a 503 then a 200, the two request bodies at the server are byte-identical."""
    platform_server.chutes[1].cold_events = 0
    http = httpx.Client(transport=LoopbackTransport(platform_server.port))
    with http, chutes.Client(api_key=KEY, http_client=http, retry_policy=NO_SLEEP) as client:
        chute = client.chute("myuser/cold-llm")
        body = {
            "model": "m",
            "messages": [{"role": "user", "content": "héllo"}],
            "temperature": 0.5,
        }
        with pytest.raises(chutes.ServiceUnavailableError):
            chute.chat.completions.create(**body, max_retries=0)
        platform_server.chutes[1].hot = False
        with pytest.raises(chutes.ServiceUnavailableError):
            chute.chat.completions.create(**body, max_retries=1)
    sent = [b for m, h, t, b in platform_server.seen if m == "POST"]
    assert len(sent) == 3
    assert sent[1] == sent[2] == sent[0]
    assert json.loads(sent[0])["messages"][0]["content"] == "héllo"


def test_a_503_then_200_sends_the_same_bytes_twice(fake: FakeChutes) -> None:
    """A retried call's body is serialised once: the 503's and the 200's are equal."""
    fake.add_chute("myuser/my-llm")
    fake.fail_next(503)
    with fake.client(retry_policy=NO_SLEEP) as client:
        client.chute("myuser/my-llm").chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x" * 500}], top_k=5
        )
    first, second = (r.content for r in fake.requests)
    assert first == second


async def test_a_503_then_200_sends_the_same_bytes_twice_async(fake: FakeChutes) -> None:
    """On the asyncio client too, the 503's body and the retried 200's are equal."""
    fake.add_chute("myuser/my-llm")
    fake.fail_next(503)
    async with fake.async_client(retry_policy=NO_SLEEP) as client:
        await client.chute("myuser/my-llm").chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x" * 500}], top_k=5
        )
    first, second = (r.content for r in fake.requests)
    assert first == second


# --- account and pricing ----------------------------------------------------------------------


def test_account_me_and_pricing(fake: FakeChutes, fake_client: chutes.Client) -> None:
    """me() names the account; pricing() gives TAO in USD."""
    assert fake_client.account.me().username == "myuser"
    assert fake_client.pricing().tao_usd > 0


@pytest.mark.parametrize(
    ("shape", "rules"),
    [
        pytest.param({}, 0, id="none"),
        pytest.param(
            [{"chute_id": "*", "quota": 200, "is_default": True, "effective_date": None}],
            1,
            id="list",
        ),
        pytest.param({"*": 0}, 1, id="global-zero"),
    ],
)
def test_quotas_in_each_shape(
    fake: FakeChutes, fake_client: chutes.Client, shape: Any, rules: int
) -> None:
    """The three shapes of /users/me/quotas come back as a list of rules."""
    fake.quotas = shape
    assert len(fake_client.account.quotas()) == rules


async def test_account_async_over_the_wire(platform_server: PlatformServer) -> None:
    """Over a real socket: me, quotas, quota usage, subscription, usage pages, pricing."""
    platform_server.usage_buckets = [
        {"bucket": f"2025-01-0{d}T00:00:00Z", "amount": 1.0, "count": 1,
         "input_tokens": 10, "output_tokens": 5}
        for d in range(1, 10)
    ]  # fmt: skip
    async with async_server_client(platform_server) as client:
        me = await client.account.me()
        rules = await client.account.quotas()
        used = await client.account.quota_usage("myuser/my-llm")
        sub = await client.account.subscription()
        buckets = await client.account.usage(start="2025-01-01", end="2025-02-01")
        prices = await client.pricing()
    assert (me.username, len(rules), sub.active, len(buckets)) == ("myuser", 1, False, 9)
    assert used.quota is not None
    assert prices.tao_usd == platform_server.tao_usd


def test_a_scoped_key_is_told_it_needs_an_account_key(platform_server: PlatformServer) -> None:
    """A chute-scoped key's 401 on an account call says an account-scoped key is needed."""
    http = httpx.Client(transport=LoopbackTransport(platform_server.port))
    with http, chutes.Client(api_key=SCOPED_KEY, http_client=http) as client:
        with pytest.raises(chutes.AuthenticationError, match="account-scoped"):
            client.account.me()


# --- spend ----------------------------------------------------------------------------------


def test_cost_is_tokens_times_the_gateway_prices(fake: FakeChutes) -> None:
    """usage.cost_usd equals the tokens times the fake's prices; by_model has the tokens."""
    fake.add_model("acme/m1", price_in=0.5, price_out=2.0)
    with fake.client() as client:
        for _ in range(2):
            client.llm.chat.completions.create(
                model="acme/m1", messages=[{"role": "user", "content": "one two three"}]
            )
        usage = client.usage
    tokens = usage.by_model["acme/m1"]
    expected = (tokens.prompt_tokens * 0.5 + tokens.completion_tokens * 2.0) / 1_000_000
    assert tokens.prompt_tokens > 0
    assert usage.cost_usd == pytest.approx(expected)


async def test_cost_async_streamed(fake: FakeChutes) -> None:
    """A streamed gateway call's usage counts toward the estimated spend too."""
    fake.add_model("acme/m2", price_in=1.0, price_out=1.0)
    async with fake.async_client() as client:
        stream = await client.llm.chat.completions.create(
            model="acme/m2", messages=[{"role": "user", "content": "a b"}], stream=True
        )
        async with stream:
            await stream.collect()
        assert client.usage.cost_usd is None  # the first read starts the price fetch
        for _ in range(100):
            await asyncio.sleep(0.01)
            usage = client.usage
            if usage.cost_usd is not None:
                break
    tokens = usage.by_model["acme/m2"]
    assert usage.cost_usd == pytest.approx(tokens.total_tokens / 1_000_000)


def test_cost_is_none_when_a_price_is_unknown(fake: FakeChutes) -> None:
    """Tokens of a model the gateway does not price leave the spend unknown."""
    fake.add_chute("myuser/my-llm")
    with fake.client() as client:
        client.chute("myuser/my-llm").chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
        assert client.usage.cost_usd is None


# --- llm_url ---------------------------------------------------------------------------------


def test_llm_url_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, platform_server: PlatformServer
) -> None:
    """CHUTES_LLM_URL points client.llm at another gateway; llm_url= wins over it."""
    monkeypatch.setenv("CHUTES_LLM_URL", "https://gateway.example.org")
    with chutes.Client(api_key=KEY) as client:
        assert client.llm.base_url == "https://gateway.example.org"
    with chutes.Client(api_key=KEY, llm_url="http://127.0.0.1:9/v2") as client:
        assert client.llm.base_url == "http://127.0.0.1:9/v2"


def test_fake_clock_is_exported() -> None:
    """The testing kit's clock is importable for users' own warm-up tests."""
    assert FakeClock().now >= 0


def test_a_chute_added_after_its_model_still_serves_it(fake: FakeChutes) -> None:
    """add_chute() after add_model() replaces the model's chute (cold here): the gateway
    answers from the new one."""
    fake.add_model("acme/late", chute="acme/late")
    fake.add_chute("acme/late", hot=False, warmup_after=100)
    with fake.client(retry_policy=NO_SLEEP, max_retries=0) as client:
        with pytest.raises(chutes.ServiceUnavailableError):
            client.llm.chat.completions.create(
                model="acme/late", messages=[{"role": "user", "content": "x"}]
            )


# --- the example -------------------------------------------------------------------------


@pytest.fixture
def tour(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``examples/platform_tour.py``, imported with the repository root on ``sys.path``."""
    import importlib
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2]))
    return importlib.import_module("examples.platform_tour")


def test_the_tour_warms_a_cold_chute_then_prices_the_call(
    tour: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """On its fake, the tour finds the chute cold, follows its warm-up to hot, calls the
    model once and returns the spend at the fake's prices."""
    fake = tour.fake_platform()
    with fake.client() as client:
        cost = tour.main(client)
        tokens = client.usage.by_model[tour.MODEL]
        hot_after = client.chutes.status(tour.CHUTE).hot
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith(": cold, 0 instance(s)")
    assert any(line.strip().startswith("hot:") for line in out)
    assert hot_after
    assert cost == pytest.approx(
        (tokens.prompt_tokens * 0.3 + tokens.completion_tokens * 1.2) / 1e6
    )
    assert f"estimated cost: {cost} USD" in out[-1]


def test_the_tour_over_the_wire(
    tour: Any, server_client: chutes.Client, platform_server: PlatformServer
) -> None:
    """Against the socket server the tour reads the chute, asks only the quick status of a
    hot chute (no warm-up stream), calls the gateway and prices the tokens."""
    cost = tour.main(server_client, chute="chutes/deepseek-v3", model=MODEL)
    seen = [(method, host, target) for method, host, target, _ in platform_server.seen]
    assert ("POST", "llm.chutes.ai", "/v1/chat/completions") in seen
    warmups = [target for _, _, target in seen if target.startswith("/chutes/warmup/")]
    assert len(warmups) == 1
    assert warmups[0].endswith("?quick=true")
    assert cost is not None
    assert cost > 0

"""The fake's warm-up: quick status, the event stream, and its scripted cold-to-hot timeline."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest

import chutes
from chutes._core.platform import chute_status, is_cold_start, warmup_event
from chutes.testing import FakeChutes, FakeClock

API = "https://api.chutes.ai"
CHUTE = "myuser/my-llm"
BASE = "https://myuser-my-llm.chutes.ai"
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def quick(http: httpx.Client, chute: str = CHUTE) -> Any:
    """The quick status, decoded by the core's ``chute_status``."""
    resp = http.get(f"{API}/chutes/warmup/{chute}", params={"quick": "true"})
    assert resp.status_code == 200, resp.text
    return chute_status(resp.json())


def stream_datas(http: httpx.Client, chute: str = CHUTE) -> list[str]:
    """The data of every event of the warm-up stream, read whole."""
    resp = http.get(f"{API}/chutes/warmup/{chute}")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/event-stream")
    blocks = [b for b in resp.text.split("\n\n") if b]
    assert all(b.startswith("data: ") and "\n" not in b for b in blocks), blocks
    return [b[len("data: ") :] for b in blocks]


def statuses(http: httpx.Client, chute: str = CHUTE) -> list[str]:
    """The status of every warm-up stream event."""
    return [warmup_event(data).status for data in stream_datas(http, chute)]


# --- quick status ---------------------------------------------------------------------------


def test_quick_status_of_hot_chute(fake: FakeChutes, http: httpx.Client) -> None:
    """A hot chute's quick status is hot, with its instances and their GPUs."""
    ident = fake.add_chute(CHUTE, instances=2)
    status = quick(http)
    assert (status.chute_id, status.hot, status.instance_count) == (ident, True, 2)
    assert all(i.gpu_count and i.gpu_model_name for i in status.instances)


def test_quick_status_of_cold_chute(fake: FakeChutes, http: httpx.Client) -> None:
    """A cold chute's quick status is cold with no instances."""
    fake.add_chute(CHUTE, hot=False)
    status = quick(http)
    assert (status.status, status.instance_count, status.instances) == ("cold", 0, [])


def test_quick_status_follows_the_clock(
    fake: FakeChutes, http: httpx.Client, clock: FakeClock
) -> None:
    """A chute cold for 30 s is cold at 29.9 s and hot at 30 s on the fake's clock."""
    fake.add_chute(CHUTE, hot=False, warmup_after=30)
    clock.advance(29.9)
    assert quick(http).hot is False
    clock.advance(0.1)
    assert quick(http).hot is True


def test_default_warmup_is_ten_seconds(
    fake: FakeChutes, http: httpx.Client, clock: FakeClock
) -> None:
    """``hot=False`` alone means hot 10 s after being added."""
    fake.add_chute(CHUTE, hot=False)
    clock.advance(9.99)
    assert quick(http).hot is False
    clock.advance(0.01)
    assert quick(http).hot is True


def test_quick_polls_turn_it_hot(fake: FakeChutes, http: httpx.Client) -> None:
    """``warmup_polls=2``: two quick polls answer cold, the third hot, with no time passing."""
    fake.add_chute(CHUTE, hot=False, warmup_polls=2)
    assert [quick(http).hot for _ in range(3)] == [False, False, True]


def test_hot_stays_hot(fake: FakeChutes, http: httpx.Client) -> None:
    """Once hot by polls, a chute stays hot."""
    fake.add_chute(CHUTE, hot=False, warmup_polls=0)
    assert [quick(http).hot for _ in range(3)] == [True, True, True]


def test_quick_status_does_not_move_time(
    fake: FakeChutes, http: httpx.Client, clock: FakeClock
) -> None:
    """Quick polls take no time on the fake: a time-scripted chute stays cold."""
    fake.add_chute(CHUTE, hot=False, warmup_after=5)
    assert not any(quick(http).hot for _ in range(20))


def test_quick_status_by_id(fake: FakeChutes, http: httpx.Client) -> None:
    """Warm-up takes the chute's id as well as its name."""
    ident = fake.add_chute(CHUTE)
    assert ident is not None
    assert quick(http, ident).chute_id == ident


# --- the event stream -------------------------------------------------------------------------


def test_stream_of_hot_chute_is_one_hot_event(fake: FakeChutes, http: httpx.Client) -> None:
    """A hot chute's stream is one hot event naming its instance count."""
    fake.add_chute(CHUTE, instances=2)
    (data,) = stream_datas(http)
    assert warmup_event(data).raw == {
        "status": "hot",
        "log": "chute is hot, 2 instances available",
    }


def test_stream_cold_events_then_hot(fake: FakeChutes, http: httpx.Client) -> None:
    """A chute hot in 12 s streams three cold events (5 s apart) then the hot one."""
    fake.add_chute(CHUTE, hot=False, warmup_after=12)
    assert statuses(http) == ["cold", "cold", "cold", "hot"]


def test_stream_cold_event_wording(fake: FakeChutes, http: httpx.Client) -> None:
    """A cold event is the platform's ``{"status": "cold", "log": "waiting for instances ..."}``."""
    fake.add_chute(CHUTE, hot=False, warmup_after=1)
    first = stream_datas(http)[0]
    assert first == '{"status": "cold", "log": "waiting for instances ..."}'


def test_stream_moves_the_fakes_time(
    fake: FakeChutes, http: httpx.Client, clock: FakeClock
) -> None:
    """After the stream reported hot, the chute is hot (its cold events stood for 15 s)."""
    fake.add_chute(CHUTE, hot=False, warmup_after=12)
    statuses(http)
    assert clock.now == 0
    assert quick(http).hot is True


def test_stream_time_moves_every_timeline(fake: FakeChutes, http: httpx.Client) -> None:
    """The seconds a stream stood for pass for every chute, as real time would."""
    fake.add_chute(CHUTE, hot=False, warmup_after=12)
    fake.add_chute("myuser/other", hot=False, warmup_after=14)
    statuses(http)
    assert quick(http, "myuser/other").hot is True


def test_stream_by_polls(fake: FakeChutes, http: httpx.Client) -> None:
    """``warmup_polls=3`` streams three cold events then hot."""
    fake.add_chute(CHUTE, hot=False, warmup_polls=3)
    assert statuses(http) == ["cold", "cold", "cold", "hot"]


def test_stream_ends_without_hot_after_600_seconds(fake: FakeChutes, http: httpx.Client) -> None:
    """A chute that never warms streams 120 cold events (600 s) and just ends."""
    fake.add_chute(CHUTE, hot=False, warmup_after=math.inf)
    found = statuses(http)
    assert len(found) == 120
    assert set(found) == {"cold"}


def test_stream_is_made_as_it_is_read(
    fake: FakeChutes, http: httpx.Client, clock: FakeClock
) -> None:
    """A stream closed after its first event moved the fake's time by that event only."""
    fake.add_chute(CHUTE, hot=False, warmup_after=12)
    with http.stream("GET", f"{API}/chutes/warmup/{CHUTE}") as resp:
        first = next(resp.iter_lines())
    assert warmup_event(first[len("data: ") :]).hot is False
    assert quick(http).hot is False


async def test_stream_with_async_client(fake: FakeChutes) -> None:
    """The warm-up stream reads the same through an async client."""
    fake.add_chute(CHUTE, hot=False, warmup_after=7)
    headers = {"Authorization": f"Bearer {fake.api_key}"}
    async with httpx.AsyncClient(transport=fake, headers=headers) as http:
        resp = await http.get(f"{API}/chutes/warmup/{CHUTE}")
    assert [warmup_event(b[6:]).status for b in resp.text.split("\n\n") if b] == [
        "cold",
        "cold",
        "hot",
    ]


def test_cut_next_stream_applies_to_warmup(fake: FakeChutes, http: httpx.Client) -> None:
    """``cut_next_stream`` cuts a warm-up stream too: it ends with no hot event."""
    fake.add_chute(CHUTE, hot=False, warmup_after=30)
    fake.cut_next_stream(after_events=2)
    assert statuses(http) == ["cold", "cold"]


# --- refusals -----------------------------------------------------------------------------------


def test_warmup_needs_a_key(fake: FakeChutes, anon: httpx.Client) -> None:
    """Warm-up without a key answers 401."""
    fake.add_chute(CHUTE)
    assert anon.get(f"{API}/chutes/warmup/{CHUTE}").status_code == 401


def test_warmup_of_missing_chute(http: httpx.Client) -> None:
    """Warm-up of a chute nobody added answers the platform's 404."""
    resp = http.get(f"{API}/chutes/warmup/nobody/nothing")
    assert (resp.status_code, resp.json()["detail"]) == (
        404,
        "Chute not found, or does not belong to you",
    )


@pytest.mark.parametrize("balance", [pytest.param(0.0, id="zero"), pytest.param(-1.5, id="debt")])
def test_warmup_with_no_balance_is_402(
    fake: FakeChutes, http: httpx.Client, balance: float
) -> None:
    """A balance at or below zero answers 402 with the platform's balance text."""
    fake.add_chute(CHUTE)
    fake.balance = balance
    resp = http.get(f"{API}/chutes/warmup/{CHUTE}")
    assert resp.status_code == 402
    assert resp.json()["detail"].startswith(f"Account balance is ${balance}")


def test_warmup_of_disabled_chute_is_503(fake: FakeChutes, http: httpx.Client) -> None:
    """A disabled chute's warm-up answers 503 "This chute is currently disabled."."""
    fake.add_chute(CHUTE, disabled=True)
    resp = http.get(f"{API}/chutes/warmup/{CHUTE}", params={"quick": "true"})
    assert (resp.status_code, resp.json()) == (
        503,
        {"detail": "This chute is currently disabled."},
    )


# --- cold chutes refuse calls -------------------------------------------------------------------


def test_cold_chute_answers_503_no_instances(fake: FakeChutes, http: httpx.Client) -> None:
    """A cold chute's cords answer 503 "No instances available" naming the chute."""
    ident = fake.add_chute(CHUTE, hot=False)
    resp = http.post(f"{BASE}/v1/chat/completions", json=CHAT)
    assert resp.status_code == 503
    assert resp.json()["detail"] == f"No instances available (yet) for chute_id='{ident}'"
    assert is_cold_start(resp.json()["detail"])


def test_cold_chute_answers_after_warming(
    fake: FakeChutes, http: httpx.Client, clock: FakeClock
) -> None:
    """Once its time has come, a cold chute answers its cords."""
    fake.add_chute(CHUTE, hot=False, warmup_after=20)
    clock.advance(20)
    assert http.post(f"{BASE}/v1/chat/completions", json=CHAT).status_code == 200


def test_cold_chute_answers_after_warmup_stream(fake: FakeChutes, http: httpx.Client) -> None:
    """Following the warm-up stream to its hot event makes the chute answer."""
    fake.add_chute(CHUTE, hot=False, warmup_after=60)
    assert statuses(http)[-1] == "hot"
    assert http.post(f"{BASE}/v1/chat/completions", json=CHAT).status_code == 200


def test_cold_handler_is_not_called(fake: FakeChutes, http: httpx.Client) -> None:
    """A custom cord of a cold chute answers 503 without calling the handler."""
    calls: list[Any] = []

    def speak(request: Any) -> dict[str, Any]:
        calls.append(request)
        return {}

    fake.add_chute("myuser/tts", template=None, hot=False, cords=["/speak"])
    fake.cord("myuser/tts", "/speak", speak)
    assert http.post("https://myuser-tts.chutes.ai/speak", json={}).status_code == 503
    assert calls == []


def test_cold_for_makes_a_hot_chute_cold(
    fake: FakeChutes, http: httpx.Client, clock: FakeClock
) -> None:
    """``cold_for(chute, 30)`` answers 503 for 30 s of the fake's time, then serves again."""
    fake.add_chute(CHUTE)
    fake.cold_for(CHUTE, 30)
    assert http.post(f"{BASE}/v1/chat/completions", json=CHAT).status_code == 503
    clock.advance(30)
    assert http.post(f"{BASE}/v1/chat/completions", json=CHAT).status_code == 200


def test_cold_for_makes_an_unknown_chute_exist(fake: FakeChutes, http: httpx.Client) -> None:
    """``cold_for`` on a chute not added yet makes it exist, cold."""
    fake.cold_for(CHUTE, 10)
    assert quick(http).hot is False


def test_client_sees_cold_chute_as_service_unavailable(fake: FakeChutes) -> None:
    """The client raises ``ServiceUnavailableError`` with the platform's cold detail."""
    fake.add_chute(CHUTE, hot=False)
    with (
        fake.client(max_retries=0) as client,
        pytest.raises(chutes.ServiceUnavailableError) as caught,
    ):
        client.chute(CHUTE).chat.completions.create(model="m", messages=CHAT["messages"])
    assert is_cold_start(caught.value.detail)


# --- the clock ------------------------------------------------------------------------------------


def test_fake_clock_moves_only_when_told() -> None:
    """A ``FakeClock`` reads the same until advanced."""
    clock = FakeClock(5)
    assert (clock(), clock()) == (5.0, 5.0)
    clock.advance(2.5)
    assert clock.now == 7.5


def test_fake_clock_sleep_advances() -> None:
    """``FakeClock.sleep`` advances instead of waiting."""
    clock = FakeClock()
    clock.sleep(3)
    assert clock() == 3.0


async def test_fake_clock_asleep_advances() -> None:
    """``FakeClock.asleep`` advances instead of waiting."""
    clock = FakeClock()
    await clock.asleep(4)
    assert clock() == 4.0


@pytest.mark.parametrize(
    "seconds", [pytest.param(-1, id="negative"), pytest.param(math.inf, id="infinite")]
)
def test_fake_clock_refuses_going_back(seconds: float) -> None:
    """A negative or infinite advance raises ``ValueError``."""
    with pytest.raises(ValueError, match="forward"):
        FakeClock().advance(seconds)


def test_default_clock_is_monotonic() -> None:
    """Without a clock, the fake's timeline follows ``time.monotonic``."""
    import time

    assert FakeChutes().clock is time.monotonic

"""Every fault ``FakeChutes`` can inject, and how both clients react to it."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest

import chutes
from chutes.testing import FakeChutes, Reply

KEY = "fault-test-secret-key"
CHUTE = "myuser/my-llm"
MODEL = "fake/model"
MESSAGES = [{"role": "user", "content": "Tell me a story."}]
REPLY = "one two three four five six seven eight"
NO_WAIT = chutes.RetryPolicy(initial_delay=0, jitter=False)


@pytest.fixture
def delays(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every retry delay either client asked for, recorded instead of slept."""
    recorded: list[float] = []

    def fake_sleep(delay: float) -> None:
        recorded.append(delay)

    async def fake_async_sleep(delay: float) -> None:
        recorded.append(delay)

    monkeypatch.setattr("chutes._runtime.Runtime.sleep", fake_sleep)
    monkeypatch.setattr("chutes._runtime.AsyncRuntime.sleep", fake_async_sleep)
    return recorded


@pytest.fixture
def fake() -> FakeChutes:
    """A fake platform whose chat chute answers a known eight-word reply."""
    fake = FakeChutes(api_key=KEY)
    fake.reply(CHUTE, REPLY)
    fake.cord(CHUTE, "/speak", lambda request: Reply(content=b"WAV", content_type="audio/wav"))
    return fake


class Caller:
    """One face for both clients, so each test runs the same steps sync and async."""

    def __init__(self, fake: FakeChutes, mode: str, **options: Any) -> None:
        self.mode = mode
        if mode == "sync":
            self.client: Any = fake.client(**options)
        else:
            self.client = fake.async_client(**options)

    async def _maybe(self, value: Any) -> Any:
        return await value if self.mode == "async" else value

    async def chat(self, **options: Any) -> str:
        """One plain chat call; the reply text."""
        reply = await self._maybe(
            self.client.chute(CHUTE).chat.completions.create(
                model=MODEL, messages=MESSAGES, **options
            )
        )
        content: str = reply.choices[0].message.content
        return content

    async def stream_text(self) -> list[str]:
        """One streamed chat call; the text pieces."""
        create = self.client.chute(CHUTE).chat.completions.create
        if self.mode == "sync":
            with create(model=MODEL, messages=MESSAGES, stream=True) as stream:
                return list(stream.iter_text())
        stream = await create(model=MODEL, messages=MESSAGES, stream=True)
        async with stream:
            return [piece async for piece in stream.iter_text()]

    async def events(self) -> list[str]:
        """One plain SSE call to the chat cord; every event's data."""
        body = {"model": MODEL, "messages": MESSAGES, "stream": True}
        opened = self.client.chute(CHUTE).stream("/v1/chat/completions", json=body)
        if self.mode == "sync":
            with opened as events:
                return [event.data for event in events]
        async with opened as events:
            return [event.data async for event in events]

    async def post(self, path: str = "/speak", **options: Any) -> Any:
        """One plain any-cord POST."""
        return await self._maybe(
            self.client.chute(CHUTE).post(path, json={"text": "hi"}, **options)
        )

    async def close(self) -> None:
        """Close the client."""
        await self._maybe(self.client.close() if self.mode == "sync" else self.client.aclose())


@pytest.fixture(params=["sync", "async"])
async def make(request: pytest.FixtureRequest, fake: FakeChutes) -> AsyncIterator[Any]:
    """Build a :class:`Caller` (sync or async) on the fake with any client options."""
    made: list[Caller] = []

    def build(**options: Any) -> Caller:
        options.setdefault("retry_policy", NO_WAIT)
        caller = Caller(fake, request.param, **options)
        made.append(caller)
        return caller

    yield build
    for caller in made:
        await caller.close()


# --- status faults --------------------------------------------------------------------


async def test_503_twice_then_success(make: Any, fake: FakeChutes, delays: list[float]) -> None:
    """Two 503s then a success: the call succeeds with two retries."""
    fake.fail_next(503, times=2)
    caller = make(max_retries=2)
    assert await caller.chat() == REPLY
    assert len(fake.requests) == 3
    assert caller.client.usage.retries == 2


async def test_503_retries_do_not_sleep_with_zero_delay(
    make: Any, fake: FakeChutes, delays: list[float]
) -> None:
    """With ``initial_delay=0`` the retries never sleep at all."""
    fake.fail_next(503, times=2)
    await make(max_retries=2).chat()
    assert len(fake.requests) == 3
    assert delays == []


async def test_503_three_times_exhausts_retries(
    make: Any, fake: FakeChutes, delays: list[float]
) -> None:
    """Three 503s with ``max_retries=2``: ``ServiceUnavailableError`` after exactly 3 requests."""
    fake.fail_next(503, times=3)
    caller = make(max_retries=2)
    with pytest.raises(chutes.ServiceUnavailableError) as caught:
        await caller.chat()
    assert caught.value.status_code == 503
    assert len(fake.requests) == 3
    assert caller.client.usage.failures == 1


async def test_fault_queue_is_consumed(make: Any, fake: FakeChutes, delays: list[float]) -> None:
    """After the injected failures are used up, calls succeed again without retries."""
    fake.fail_next(503, times=1)
    caller = make(max_retries=0)
    with pytest.raises(chutes.ServiceUnavailableError):
        await caller.chat()
    assert await caller.chat() == REPLY


async def test_429_retry_after_is_honoured(
    make: Any, fake: FakeChutes, delays: list[float]
) -> None:
    """A 429 with ``Retry-After: 1`` is retried after exactly 1.0 s (sleeps are recorded)."""
    fake.fail_next(429, retry_after=1)
    caller = make(max_retries=2, retry_policy=chutes.RetryPolicy(jitter=False))
    assert await caller.chat() == REPLY
    assert delays == [1.0]
    assert len(fake.requests) == 2


async def test_429_retry_after_beyond_cap_raises(
    make: Any, fake: FakeChutes, delays: list[float]
) -> None:
    """A 429 with ``Retry-After: 120`` (beyond the cap) raises at once with ``.retry_after``."""
    fake.fail_next(429, retry_after=120)
    caller = make(max_retries=2)
    with pytest.raises(chutes.RateLimitError) as caught:
        await caller.chat()
    assert caught.value.retry_after == 120
    assert delays == []
    assert len(fake.requests) == 1


async def test_429_message_is_platform_detail(
    make: Any, fake: FakeChutes, delays: list[float]
) -> None:
    """A 429's message is the fake's ``detail`` text, not the raw body."""
    fake.fail_next(429)
    with pytest.raises(chutes.RateLimitError) as caught:
        await make(max_retries=0).chat()
    assert caught.value.message == caught.value.body["detail"]
    assert "{" not in str(caught.value)


async def test_402_payment_required(make: Any, fake: FakeChutes, delays: list[float]) -> None:
    """A 402 raises ``PaymentRequiredError`` with ``.quota_reset`` and is not retried."""
    fake.fail_next(402)
    with pytest.raises(chutes.PaymentRequiredError) as caught:
        await make(max_retries=2).chat()
    assert caught.value.quota_reset == dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    assert len(fake.requests) == 1


async def test_402_custom_reset(make: Any, fake: FakeChutes, delays: list[float]) -> None:
    """A 402 with a custom detail object carries its message and reset time."""
    fake.fail_next(
        402, detail={"message": "Balance too low.", "quota_reset_timestamp": "2031-05-06T07:08:09Z"}
    )
    with pytest.raises(chutes.PaymentRequiredError, match=r"^Balance too low\. \(POST ") as caught:
        await make(max_retries=0).chat()
    assert caught.value.quota_reset == dt.datetime(2031, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        pytest.param(400, chutes.BadRequestError, id="400"),
        pytest.param(401, chutes.AuthenticationError, id="401"),
        pytest.param(403, chutes.PermissionDeniedError, id="403"),
        pytest.param(404, chutes.NotFoundError, id="404"),
        pytest.param(422, chutes.UnprocessableEntityError, id="422"),
        pytest.param(429, chutes.RateLimitError, id="429"),
        pytest.param(500, chutes.InternalServerError, id="500"),
        pytest.param(502, chutes.InternalServerError, id="502"),
        pytest.param(503, chutes.ServiceUnavailableError, id="503"),
        pytest.param(504, chutes.InternalServerError, id="504"),
    ],
)
async def test_status_maps_to_error_class(
    make: Any, fake: FakeChutes, delays: list[float], status: int, error: type[Exception]
) -> None:
    """An injected status raises exactly its error class."""
    fake.fail_next(status)
    with pytest.raises(error) as caught:
        await make(max_retries=0).chat()
    assert type(caught.value) is error
    assert caught.value.status_code == status  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("status", "retried"),
    [
        pytest.param(400, False, id="400"),
        pytest.param(404, False, id="404"),
        pytest.param(429, True, id="429"),
        pytest.param(500, True, id="500"),
        pytest.param(502, True, id="502"),
        pytest.param(503, True, id="503"),
        pytest.param(504, False, id="504"),
    ],
)
async def test_status_retried_or_not(
    make: Any, fake: FakeChutes, delays: list[float], status: int, retried: bool
) -> None:
    """One injected status is retried (then succeeds) or raised at once, per the policy."""
    fake.fail_next(status)
    caller = make(max_retries=2)
    if retried:
        assert await caller.chat() == REPLY
    else:
        with pytest.raises(chutes.APIStatusError):
            await caller.chat()
    assert len(fake.requests) == (2 if retried else 1)


async def test_504_not_retried(make: Any, fake: FakeChutes, delays: list[float]) -> None:
    """A 504 raises ``InternalServerError`` after one request, even with retries left."""
    fake.fail_next(504, times=3)
    caller = make(max_retries=2)
    with pytest.raises(chutes.InternalServerError) as caught:
        await caller.chat()
    assert caught.value.status_code == 504
    assert len(fake.requests) == 1
    assert caller.client.usage.retries == 0


async def test_custom_detail_is_message(make: Any, fake: FakeChutes, delays: list[float]) -> None:
    """``fail_next(..., detail=...)`` sets the error's message."""
    fake.fail_next(400, detail="messages[0] is malformed")
    with pytest.raises(chutes.BadRequestError) as caught:
        await make().chat()
    assert caught.value.message == "messages[0] is malformed"
    assert caught.value.detail == "messages[0] is malformed"


# --- faults on any-cord calls ------------------------------------------------------------


async def test_fault_applies_to_cord_post(make: Any, fake: FakeChutes, delays: list[float]) -> None:
    """An injected 503 answers a plain ``chute.post`` to a custom cord."""
    fake.fail_next(503)
    with pytest.raises(chutes.ServiceUnavailableError):
        await make(max_retries=0).post()
    assert fake.requests[-1].path == "/speak"


async def test_cord_post_retried_after_fault(
    make: Any, fake: FakeChutes, delays: list[float]
) -> None:
    """A plain ``chute.post`` is retried past injected 503s and gets the cord's answer."""
    fake.fail_next(503, times=2)
    caller = make(max_retries=2)
    resp = await caller.post()
    assert (resp.content_type, resp.content) == ("audio/wav", b"WAV")
    assert caller.client.usage.retries == 2


async def test_cord_post_retry_after(make: Any, fake: FakeChutes, delays: list[float]) -> None:
    """A plain ``chute.post`` honours the injected ``Retry-After``."""
    fake.fail_next(429, retry_after=2.5)
    await make(max_retries=1, retry_policy=chutes.RetryPolicy(jitter=False)).post()
    assert delays == [2.5]


async def test_fault_applies_to_generate(make: Any, fake: FakeChutes, delays: list[float]) -> None:
    """An injected 500 answers the built-in ``/generate`` cord."""
    fake.fail_next(500)
    with pytest.raises(chutes.InternalServerError):
        await make(max_retries=0).post("/generate")


async def test_stream_retried_before_first_event(
    make: Any, fake: FakeChutes, delays: list[float]
) -> None:
    """A stream whose request got 503 is retried, and then streams normally."""
    fake.fail_next(503)
    caller = make(max_retries=1)
    assert "".join(await caller.stream_text()) == REPLY
    assert caller.client.usage.retries == 1


# --- stream faults ----------------------------------------------------------------------


async def test_cut_stream_raises_stream_error(
    make: Any, fake: FakeChutes, delays: list[float]
) -> None:
    """A stream cut after 3 events raises ``StreamError``."""
    fake.cut_next_stream(after_events=3)
    with pytest.raises(chutes.StreamError):
        await make().stream_text()


async def test_cut_stream_partial_text(make: Any, fake: FakeChutes, delays: list[float]) -> None:
    """The ``StreamError`` of a stream cut after 3 events holds those 3 events' text."""
    fake.cut_next_stream(after_events=3)
    with pytest.raises(chutes.StreamError) as caught:
        await make().stream_text()
    assert caught.value.partial_text == "one two three"


async def test_cut_stream_not_retried(make: Any, fake: FakeChutes, delays: list[float]) -> None:
    """A stream cut after events reached the caller is not retried."""
    fake.cut_next_stream(after_events=3)
    caller = make(max_retries=2)
    with pytest.raises(chutes.StreamError):
        await caller.stream_text()
    assert len(fake.requests) == 1
    assert caller.client.usage.failures == 1


async def test_cut_stream_before_any_event(
    make: Any, fake: FakeChutes, delays: list[float]
) -> None:
    """A stream cut before any event raises ``StreamError`` with no partial text."""
    fake.cut_next_stream(after_events=0)
    with pytest.raises(chutes.StreamError) as caught:
        await make(max_retries=0).stream_text()
    assert caught.value.partial_text == ""


async def test_stream_after_cut_is_whole(make: Any, fake: FakeChutes, delays: list[float]) -> None:
    """Only the next stream is cut; the one after it is complete."""
    fake.cut_next_stream(after_events=3)
    caller = make()
    with pytest.raises(chutes.StreamError):
        await caller.stream_text()
    assert "".join(await caller.stream_text()) == REPLY


async def test_error_line_raises_with_message(
    make: Any, fake: FakeChutes, delays: list[float]
) -> None:
    """The raw ``{"error": "boom"}`` line raises ``StreamError("boom")``."""
    fake.error_next_stream("boom", after_events=2)
    with pytest.raises(chutes.StreamError) as caught:
        await make().stream_text()
    assert str(caught.value) == "boom"
    assert caught.value.detail == "boom"


async def test_error_line_partial_text(make: Any, fake: FakeChutes, delays: list[float]) -> None:
    """The ``StreamError`` of the raw error line holds the text of the 2 events before it."""
    fake.error_next_stream("boom", after_events=2)
    with pytest.raises(chutes.StreamError) as caught:
        await make().stream_text()
    assert caught.value.partial_text == "one two"


async def test_error_line_not_retried(make: Any, fake: FakeChutes, delays: list[float]) -> None:
    """A stream that failed with the raw error line is not retried."""
    fake.error_next_stream("boom", after_events=2)
    with pytest.raises(chutes.StreamError):
        await make(max_retries=2).stream_text()
    assert len(fake.requests) == 1


async def test_error_line_on_plain_event_stream(
    make: Any, fake: FakeChutes, delays: list[float]
) -> None:
    """The raw error line also raises ``StreamError("boom")`` on a plain ``chute.stream``."""
    fake.error_next_stream("boom", after_events=2)
    with pytest.raises(chutes.StreamError, match=r"^boom$"):
        await make().events()


async def test_cut_plain_event_stream_delivers_events_sent(
    make: Any, fake: FakeChutes, delays: list[float]
) -> None:
    """A cut plain SSE stream delivers exactly the events sent, and no ``[DONE]``."""
    fake.cut_next_stream(after_events=3)
    datas = await make().events()
    assert len(datas) == 3
    assert "[DONE]" not in datas

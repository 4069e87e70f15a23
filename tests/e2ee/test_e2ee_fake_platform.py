"""The fake platform serves end-to-end encrypted calls, with real ML-KEM keys, so users can
test their E2EE code offline; and it answers the E2EE routes as the platform does."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from e2ee_server import API_KEY, E2EEServer

import chutes
from chutes.testing import FakeChutes

KEY = "fake-e2ee-key"
SECRET = "the launch code is 0000"
MESSAGES = [{"role": "user", "content": SECRET}]


@pytest.fixture
def fake() -> FakeChutes:
    """A fake with one LLM chute, served on the gateway as ``acme/model``."""
    fake = FakeChutes(api_key=KEY)
    fake.add_chute("me/llm")
    fake.add_model("acme/model", chute="me/llm")
    return fake


def invoke_requests(fake: FakeChutes) -> list[Any]:
    """The encrypted requests the fake received."""
    return [r for r in fake.requests if r.url.endswith("/e2e/invoke")]


def test_a_chute_call_is_encrypted_and_recorded_twice(fake: FakeChutes) -> None:
    """The call goes to /e2e/invoke as ciphertext; the fake records it, then the call the
    instance decrypted (the prompt is only in the second)."""
    with fake.client(e2ee=True) as client:
        reply = client.chute("me/llm").chat.completions.create(messages=MESSAGES)
    assert reply.choices[0].message.content == f"You said: {SECRET}."
    instances, sealed, plain = fake.requests
    assert instances.method == "GET"
    assert "/e2e/instances/" in instances.url
    assert sealed.url == "https://api.chutes.ai/e2e/invoke"
    assert sealed.headers["content-type"] == "application/octet-stream"
    assert SECRET.encode() not in sealed.content
    assert plain.url == "https://me-llm.chutes.ai/v1/chat/completions"
    assert plain.json["messages"] == MESSAGES
    assert "e2e_response_pk" not in plain.json


async def test_the_gateway_stream_async(fake: FakeChutes) -> None:
    """On the gateway the body's model names the chute; a stream decrypts piece by piece."""
    async with fake.async_client(e2ee=True) as client:
        stream = await client.llm.chat.completions.create(
            model="acme/model", messages=MESSAGES, stream=True
        )
        async with stream:
            text = "".join([piece async for piece in stream.iter_text()])
        assert stream.usage is not None
    assert text == f"You said: {SECRET}."
    (sealed,) = invoke_requests(fake)
    assert sealed.headers["x-e2e-stream"] == "true"
    assert sealed.headers["x-chute-id"] == chutes.chute_id("me/llm")


def test_nonces_are_reused(fake: FakeChutes) -> None:
    """Five calls fetch the instances once."""
    with fake.client(e2ee=True) as client:
        for _ in range(5):
            client.chute("me/llm").chat.completions.create(messages=MESSAGES)
    assert fake.e2ee("me/llm").fetches == 1


def test_a_retired_instance_and_an_old_one(fake: FakeChutes) -> None:
    """Scripted through ``fake.e2ee()``: a retired instance answers 410 (the call moves to
    the other), and an old one 400 for a plain call (sent again as a stream)."""
    instances = fake.e2ee("me/llm")
    first, second = instances.instance_ids
    instances.retire(first)
    instances.make_legacy(second)
    with fake.client(e2ee=True) as client:
        reply = client.chute("me/llm").chat.completions.create(messages=MESSAGES)
    assert reply.choices[0].message.content == f"You said: {SECRET}."
    assert [r.headers["x-e2e-stream"] for r in invoke_requests(fake)] == ["false", "true"]


def test_a_cold_chute_has_no_e2ee_instance(fake: FakeChutes) -> None:
    """The instances route of a cold chute answers 404, which the client says plainly."""
    fake.add_chute("me/cold", hot=False, warmup_after=60)
    with fake.client(e2ee=True) as client, pytest.raises(chutes.E2EEError, match="no E2E"):
        client.chute("me/cold").chat.completions.create(messages=MESSAGES)


def test_a_stream_fault_reaches_the_decrypted_stream(fake: FakeChutes) -> None:
    """``cut_next_stream`` cuts the chute's stream inside the encryption: the client sees a
    stream cut short, as in the clear."""
    fake.cut_next_stream(after_events=2)
    with fake.client(e2ee=True) as client:
        stream = client.chute("me/llm").chat.completions.create(messages=MESSAGES, stream=True)
        with pytest.raises(chutes.StreamError, match="before it was complete"), stream:
            stream.collect()


def test_e2ee_needs_a_named_chute() -> None:
    """``fake.e2ee()`` of a bare URL is refused: the platform encrypts for chutes it knows."""
    fake = FakeChutes(api_key=KEY)
    with pytest.raises(chutes.ConfigurationError, match="name or id"):
        fake.e2ee("https://example.com")


# --- held to the platform: the same raw requests, the same answers -----------------------------


def raw_answers(http: httpx.Client, base: str, chute: str) -> list[tuple[int, Any]]:
    """Answers of the E2EE routes to requests no client would send: an unknown chute, an
    invoke without its headers, a nonce never issued, and the shape of a good answer."""
    out: list[tuple[int, Any]] = []
    missing = http.get(f"{base}/e2e/instances/00000000-0000-4000-8000-000000000000")
    out.append((missing.status_code, None))
    good = http.get(f"{base}/e2e/instances/{chute}")
    data = good.json()
    out.append(
        (
            good.status_code,
            (
                sorted(data),
                sorted(data["instances"][0]),
                len(data["instances"][0]["nonces"]),
                data["nonce_expires_in"],
            ),
        )
    )
    bare = http.post(f"{base}/e2e/invoke", content=b"x")
    out.append((bare.status_code, None))
    instance = data["instances"][0]["instance_id"]
    forged = http.post(
        f"{base}/e2e/invoke",
        content=b"x" * 2000,
        headers={
            "X-Chute-Id": chute,
            "X-Instance-Id": instance,
            "X-E2E-Nonce": "never-issued",
            "X-E2E-Stream": "false",
            "X-E2E-Path": "/v1/chat/completions",
            "Content-Type": "application/octet-stream",
        },
    )
    out.append((forged.status_code, json.loads(forged.content)["detail"]))
    return out


def test_the_fake_answers_the_e2ee_routes_like_the_platform_server(
    e2ee_server: E2EEServer,
) -> None:
    """The fake and the 127.0.0.1 platform (written from PLATFORM.md) answer the same raw
    requests with the same statuses, shapes and nonce refusal."""
    fake = FakeChutes(api_key=API_KEY)
    chute = fake.add_chute("me/llm", instances=5)
    assert chute is not None
    auth = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(transport=fake, headers=auth) as http:
        from_fake = raw_answers(http, "https://api.chutes.ai", chute)
    with httpx.Client(headers=auth) as http:
        from_server = raw_answers(http, e2ee_server.url, e2ee_server.chute_id)
    assert from_fake == from_server
    assert from_fake[3] == (403, "Invalid, expired, or already-used nonce")

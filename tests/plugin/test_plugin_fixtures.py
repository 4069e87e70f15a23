"""The pytest plugin shipped in ``chutes.testing`` provides wired-together fixtures."""

from __future__ import annotations

import pytest

import chutes
import chutes.testing.pytest_plugin
from chutes.testing import FakeChutes

MESSAGES = [{"role": "user", "content": "Hello plugin."}]


def test_plugin_is_registered_by_entry_point(pytestconfig: pytest.Config) -> None:
    """The ``pytest11`` entry point registers ``chutes.testing.pytest_plugin`` as "chutes"."""
    assert pytestconfig.pluginmanager.get_plugin("chutes") is chutes.testing.pytest_plugin


def test_fake_chutes_fixture_is_a_fake(fake_chutes: FakeChutes) -> None:
    """``fake_chutes`` is a fresh ``FakeChutes`` accepting the key ``test-key``."""
    assert isinstance(fake_chutes, FakeChutes)
    assert fake_chutes.api_key == "test-key"
    assert fake_chutes.requests == []


def test_chutes_client_fixture_is_a_client(chutes_client: chutes.Client) -> None:
    """``chutes_client`` is an open blocking ``chutes.Client``."""
    assert isinstance(chutes_client, chutes.Client)
    assert not chutes_client.is_closed


def test_chutes_client_calls_reach_fake(
    fake_chutes: FakeChutes, chutes_client: chutes.Client
) -> None:
    """A call through ``chutes_client`` shows up in ``fake_chutes.requests``."""
    fake_chutes.add_chute("me/llm")
    chutes_client.chute("me/llm").chat.completions.create(model="m", messages=MESSAGES)
    (recorded,) = fake_chutes.requests
    assert recorded.chute == "https://me-llm.chutes.ai"
    assert recorded.json["messages"] == MESSAGES


def test_chutes_client_sees_fake_configuration(
    fake_chutes: FakeChutes, chutes_client: chutes.Client
) -> None:
    """A reply set on ``fake_chutes`` is what ``chutes_client`` receives."""
    fake_chutes.reply("me/llm", "Configured reply.")
    reply = chutes_client.chute("me/llm").chat.completions.create(model="m", messages=MESSAGES)
    assert reply.choices[0].message.content == "Configured reply."


def test_fake_chutes_fixture_is_strict(chutes_client: chutes.Client) -> None:
    """``fake_chutes`` is strict like the platform: a chute nobody added answers 404."""
    with pytest.raises(chutes.NotFoundError, match="No matching chute found!"):
        chutes_client.chute("me/llm").chat.completions.create(model="m", messages=MESSAGES)


def test_chutes_client_sees_fake_faults(
    fake_chutes: FakeChutes, chutes_client: chutes.Client
) -> None:
    """A fault injected on ``fake_chutes`` reaches ``chutes_client``."""
    fake_chutes.fail_next(400)
    with pytest.raises(chutes.BadRequestError):
        chutes_client.chute("me/llm").chat.completions.create(model="m", messages=MESSAGES)


async def test_async_chutes_client_is_an_async_client(
    async_chutes_client: chutes.AsyncClient,
) -> None:
    """``async_chutes_client`` is an open ``chutes.AsyncClient``."""
    assert isinstance(async_chutes_client, chutes.AsyncClient)
    assert not async_chutes_client.is_closed


async def test_async_chutes_client_calls_reach_fake(
    fake_chutes: FakeChutes, async_chutes_client: chutes.AsyncClient
) -> None:
    """A call through ``async_chutes_client`` shows up in ``fake_chutes.requests``."""
    fake_chutes.reply("me/llm", "Async reply.")
    reply = await async_chutes_client.chute("me/llm").chat.completions.create(
        model="m", messages=MESSAGES
    )
    assert reply.choices[0].message.content == "Async reply."
    (recorded,) = fake_chutes.requests
    assert recorded.headers["authorization"] == "***"


async def test_both_clients_share_one_fake(
    fake_chutes: FakeChutes,
    chutes_client: chutes.Client,
    async_chutes_client: chutes.AsyncClient,
) -> None:
    """``chutes_client`` and ``async_chutes_client`` talk to the same ``fake_chutes``."""
    fake_chutes.add_chute("me/llm")
    fake_chutes.add_chute("me/other")
    chutes_client.chute("me/llm").chat.completions.create(model="m", messages=MESSAGES)
    await async_chutes_client.chute("me/other").chat.completions.create(
        model="m", messages=MESSAGES
    )
    assert [r.chute for r in fake_chutes.requests] == [
        "https://me-llm.chutes.ai",
        "https://me-other.chutes.ai",
    ]
